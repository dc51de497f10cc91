//! Delivery cases: the sender is under test. A case declares DNS zones, scripted servers
//! on 127.0.0.x addresses and a message; the sender (the reference client) delivers it
//! through the fake DNS, and the case checks which hosts were tried, in what order, and
//! where the message landed (RFC 5321 §5.1, RFC 7505).
//!
//! ```yaml
//! - id: preference-order
//!   title: The lower preference is tried first; a 421 greeting moves on to the next
//!   spec: { rfc: 5321, section: "5.1", level: MUST }
//!   delivery:
//!     zones:
//!       example.test:
//!         "@": { MX: ["10 mx1", "20 mx2"] }
//!         mx1: { A: [127.0.0.2] }
//!         mx2: { A: [127.0.0.3] }
//!     servers:
//!       127.0.0.2: { greeting: 421 }
//!       127.0.0.3: accept
//!     expect:
//!       outcome: delivered
//!       tried: [127.0.0.2, 127.0.0.3]
//!       delivered_to: 127.0.0.3
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::dns::Zones;

/// The `delivery:` block of a case.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryDef {
    /// The zones the fake DNS serves (see `scenarios/zones/example.yaml`).
    pub zones: Zones,
    /// Scripted SMTP servers by IPv4 loopback address, all on one port. An address
    /// that appears in the zones but not here refuses connections.
    #[serde(default)]
    pub servers: BTreeMap<Ipv4Addr, ServerScript>,
    /// MAIL FROM [default: sender@client.smtpspec.test for the reference client; a
    /// real MTA's profile `from`]. A real MTA gets it only over SMTP (`content`), where
    /// a hostile-lookup case's domain leads to its records.
    #[serde(default)]
    pub from: Option<String>,
    /// RCPT TO, in order [default: user@ the first zone].
    #[serde(default)]
    pub to: Vec<String>,
    /// The sender's EHLO name [default: client.smtpspec.test]; an MX with this name is
    /// "this host" for the self-MX rule.
    #[serde(default)]
    pub helo: Option<String>,
    /// Deliver this many times, each with its own shuffle, to measure how equal
    /// preferences are spread (1..=1000).
    #[serde(default = "one")]
    pub runs: u32,
    /// Rounds of retries inside one delivery (1 = no retry).
    #[serde(default = "one")]
    pub rounds: u32,
    /// The message to hand over, as octets written with escapes (`\r`, `\n`, `\0`,
    /// `\xHH`) [default: a one-line message]. A relay case puts a non-standard end of
    /// data or a bare line end in it. A real MTA gets it over SMTP as an attacker would
    /// send it (the sender profile's `submit` address), written as it is and followed
    /// by `\r\n.\r\n`; the reference client gets it as the message to send.
    #[serde(default)]
    pub content: Option<String>,
    /// The address a real MTA sees the handover come from [default: 127.0.0.1]: one
    /// whose reverse zone (`0.0.127.in-addr.arpa`) the case serves, for an MTA that
    /// looks its clients up (127.0.0.1 itself is answered from /etc/hosts), or
    /// 192.0.2.66, which the peer scripts' namespaces hold: not loopback, so that an
    /// SPF library that passes every loopback client (libspf2) reads the record.
    #[serde(default)]
    pub source: Option<Ipv4Addr>,
    /// An MTA-STS policy host (RFC 8461 §3.3): HTTPS on the given address, port 443
    /// for a real MTA. The zones must give `mta-sts.<domain>` that address and
    /// `_mta-sts.<domain>` its TXT record; both are data of the case.
    #[serde(default)]
    pub mta_sts: Option<PolicyHostDef>,
    /// The message is flagged REQUIRETLS (RFC 8689): it may go only to an MX host found
    /// securely (DNSSEC or an MTA-STS policy), over TLS with a certificate checked for
    /// that host, and only to a server that offers REQUIRETLS, with the parameter on
    /// MAIL. A real MTA gets it over SMTP at the profile's `submit` address with
    /// `REQUIRETLS` on MAIL.
    #[serde(default)]
    pub requiretls: bool,
    /// A delivery before the judged one, under its own zones, servers and policy
    /// host, to leave state in the sender (an MTA-STS policy in its cache, RFC 8461
    /// §3.3, §5.1): it must arrive, and is not judged otherwise.
    #[serde(default)]
    pub before: Option<Box<Before>>,
    /// What must have happened.
    pub expect: DeliveryExpect,
}

/// The `before:` block: the world of the first delivery. The message, its envelope
/// and REQUIRETLS are the case's.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Before {
    /// The zones the fake DNS serves for it.
    pub zones: Zones,
    /// Its scripted servers.
    #[serde(default)]
    pub servers: BTreeMap<Ipv4Addr, ServerScript>,
    /// Its MTA-STS policy host.
    #[serde(default)]
    pub mta_sts: Option<PolicyHostDef>,
    /// How long to wait after it, before the judged delivery (e.g. `2s`, for a
    /// policy's `max_age` to run out) [0s].
    #[serde(default)]
    pub wait: Option<String>,
}

