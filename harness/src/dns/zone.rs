//! Zones as data: what `smtpspec dns --zone FILE` serves and what a delivery scenario
//! declares.
//!
//! ```yaml
//! example.test:                  # a zone; names below are relative to it
//!   "@":   { MX: ["10 mx1", "20 mx2.example.test."] }
//!   mx1:   { A: [127.0.0.2], AAAA: ["::1"] }
//!   mx2:   { fault: servfail }   # servfail | nxdomain | refused | timeout | truncate
//!   alias: { CNAME: "@" }
//!   _25._tcp.mx1:                # DANE (RFC 7672): "signed", so answers carry AD
//!     { TLSA: ["3 1 1 0f1e...(64 hex digits)"], secure: true }
//! nomail.test:
//!   "@":   { MX: ["0 ."] }        # the null MX of RFC 7505
//! 0.0.127.in-addr.arpa:
//!   "2":   { PTR: ["mx1.example.test."] }
//! bad.test:                      # names RFC 1035 forbids, sent as written
//!   "@":   { RAW: [{ type: MX, preference: 10, labels: [mx, "", bad, test] }] }
//! ```
//!
//! A name ending in `.` is absolute and must still lie inside its zone; `@` is the zone
//! itself. MX exchanges and CNAME targets may point anywhere.

use crate::yaml::Invalid;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Zones by origin (`example.test`), each a map of names to their records.
pub type Zones = BTreeMap<String, BTreeMap<String, NameSpec>>;

/// Time to live of every record served: zero, not to be cached (RFC 1035 §3.2.1).
/// The zones change from case to case under the same names, and within a case between
/// its deliveries (`before:`); a resolver library that caches (c-ares under Postfix's
/// MTA-STS daemon does) would otherwise answer from the last case.
pub const TTL: u32 = 0;

/// What one name holds, or the fault it answers with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameSpec {
    /// Mail exchangers, `"PREFERENCE HOST"`; `"0 ."` is a null MX (RFC 7505).
    #[serde(rename = "MX", default, skip_serializing_if = "Vec::is_empty")]
    pub mx: Vec<MxSpec>,
    /// IPv4 addresses.
    #[serde(rename = "A", default, skip_serializing_if = "Vec::is_empty")]
    pub a: Vec<Ipv4Addr>,
    /// IPv6 addresses.
    #[serde(rename = "AAAA", default, skip_serializing_if = "Vec::is_empty")]
    pub aaaa: Vec<Ipv6Addr>,
    /// An alias; nothing else may be at this name (RFC 1034 §3.6.2).
    #[serde(rename = "CNAME", default, skip_serializing_if = "Option::is_none")]
    pub cname: Option<String>,
    /// Text records.
    #[serde(rename = "TXT", default, skip_serializing_if = "Vec::is_empty")]
    pub txt: Vec<String>,
    /// Pointers, for reverse names (`2.0.0.127.in-addr.arpa`): the names an address
    /// claims.
    #[serde(rename = "PTR", default, skip_serializing_if = "Vec::is_empty")]
    pub ptr: Vec<String>,
    /// DANE records (RFC 6698), `"USAGE SELECTOR MATCHING DATA"` at
    /// `_25._tcp.<MX host>` (RFC 7672 §3). DATA is hex, or in a delivery case
    /// `server` or `ca`: the association of the scripted servers' certificate or of
    /// the CA that signed it, by the record's selector and matching type (`"3 1 1
    /// server"` is the SHA-256 of the servers' key, `"2 0 1 ca"` of the CA's
    /// certificate); the certificates are made for the run.
    #[serde(rename = "TLSA", default, skip_serializing_if = "Vec::is_empty")]
    pub tlsa: Vec<TlsaSpec>,
    /// MX, PTR or CNAME records whose name is written label by label and sent as
    /// written (`{ type: MX, preference: 10, labels: [mx, "", test] }`; a label is text
    /// or `{ octets: N, fill: a }`): empty labels, labels over 63 octets, names over
    /// 255, which a resolver must refuse.
    #[serde(rename = "RAW", default, skip_serializing_if = "Vec::is_empty")]
    pub raw: Vec<super::raw::RawRecord>,
    /// Answers about this name carry the AD bit, as a validating resolver's do for
    /// signed data (RFC 4035 §3.2.3). A DANE sender trusts TLSA records only when the
    /// MX, address and TLSA answers all come so (RFC 7672 §2.2); without it they are
    /// "insecure" and the sender may not use them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secure: bool,
    /// Answer every question about this name with a fault instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

