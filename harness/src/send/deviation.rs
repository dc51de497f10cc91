//! Named ways for the reference client to misbehave, the sender's counterpart of the
//! reference server's deviations: each models a mistake real MTAs have made, and the
//! self-test proves that some delivery case catches every one of them (a case that no
//! broken sender fails would be a case that cannot fail).

use std::fmt;

/// One misbehaviour of the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SenderDeviation {
    /// Try MX hosts in the order the DNS listed them, not by preference.
    IgnorePreference,
    /// Never shuffle equal preferences.
    NoShuffle,
    /// Treat a null MX as "no MX" and use the domain's address (RFC 7505 §4 forbids it).
    NullMxAsImplicit,
    /// When no MX host has an address, fall back to the domain's own A record.
    AddressFallback,
    /// Bounce on SERVFAIL, REFUSED and DNS timeouts instead of queueing.
    DnsErrorsPermanent,
    /// Queue a domain that does not exist instead of bouncing it.
    NxdomainTemporary,
    /// Give up after the first host.
    FirstHostOnly,
    /// Ignore the self-MX rule.
    NoSelfPrune,
    /// Offer a recipient refused with 5xx to the next host too.
    RetryPermanent,
    /// Treat a 552 to RCPT as permanent.
    Rcpt552Permanent,
    /// Treat a 4xx after the data as a bounce.
    TemporaryAsPermanent,
    /// Never retry in a later round.
    NoRetry,
    /// Pass the content's bare CR and LF on as they are.
    BareLineEnds,
    /// Connect to an MX exchange written like an IP address instead of looking it up.
    NumericMxAsAddress,
    /// Drop NUL octets from the content after dot-stuffing it.
    StripNulAfterStuffing,
    /// Never look for TLSA records: TLS stays opportunistic under DANE.
    NoDane,
    /// Use TLSA records the resolver did not validate.
    DaneInsecure,
    /// Take TLSA records of the PKIX usages (0, 1) as DANE-TA and DANE-EE.
    DanePkix,
    /// Never look for MTA-STS policies.
    NoMtaSts,
    /// Under an enforced MTA-STS policy, use MX hosts the policy does not list.
    StsAnyMx,
    /// Fetch MTA-STS policies without checking the policy host's certificate.
    StsUnverifiedFetch,
    /// Send a REQUIRETLS message like any other: any host, TLS opportunistic, the
    /// flag dropped.
    RequireTlsDowngrade,
    /// Use a cached MTA-STS policy until it expires without looking at the TXT record.
    StsStalePolicy,
    /// Drop a cached MTA-STS policy when the TXT record or the policy cannot be had.
    StsForgetsPolicy,
    /// Take an MX lookup that failed (SERVFAIL, a timeout, an answer it cannot read)
    /// for "no MX records" and use the domain's own address.
    MxFailureAsNone,
}

impl SenderDeviation {
    /// Every deviation.
    pub const ALL: [Self; 25] = [
        Self::IgnorePreference,
        Self::NoShuffle,
        Self::NullMxAsImplicit,
        Self::AddressFallback,
        Self::DnsErrorsPermanent,
        Self::NxdomainTemporary,
        Self::FirstHostOnly,
        Self::NoSelfPrune,
        Self::RetryPermanent,
        Self::Rcpt552Permanent,
        Self::TemporaryAsPermanent,
        Self::NoRetry,
        Self::BareLineEnds,
        Self::NumericMxAsAddress,
        Self::StripNulAfterStuffing,
        Self::NoDane,
        Self::DaneInsecure,
        Self::DanePkix,
        Self::NoMtaSts,
        Self::StsAnyMx,
        Self::StsUnverifiedFetch,
        Self::RequireTlsDowngrade,
        Self::StsStalePolicy,
        Self::StsForgetsPolicy,
        Self::MxFailureAsNone,
    ];