impl DeliveryDef {
    /// The first delivery of a case with `before:`, as a case of its own that expects
    /// the message to arrive.
    pub fn primed(&self, before: &Before) -> Self {
        Self {
            zones: before.zones.clone(),
            servers: before.servers.clone(),
            mta_sts: before.mta_sts.clone(),
            before: None,
            runs: 1,
            rounds: 1,
            expect: DeliveryExpect {
                outcome: Some(Outcomes::One(Outcome::Delivered)),
                ..DeliveryExpect::default()
            },
            ..self.clone()
        }
    }
}

/// The `mta_sts:` block of a delivery case: what the policy host serves, and with
/// which certificate.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyHostDef {
    /// The address it listens on (an IPv4 loopback address, as the servers).
    pub address: Ipv4Addr,
    /// The body served at `/.well-known/mta-sts.txt` (RFC 8461 §3.2): lines of
    /// `key: value` (`version: STSv1`, `mode: enforce`, `mx: mx1.example.test`,
    /// `max_age: 86400`), sent as written.
    pub policy: String,
    /// The HTTP status of the answer [200]; anything else means no policy (§3.3).
    #[serde(default = "ok")]
    pub status: u16,
    /// The certificate of the HTTPS host [valid].
    #[serde(default)]
    pub certificate: Certificate,
}

fn ok() -> u16 {
    200
}

/// Which certificate a TLS server of a delivery case presents. All are made for the
/// run and signed by its CA, which the sender under test is told to trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Certificate {
    /// One that names every host of the case's zones.
    #[default]
    Valid,
    /// One that names none of them (`misnamed.smtpspec.test`): a sender that checks
    /// names (MTA-STS, RFC 8461 §4.2; DANE-TA, RFC 7672 §3.2.2) must refuse it.
    WrongName,
    /// The valid one's key and names, but valid in 2020 only: PKIX (MTA-STS, RFC 8461
    /// §4.2) refuses it, DANE-EE ignores its dates (RFC 7672 §3.1.1).
    Expired,
}

fn one() -> u32 {
    1
}

impl ServerScript {
    /// Whether the server offers STARTTLS.
    pub fn starttls(&self) -> bool {
        matches!(self, Self::Codes(c) if c.starttls)
    }

    /// The certificate it presents after STARTTLS.
    pub fn certificate(&self) -> Certificate {
        match self {
            Self::Codes(c) => c.certificate,
            Self::Named(_) => Certificate::Valid,
        }
    }
}

impl DeliveryDef {
    /// The content's octets, escapes decoded; `Err` holds the offset of a bad escape
    /// (the loader reports it, so a loaded case never has one).
    pub fn content_octets(&self) -> Option<Result<Vec<u8>, usize>> {
        self.content
            .as_deref()
            .map(crate::scenario::template::unescape)
    }
}

/// A scripted server: `accept`, `close` (accept the connection, then close it),
/// `silent` (accept and never speak), or the reply code to give at each stage, e.g.
/// `{ greeting: 421 }`, `{ rcpt: 451 }`, `{ message: 554 }`, and `starttls: true` to
/// offer TLS.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(untagged)]
pub enum ServerScript {
    /// `accept`, `close` or `silent`.
    Named(Named),
    /// Reply codes by stage; stages not named get the usual success.
    Codes(Codes),
}

/// By hand rather than `untagged`, so that a misspelt name gets a sentence that lists
/// the choices instead of serde's "did not match any variant".
impl<'de> Deserialize<'de> for ServerScript {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ServerScript;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("accept, close, silent, or reply codes such as { rcpt: 451 }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ServerScript, E> {
                match v {
                    "accept" => Ok(ServerScript::Named(Named::Accept)),
                    "close" => Ok(ServerScript::Named(Named::Close)),
                    "silent" => Ok(ServerScript::Named(Named::Silent)),
                    other => Err(E::custom(format!(
                        "unknown server script {other:?}: expected accept, close, silent, \
                         or reply codes such as {{ greeting: 421 }}"
                    ))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ServerScript, A::Error> {
                Codes::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ServerScript::Codes)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The named behaviours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Named {
    /// Take every message.
    Accept,
    /// Accept the TCP connection, then close it without a word.
    Close,
    /// Accept the TCP connection and say nothing (the client's greeting timeout).
    Silent,
}

/// Reply codes by stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Codes {
    /// The greeting [220]; a 421 is followed by a close.
    pub greeting: Option<u16>,
    /// The reply to EHLO [250]; HELO always gets 250.
    pub ehlo: Option<u16>,
    /// The reply to MAIL [250].
    pub mail: Option<u16>,
    /// The reply to every RCPT [250] (from the `rcpt_from`th on, when given).
    pub rcpt: Option<u16>,
    /// The first RCPT of a transaction (counting from 1) that gets `rcpt`; those
    /// before it get 250: a server that runs out of room for recipients after some
    /// (`{ rcpt: 552, rcpt_from: 3 }`, RFC 5321 §4.5.3.1.10).
    pub rcpt_from: Option<usize>,
    /// The reply to DATA [354].
    pub data: Option<u16>,
    /// The reply after the final dot [250].
    pub message: Option<u16>,
    /// Offer STARTTLS and do the handshake (RFC 3207) with a certificate made for the
    /// run, for the host names of the case's zones; TLSA data `server` and `ca` name
    /// it and its CA.
    #[serde(default)]
    pub starttls: bool,
    /// The certificate presented after STARTTLS [valid].
    #[serde(default)]
    pub certificate: Certificate,
    /// Offer REQUIRETLS (RFC 8689) in the EHLO reply once TLS is up.
    #[serde(default)]
    pub requiretls: bool,
}

/// How a delivery ended for its recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every recipient delivered.
    Delivered,
    /// Some recipient still deferred (a temporary failure), none bounced.
    Deferred,
    /// Some recipient bounced.
    Bounced,
}

impl Outcome {
    /// As written in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Deferred => "deferred",
            Self::Bounced => "bounced",
        }
    }
}