/// A broken answer, to see how a sender copes (RFC 5321 §5.1: temporary DNS failures
/// defer, a name that does not exist bounces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// RCODE 2, a temporary failure.
    Servfail,
    /// RCODE 3, the name does not exist.
    Nxdomain,
    /// RCODE 5, the server refuses.
    Refused,
    /// No answer at all: the resolver times out.
    Timeout,
    /// Over UDP an empty answer with TC set, so the resolver must retry over TCP, where
    /// the real answer comes.
    Truncate,
}

impl Fault {
    /// The name used in zone files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Servfail => "servfail",
            Self::Nxdomain => "nxdomain",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::Truncate => "truncate",
        }
    }
}

/// One MX record as written: `"10 mx1"`. Checked when the file is read, so that a bad
/// record is reported at its line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct MxSpec {
    /// Lower is tried first (RFC 5321 §5.1).
    pub preference: u16,
    /// The exchange as written (relative, absolute, or `.`).
    pub exchange: String,
}

impl TryFrom<String> for MxSpec {
    type Error = Invalid;

    fn try_from(s: String) -> Result<Self, Invalid> {
        let mut words = s.split_whitespace();
        let (Some(p), Some(host), None) = (words.next(), words.next(), words.next()) else {
            return Err(crate::invalid!(
                "MX {s:?}: expected \"PREFERENCE HOST\", e.g. \"10 mx1\""
            ));
        };
        let preference = p.parse().map_err(|_| {
            crate::invalid!("MX {s:?}: the preference {p:?} is not a number 0-65535")
        })?;
        if host != "." && host != "@" {
            Name::from_ascii(host)
                .map_err(|e| crate::invalid!("MX {s:?}: {host:?} is not a name: {e}"))?;
        }
        Ok(Self {
            preference,
            exchange: host.to_string(),
        })
    }
}

/// One TLSA record as written: `"3 1 1 HEX"`, checked when the file is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct TlsaSpec {
    /// 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE (RFC 6698 §2.1.1, RFC 7218).
    pub usage: u8,
    /// 0 the whole certificate, 1 its SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 the data itself, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    /// The association data.
    pub data: TlsaData,
}

/// What a TLSA record associates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsaData {
    /// These octets.
    Hex(Vec<u8>),
    /// The scripted servers' certificate (or key) of the run.
    Server,
    /// The certificate (or key) of the CA that signed it.
    Ca,
}

impl TryFrom<String> for TlsaSpec {
    type Error = Invalid;

    fn try_from(s: String) -> Result<Self, Invalid> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let [usage, selector, matching, hex] = words.as_slice() else {
            return Err(crate::invalid!(
                "TLSA {s:?}: expected \"USAGE SELECTOR MATCHING HEX\", e.g. \"3 1 1 0f1e...\""
            ));
        };
        let field = |w: &str, what: &str| {
            w.parse::<u8>()
                .map_err(|_| crate::invalid!("TLSA {s:?}: the {what} {w:?} is not a number 0-255"))
        };
        let data = match *hex {
            "server" => TlsaData::Server,
            "ca" => TlsaData::Ca,
            hex => TlsaData::Hex(decode_hex(hex).ok_or_else(|| {
                crate::invalid!(
                    "TLSA {s:?}: {hex:?} is neither an even run of hex digits nor server or ca"
                )
            })?),
        };
        Ok(Self {
            usage: field(usage, "usage")?,
            selector: field(selector, "selector")?,
            matching: field(matching, "matching type")?,
            data,
        })
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || hex.is_empty() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

impl From<TlsaSpec> for String {
    fn from(t: TlsaSpec) -> Self {
        let data: Self = match &t.data {
            TlsaData::Hex(octets) => octets.iter().map(|b| format!("{b:02x}")).collect(),
            TlsaData::Server => "server".into(),
            TlsaData::Ca => "ca".into(),
        };
        format!("{} {} {} {data}", t.usage, t.selector, t.matching)
    }
}

impl From<MxSpec> for String {
    fn from(m: MxSpec) -> Self {
        format!("{} {}", m.preference, m.exchange)
    }
}

impl fmt::Display for MxSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.preference, self.exchange)
    }
}

