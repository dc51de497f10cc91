//! TLS in a delivery case: the certificate the scripted servers present when their
//! script offers STARTTLS, and the zones' TLSA records that name it (`server`, `ca`)
//! turned into the octets a sender compares (RFC 6698 §2.1), for DANE (RFC 7672); the
//! same CA signs the MTA-STS policy host's certificate (RFC 8461 §3.3).

use crate::dns::Zones;
use crate::dns::zone::{self, TlsaData};
use crate::outcome::HarnessError;
use crate::scenario::sender::DeliveryDef;
use crate::send::dane::association;
use crate::test_ca::{KnownCa, TestCa};

/// The case's zones as served, and the identity of its TLS servers (made when a
/// server offers STARTTLS or a TLSA record names it).
pub(super) fn prepare(
    def: &DeliveryDef,
    dir: &std::path::Path,
    known: Option<&KnownCa>,
) -> Result<(Zones, Option<TestCa>), HarnessError> {
    let symbolic = def
        .zones
        .values()
        .flat_map(|names| names.values())
        .flat_map(|spec| &spec.tlsa)
        .any(|t| !matches!(t.data, TlsaData::Hex(_)));
    // A case with a first delivery may have left an MTA-STS policy to check against.
    let tls_wanted =
        def.servers.values().any(|s| s.starttls()) || def.mta_sts.is_some() || def.before.is_some();
    if !symbolic && !tls_wanted && !def.requiretls {
        return Ok((def.zones.clone(), None));
    }
    let ca = TestCa::issue(dir, &host_names(&def.zones), known)?;
    let mut zones = def.zones.clone();
    for spec in zones.values_mut().flat_map(|names| names.values_mut()) {
        for t in &mut spec.tlsa {
            let cert = match t.data {
                TlsaData::Hex(_) => continue,
                TlsaData::Server => &ca.leaf_der,
                TlsaData::Ca => &ca.ca_der,
            };
            let octets = association(t.selector, t.matching, cert).ok_or_else(|| {
                crate::harness_error!("TLSA: the run's certificate does not parse")
            })?;
            t.data = TlsaData::Hex(octets);
        }
    }
    Ok((zones, Some(ca)))
}

/// Every name of the zones that has an address: the MX hosts a DANE-TA sender finds
/// in the certificate.
fn host_names(zones: &Zones) -> Vec<String> {
    let mut out = Vec::new();
    for (zone_name, names) in zones {
        let Ok(origin) = zone::origin(zone_name) else {
            continue;
        };
        for (name, spec) in names {
            if spec.a.is_empty() && spec.aaaa.is_empty() {
                continue;
            }
            if let Ok(n) = zone::absolute(name, &origin) {
                out.push(n.to_ascii().trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }
    out
}