/// One outcome or several.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Outcomes {
    /// `delivered`
    One(Outcome),
    /// `[delivered, deferred]`
    Many(Vec<Outcome>),
}

impl Outcomes {
    /// The outcomes allowed.
    pub fn list(&self) -> &[Outcome] {
        match self {
            Self::One(o) => std::slice::from_ref(o),
            Self::Many(os) => os,
        }
    }

    /// Whether `got` is one of them.
    pub fn allows(&self, got: Outcome) -> bool {
        self.list().contains(&got)
    }

    /// As a reason says it: `delivered`, `delivered or deferred`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.list().iter().map(|o| o.as_str()).collect();
        names.join(" or ")
    }
}

/// What must have happened, checked on every run unless said otherwise.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryExpect {
    /// How the delivery ended: one outcome, or the several the RFC allows
    /// (`[delivered, deferred]`).
    #[serde(default)]
    pub outcome: Option<Outcomes>,
    /// The addresses connected to (or tried and refused), in order. Only with
    /// `runs: 1`.
    #[serde(default)]
    pub tried: Option<Vec<IpAddr>>,
    /// The server that took the message.
    #[serde(default)]
    pub delivered_to: Option<IpAddr>,
    /// How many connections the scripted servers accepted in all.
    #[serde(default)]
    pub connections: Option<usize>,
    /// For `runs` > 1: the share of runs in which each address was tried first, as
    /// `[low, high]` (e.g. `{127.0.0.2: [0.3, 0.7]}`).
    #[serde(default)]
    pub first_tried: BTreeMap<IpAddr, [f64; 2]>,
    /// A regular expression the reason of the outcome must match (e.g. `RFC 7505`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Every message a scripted server took came with this MAIL parameter (e.g.
    /// `REQUIRETLS`, RFC 8689: a relay passes the flag on).
    #[serde(default)]
    pub mail_parameter: Option<String>,
    /// A relay case: the content carries `sequence`, and the relay must refuse the
    /// message or pass exactly one message on with CRLF line ends only (RFC 5321
    /// §2.3.8 forbids a client to send a bare CR or LF; a second message means the
    /// relay ended DATA at the sequence, §4.1.1.4). Whether the sequence arrived as
    /// sent is recorded for the relay-chain matrix (`smtpspec report --chains`).
    #[serde(default)]
    pub relayed: Option<RelayedExpect>,
    /// A hostile-lookup case: the questions that lead the MTA to the hostile records,
    /// `"TYPE NAME"` (`"TXT spf.test"`, `"PTR 66.0.0.127.in-addr.arpa"`). Judged only
    /// when the MTA asked one of them (otherwise nothing was tested: a skip); then
    /// every command of the handover must have had its reply, whatever it was, and a
    /// connection cut or silent before the end fails (RFC 5321 §4.2).
    #[serde(default)]
    pub survives_lookup: Vec<String>,
}

impl DeliveryExpect {
    /// The `survives_lookup` questions as (type, name), the name lower case without
    /// the final dot; `Err` names an entry that is not `"TYPE NAME"`.
    pub fn lookups(&self) -> Result<Vec<(String, String)>, crate::yaml::Invalid> {
        self.survives_lookup
            .iter()
            .map(
                |q| match q.split_whitespace().collect::<Vec<_>>().as_slice() {
                    [rtype, name]
                        if rtype.chars().all(|c| c.is_ascii_uppercase()) && !name.is_empty() =>
                    {
                        Ok((
                            (*rtype).to_string(),
                            name.trim_end_matches('.').to_ascii_lowercase(),
                        ))
                    }
                    _ => Err(crate::invalid!(
                        "expect.survives_lookup: {q:?} is not \"TYPE NAME\" (e.g. \"TXT spf.test\")"
                    )),
                },
            )
            .collect()
    }
}

/// The `relayed:` rule of a relay case.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayedExpect {
    /// The end-of-data sequence the content smuggles, by the protocol's name for it
    /// (`lf.lf`, `crlf.cr-crlf`, `crlf-nul.crlf`, ...), the name its `eod:` tag carries.
    pub sequence: String,
}

impl RelayedExpect {
    /// The sequence named (checked by the loader).
    pub fn end(&self) -> Option<smtp_protocol::EndOfData> {
        smtp_protocol::EndOfData::from_name(&self.sequence)
    }
}