/// A name of the zone file made absolute: `@` is the origin, a name ending in `.` is
/// absolute, anything else is relative to the origin.
pub fn absolute(name: &str, origin: &Name) -> Result<Name, Invalid> {
    if name == "@" {
        return Ok(origin.clone());
    }
    if name == "." {
        return Ok(Name::root());
    }
    let n = Name::from_ascii(name)
        .map_err(|e| crate::invalid!("{name:?} is not a domain name: {e}"))?;
    if n.is_fqdn() {
        Ok(n)
    } else {
        n.append_domain(origin)
            .map_err(|e| crate::invalid!("{name:?} under {origin}: {e}"))
    }
}

/// The origin of a zone, absolute.
pub fn origin(zone: &str) -> Result<Name, Invalid> {
    let mut n = Name::from_ascii(zone)
        .map_err(|e| crate::invalid!("zone {zone:?} is not a domain name: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

/// Problems that YAML types cannot express: a CNAME beside other data, a zone name that
/// is not a name. Each message names the zone and the name.
pub fn check(zones: &Zones) -> Vec<String> {
    let mut problems = Vec::new();
    for (zone, names) in zones {
        let origin = match origin(zone) {
            Ok(o) => o,
            Err(e) => {
                problems.push(e.into_message());
                continue;
            }
        };
        for (name, spec) in names {
            let at = format!("{zone}: {name}");
            match absolute(name, &origin) {
                Ok(n) if !origin.zone_of(&n) => {
                    problems.push(format!("{at}: the name is not inside the zone {origin}"));
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("{at}: {e}")),
            }
            problems.extend(
                spec.raw
                    .iter()
                    .filter_map(|r| r.problem().map(|p| format!("{at}: {p}"))),
            );
            for target in &spec.ptr {
                if let Err(e) = absolute(target, &origin) {
                    problems.push(format!("{at}: PTR {e}"));
                }
            }
            if let Some(target) = &spec.cname {
                if let Err(e) = absolute(target, &origin) {
                    problems.push(format!("{at}: CNAME {e}"));
                }
                if !spec.mx.is_empty()
                    || !spec.a.is_empty()
                    || !spec.aaaa.is_empty()
                    || !spec.txt.is_empty()
                    || !spec.ptr.is_empty()
                    || !spec.tlsa.is_empty()
                    || !spec.raw.is_empty()
                {
                    problems.push(format!(
                        "{at}: a CNAME cannot share its name with other records (RFC 1034 §3.6.2)"
                    ));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mx_records_are_checked_as_they_are_read() {
        assert_eq!(
            MxSpec::try_from("10 mx1".to_string()).unwrap().preference,
            10
        );
        assert_eq!(MxSpec::try_from("0 .".to_string()).unwrap().exchange, ".");
        for bad in ["mx1", "ten mx1", "10", "70000 mx1", "10 a b"] {
            assert!(MxSpec::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn tlsa_records_are_checked_as_they_are_read() {
        let t = TlsaSpec::try_from("3 1 1 0A0b".to_string()).unwrap();
        assert_eq!((t.usage, t.selector, t.matching), (3, 1, 1));
        assert_eq!(t.data, TlsaData::Hex(vec![0x0a, 0x0b]));
        assert_eq!(String::from(t), "3 1 1 0a0b");
        let t = TlsaSpec::try_from("2 0 1 ca".to_string()).unwrap();
        assert_eq!(t.data, TlsaData::Ca);
        for bad in [
            "3 1 1",
            "3 1 1 0a0",
            "3 1 1 zz",
            "300 1 1 0a",
            "3 1 1 0a 0b",
        ] {
            assert!(TlsaSpec::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_resolve_against_the_origin() {
        let o = origin("example.test").unwrap();
        assert_eq!(absolute("@", &o).unwrap().to_ascii(), "example.test.");
        assert_eq!(absolute("mx1", &o).unwrap().to_ascii(), "mx1.example.test.");
        assert_eq!(
            absolute("other.test.", &o).unwrap().to_ascii(),
            "other.test."
        );
    }

    #[test]
    fn cname_beside_data_is_refused() {
        let zones: Zones = BTreeMap::from([(
            "example.test".to_string(),
            BTreeMap::from([(
                "alias".to_string(),
                NameSpec {
                    cname: Some("@".into()),
                    a: vec![Ipv4Addr::LOCALHOST],
                    ..NameSpec::default()
                },
            )]),
        )]);
        let p = check(&zones);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("RFC 1034"), "{p:?}");
    }
}
