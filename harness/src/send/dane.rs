//! DANE for SMTP (RFC 7672) in the reference client: which TLSA records of an MX host
//! it may use, and the certificate check they stand for.
//!
//! A sender uses TLSA records only when the MX answer, the host's addresses and the
//! TLSA answer were all validated ("secure", RFC 7672 §2.2); the fake DNS says so with
//! the AD bit. Then the host must do TLS and present a certificate one usable record
//! matches (§2.2: the client "MUST NOT deliver mail via the server" otherwise). Usable
//! are DANE-TA(2) and DANE-EE(3) with a known selector and matching type (§3.1.3: the
//! PKIX usages 0 and 1 are not for SMTP); with none usable, TLS stays opportunistic.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256, Sha512};

/// One TLSA record (RFC 6698 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// 2 DANE-TA or 3 DANE-EE; 0 and 1 are never usable here.
    pub usage: u8,
    /// 0 the whole certificate, 1 its SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    /// The association data.
    pub data: Vec<u8>,
}

impl Tlsa {
    /// Whether an SMTP client may use this record (RFC 7672 §3.1.3, RFC 6698 §2.1).
    pub fn usable(&self) -> bool {
        matches!(self.usage, 2 | 3) && self.selector <= 1 && self.matching <= 2
    }

    /// Whether `cert` is the certificate or key this record names.
    fn names(&self, cert: &CertificateDer<'_>) -> bool {
        association(self.selector, self.matching, cert).is_some_and(|a| a == self.data)
    }
}

/// The association data of `cert` under `selector` (0 the certificate, 1 its key)
/// and `matching` (0 exact, 1 SHA-256, 2 SHA-512): what a TLSA record naming it holds
/// (RFC 6698 §2.1.2, §2.1.3). `None` for a certificate that does not parse.
pub fn association(selector: u8, matching: u8, cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let selected = match selector {
        0 => cert.as_ref().to_vec(),
        _ => webpki::EndEntityCert::try_from(cert)
            .ok()?
            .subject_public_key_info()
            .as_ref()
            .to_vec(),
    };
    Some(match matching {
        0 => selected,
        1 => Sha256::digest(&selected).to_vec(),
        _ => Sha512::digest(&selected).to_vec(),
    })
}

/// The check a host's usable TLSA records stand for, as a rustls verifier.
#[derive(Debug)]
pub struct DaneVerifier {
    records: Vec<Tlsa>,
    /// The MX host's name: what a DANE-TA chain's leaf must carry (RFC 7672 §3.2.2).
    host: String,
}

impl DaneVerifier {
    /// A verifier for `records` (only the usable ones count) of MX host `host`.
    pub fn new(records: Vec<Tlsa>, host: &str) -> Self {
        Self {
            records: records.into_iter().filter(Tlsa::usable).collect(),
            host: host.trim_end_matches('.').to_ascii_lowercase(),
        }
    }

    /// For the transcript: which records the host stands under, and what that asks.
    pub fn describe(&self) -> String {
        let records: Vec<String> = self
            .records
            .iter()
            .map(|r| format!("{} {} {}", r.usage, r.selector, r.matching))
            .collect();
        format!(
            "DANE (RFC 7672): {} usable TLSA record(s) for {} ({}): TLS required, the \
             certificate must match one",
            records.len(),
            self.host,
            records.join(", ")
        )
    }

    /// A DANE-TA record matched a certificate of the chain: the leaf must chain to it
    /// and carry the host's name; expiry is checked too (RFC 7672 §3.1.2 leaves that
    /// to DANE-EE only).
    fn chain_to(
        &self,
        anchor: &CertificateDer<'_>,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(anchor.clone().into_owned())
            .map_err(|e| rustls::Error::General(format!("DANE-TA anchor: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| rustls::Error::General(format!("DANE-TA: {e}")))?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| rustls::Error::General(format!("DANE-TA name: {e}")))?;
        verifier
            .verify_server_cert(end_entity, intermediates, &name, &[], now)
            .map(|_| ())
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // DANE-EE: the key or certificate itself; names and dates do not count
        // (RFC 7672 §3.1.1).
        if self
            .records
            .iter()
            .any(|r| r.usage == 3 && r.names(end_entity))
        {
            return Ok(ServerCertVerified::assertion());
        }
        let mut last = None;
        for r in self.records.iter().filter(|r| r.usage == 2) {
            for anchor in intermediates.iter().filter(|c| r.names(c)) {
                match self.chain_to(anchor, end_entity, intermediates, now) {
                    Ok(()) => return Ok(ServerCertVerified::assertion()),
                    Err(e) => last = Some(e),
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            rustls::Error::General(
                "DANE: no TLSA record of the MX host matches its certificate (RFC 7672 §2.2)"
                    .into(),
            )
        }))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crate::wire::tls::handshake_signature(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crate::wire::tls::handshake_signature(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        crate::wire::tls::signature_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> (CertificateDer<'static>, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["mx1.example.test".to_string()]).unwrap();
        let c = params.self_signed(&key).unwrap();
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        (c.der().clone(), spki)
    }

    fn verify(records: Vec<Tlsa>, leaf: &CertificateDer<'_>) -> bool {
        let name = ServerName::try_from("mx1.example.test").unwrap();
        DaneVerifier::new(records, "mx1.example.test")
            .verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
            .is_ok()
    }

    #[test]
    fn dane_ee_matches_the_key_or_the_certificate_and_nothing_else() {
        let (leaf, spki) = cert();
        let ee = |selector, matching, data| Tlsa {
            usage: 3,
            selector,
            matching,
            data,
        };
        assert!(verify(
            vec![ee(1, 1, Sha256::digest(&spki).to_vec())],
            &leaf
        ));
        assert!(verify(
            vec![ee(1, 2, Sha512::digest(&spki).to_vec())],
            &leaf
        ));
        assert!(verify(vec![ee(0, 0, leaf.as_ref().to_vec())], &leaf));
        assert!(verify(
            vec![ee(0, 1, Sha256::digest(leaf.as_ref()).to_vec())],
            &leaf
        ));
        assert!(!verify(vec![ee(1, 1, vec![0; 32])], &leaf));
        // The PKIX usages are not for SMTP: a match under them proves nothing.
        let pkix = Tlsa {
            usage: 1,
            ..ee(1, 1, Sha256::digest(&spki).to_vec())
        };
        assert!(!pkix.usable());
        assert!(!verify(vec![pkix], &leaf));
    }
}