    /// The name on the command line: `sender-` and kebab case.
    pub fn name(self) -> &'static str {
        match self {
            Self::IgnorePreference => "sender-ignore-preference",
            Self::NoShuffle => "sender-no-shuffle",
            Self::NullMxAsImplicit => "sender-null-mx-as-implicit",
            Self::AddressFallback => "sender-address-fallback",
            Self::DnsErrorsPermanent => "sender-dns-errors-permanent",
            Self::NxdomainTemporary => "sender-nxdomain-temporary",
            Self::FirstHostOnly => "sender-first-host-only",
            Self::NoSelfPrune => "sender-no-self-prune",
            Self::RetryPermanent => "sender-retry-permanent",
            Self::Rcpt552Permanent => "sender-rcpt-552-permanent",
            Self::TemporaryAsPermanent => "sender-temporary-as-permanent",
            Self::NoRetry => "sender-no-retry",
            Self::BareLineEnds => "sender-bare-line-ends",
            Self::NumericMxAsAddress => "sender-numeric-mx-as-address",
            Self::StripNulAfterStuffing => "sender-strip-nul-after-stuffing",
            Self::NoDane => "sender-no-dane",
            Self::DaneInsecure => "sender-dane-insecure",
            Self::DanePkix => "sender-dane-pkix",
            Self::NoMtaSts => "sender-no-mta-sts",
            Self::StsAnyMx => "sender-sts-any-mx",
            Self::StsUnverifiedFetch => "sender-sts-unverified-fetch",
            Self::RequireTlsDowngrade => "sender-requiretls-downgrade",
            Self::StsStalePolicy => "sender-sts-stale-policy",
            Self::StsForgetsPolicy => "sender-sts-forgets-policy",
            Self::MxFailureAsNone => "sender-mx-failure-as-none",
        }
    }

    /// One sentence for `--list-deviations`.
    pub fn description(self) -> &'static str {
        match self {
            Self::IgnorePreference => {
                "tries MX hosts in DNS order, not by preference (RFC 5321 §5.1)"
            }
            Self::NoShuffle => "never randomises equal MX preferences (RFC 5321 §5.1)",
            Self::NullMxAsImplicit => {
                "ignores a null MX and delivers to the A record (RFC 7505 §4)"
            }
            Self::AddressFallback => {
                "uses the domain's A record when no MX host works (RFC 5321 §5.1)"
            }
            Self::DnsErrorsPermanent => {
                "bounces on SERVFAIL and DNS timeouts (RFC 5321 §5.1: queue them)"
            }
            Self::NxdomainTemporary => {
                "queues mail for a domain that does not exist (RFC 5321 §5.1)"
            }
            Self::FirstHostOnly => "gives up after the first MX host (RFC 5321 §5.1)",
            Self::NoSelfPrune => "ignores its own name in the MX list (RFC 5321 §5.1)",
            Self::RetryPermanent => {
                "offers a recipient refused with 5xx to the next host (RFC 5321 §4.2.1)"
            }
            Self::Rcpt552Permanent => "bounces a 552 to RCPT (RFC 5321 §4.5.3.1.10: temporary)",
            Self::TemporaryAsPermanent => "bounces a 4xx after the data (RFC 5321 §4.2.1)",
            Self::NoRetry => "drops deferred mail instead of retrying later (RFC 5321 §4.5.4.1)",
            Self::BareLineEnds => {
                "passes bare CR and LF in the content on as they are (RFC 5321 §2.3.8)"
            }
            Self::NumericMxAsAddress => {
                "connects to an MX exchange written like an IP address (RFC 5321 §5.1)"
            }
            Self::StripNulAfterStuffing => {
                "drops NUL from the content after dot-stuffing: <CRLF><NUL>.<CRLF> ends the \
                 data (RFC 5321 §4.1.1.4)"
            }
            Self::NoDane => {
                "ignores secure TLSA records: delivers in the clear or to any certificate \
                 (RFC 7672 §2.2)"
            }
            Self::DaneInsecure => {
                "uses TLSA records that were not validated (RFC 7672 §2.2: insecure ones are \
                 not used)"
            }
            Self::DanePkix => {
                "takes PKIX-TA and PKIX-EE records for DANE-TA and DANE-EE (RFC 7672 §3.1.3: \
                 unusable for SMTP)"
            }
            Self::NoMtaSts => {
                "ignores MTA-STS policies: delivers in the clear or to any certificate under \
                 enforce (RFC 8461 §5)"
            }
            Self::StsAnyMx => {
                "uses MX hosts an enforced MTA-STS policy does not list (RFC 8461 §4.1)"
            }
            Self::StsUnverifiedFetch => {
                "fetches MTA-STS policies from a host whose certificate it does not check \
                 (RFC 8461 §3.3)"
            }
            Self::RequireTlsDowngrade => {
                "sends a REQUIRETLS message to any host, TLS or not, and drops the flag \
                 (RFC 8689 §4.2.1)"
            }
            Self::StsStalePolicy => {
                "keeps using a cached MTA-STS policy without looking for a new policy id \
                 (RFC 8461 §3.1, §5.1)"
            }
            Self::StsForgetsPolicy => {
                "drops a cached MTA-STS policy as soon as its TXT record or policy host is \
                 gone (RFC 8461 §3.3: a valid cached policy still applies)"
            }
            Self::MxFailureAsNone => {
                "takes a failed or unreadable MX answer for no MX and delivers to the \
                 domain's address (RFC 5321 §5.1: only an empty MX list means the implicit MX)"
            }
        }
    }

    /// The deviation called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for SenderDeviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
