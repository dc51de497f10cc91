//! Which MX hosts may take the message, and how their certificates are checked: DANE
//! (RFC 7672) from validated TLSA records, an MTA-STS policy (RFC 8461) of the
//! recipient domain, and the rules for a message flagged REQUIRETLS (RFC 8689). What
//! these decide for one host is a [`Check`] for its session, or why it is not used.

use std::sync::Arc;

use hickory_proto::rr::RecordType;

use super::dane::{DaneVerifier, Tlsa};
use super::route::{self, Answer, Candidate, Dns};
use super::{DomainRun, SenderDeviation, Trust, domain_of, sts};

impl DomainRun<'_> {
    /// The domain's MTA-STS policy, said in its route's report; `None` when there is
    /// none (or the client does not look).
    pub(super) async fn mta_sts(&mut self, domain: &str, dns: Option<&Dns>) -> Option<sts::Policy> {
        let (Some(dns), Some(fetch)) = (dns, self.options.mta_sts.as_ref()) else {
            return None;
        };
        if self.options.deviations.contains(&SenderDeviation::NoMtaSts) {
            return None;
        }
        let deviating = |d| self.options.deviations.contains(&d);
        let mut fetch = fetch.clone();
        fetch.verify &= !deviating(SenderDeviation::StsUnverifiedFetch);
        fetch.check_txt &= !deviating(SenderDeviation::StsStalePolicy);
        fetch.keep_cached &= !deviating(SenderDeviation::StsForgetsPolicy);
        let found = sts::discover(domain, dns, &fetch, &self.options.sts_cache).await;
        let said = match &found {
            Ok((p, from)) => format!("MTA-STS policy, {from}: {}", p.describe()),
            Err(why) => format!("no MTA-STS policy: {why}"),
        };
        if let Some(route) = self.round.routes.last_mut() {
            route.policy = Some(said);
        }
        found.ok().map(|(p, _)| p)
    }

    /// What an `enforce` policy asks of MX host `candidate` (RFC 8461 §4): to be one
    /// the policy lists (else `Err`, the host is not used), and a certificate valid for
    /// its name.
    pub(super) fn enforced(&self, policy: Option<&sts::Policy>, candidate: &Candidate) -> Usable {
        let (Some(policy), Some(fetch)) = (policy, self.options.mta_sts.as_ref()) else {
            return Usable::Yes(Check::None);
        };
        if policy.mode != sts::Mode::Enforce {
            return Usable::Yes(Check::None);
        }
        let any_mx = self.options.deviations.contains(&SenderDeviation::StsAnyMx);
        if !any_mx && !policy.allows(&candidate.host) {
            return Usable::No(format!(
                "MTA-STS (RFC 8461 §4.1): {} matches no mx of the enforced policy ({}): not used",
                candidate.host,
                policy.mx.join(" ")
            ));
        }
        Usable::Yes(Check::Pkix(Trust {
            roots: Arc::clone(&fetch.roots),
            name: Some(route::canonical(&candidate.host)),
        }))
    }

    /// Whether the message is flagged REQUIRETLS (and the client honours it).
    pub(super) fn requires_tls(&self) -> bool {
        self.options.client.requiretls
            && !self
                .options
                .deviations
                .contains(&SenderDeviation::RequireTlsDowngrade)
    }

    /// What RFC 8689 §4.2.1 asks before a REQUIRETLS message goes to `candidate`: a
    /// host found securely (validated DNS, or an MTA-STS policy that lists it) and a
    /// certificate checked for its name (DANE, or roots). The server must then offer
    /// REQUIRETLS over TLS, which the session checks.
    pub(super) fn requiretls(
        &self,
        check: Check,
        candidate: &Candidate,
        dns: Option<&Dns>,
    ) -> Usable {
        if !self.requires_tls() || !matches!(check, Check::None) {
            return Usable::Yes(check);
        }
        // §4.2.1 step 2: a validated MX answer (the certificate check below then
        // ties the host's name to the server, whatever its address records).
        let secure = dns.is_some_and(|d| {
            candidate.preference.is_some() && d.signed(&self.domain(), RecordType::MX)
        });
        if !secure {
            return Usable::No(format!(
                "REQUIRETLS (RFC 8689 §4.2.1): {} was found neither by validated DNS \
                 (DNSSEC) nor under an enforced MTA-STS policy: not used",
                candidate.host
            ));
        }
        let roots = self
            .options
            .mta_sts
            .as_ref()
            .map(|f| Arc::clone(&f.roots))
            .or_else(|| self.options.trust.as_ref().map(|t| Arc::clone(&t.roots)));
        match roots {
            Some(roots) => Usable::Yes(Check::Pkix(Trust {
                roots,
                name: Some(route::canonical(&candidate.host)),
            })),
            None => Usable::No(format!(
                "REQUIRETLS (RFC 8689 §4.2.1): no roots to check the certificate of {} \
                 against (--ca): not used",
                candidate.host
            )),
        }
    }

    /// The recipient domain of this run's recipients.
    pub(super) fn domain(&self) -> String {
        self.members
            .first()
            .map(|&i| domain_of(&self.pending[i].to))
            .unwrap_or_default()
    }

    /// The DANE check an MX host stands under (RFC 7672 §2.2): none unless its MX
    /// answer (or, for a domain without MX, the domain's own address records), its
    /// addresses and its TLSA records all came validated and one record is usable; the
    /// host is not used when its TLSA records could not be had.
    pub(super) async fn dane(&self, candidate: &Candidate, dns: Option<&Dns>) -> Dane {
        let Some(dns) = dns else { return Dane::Off };
        if self.options.deviations.contains(&SenderDeviation::NoDane) {
            return Dane::Off;
        }
        let domain = self.domain();
        let found_securely = match candidate.preference {
            // An MX host: the MX answer and its addresses validated (§2.2.1).
            Some(_) => {
                dns.signed(&domain, RecordType::MX) && dns.signed(&candidate.host, RecordType::A)
            }
            // No MX: the domain is its own server, and its addresses must be validated
            // (§2.2.2).
            None => {
                route::canonical(&candidate.host) == domain
                    && dns.signed(&candidate.host, RecordType::A)
            }
        };
        if !found_securely {
            return Dane::Off;
        }
        let deviating = |d| self.options.deviations.contains(&d);
        match dns.tlsa(&candidate.host).await {
            Answer::Records((mut records, secure))
                if secure || deviating(SenderDeviation::DaneInsecure) =>
            {
                if deviating(SenderDeviation::DanePkix) {
                    for r in &mut records {
                        r.usage = match r.usage {
                            0 => 2,
                            1 => 3,
                            u => u,
                        };
                    }
                }
                if records.iter().any(Tlsa::usable) {
                    Dane::Check(Arc::new(DaneVerifier::new(records, &candidate.host)))
                } else {
                    Dane::Off
                }
            }
            Answer::Temporary(why) => Dane::Lost(format!(
                "the TLSA lookup of a DANE host failed: {why} (RFC 7672 §2.2: not used)"
            )),
            _ => Dane::Off,
        }
    }
}

/// Whether an MX host may be used, and how.
pub(super) enum Usable {
    /// It may, with its certificate checked so.
    Yes(Check),
    /// It may not (an enforced policy does not list it, RFC 8461 §4.1; a REQUIRETLS
    /// message cannot go to it, RFC 8689 §4.2.1): why, for the report.
    No(String),
}

/// How an MX host's certificate is checked.
#[derive(Clone)]
pub(super) enum Check {
    /// As the client's own settings say.
    None,
    /// By its secure TLSA records (RFC 7672).
    Dane(Arc<DaneVerifier>),
    /// By the roots, for its name, TLS required (an MTA-STS `enforce` policy).
    Pkix(Trust),
}

/// What DANE asks of one MX host.
pub(super) enum Dane {
    /// Nothing: no validated, usable TLSA records (TLS as the client's policy says).
    Off,
    /// TLS, and a certificate this verifier accepts.
    Check(Arc<DaneVerifier>),
    /// Its TLSA records could not be had: the host is not used.
    Lost(String),
}
