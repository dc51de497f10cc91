//! The harness's TLS identity when it plays the server to a client under test: a
//! certificate authority made for the run, and a server certificate it signs for the
//! names a client connects to (`127.0.0.1`, `localhost`, `mx.smtpspec.test`).
//!
//! A client that checks certificates (the right default) can then be given the CA
//! (`{ca}` in a client profile, `SMTPSPEC_CA` in its environment) and keep checking:
//! the suite judges its SMTP, and never asks it to switch verification off.

use crate::outcome::HarnessError;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The names the server certificate carries.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "mx.smtpspec.test"];

/// A CA and the server identity it vouches for.
pub struct TestCa {
    /// The CA certificate, PEM, for clients to trust.
    pub ca_pem: String,
    /// The CA certificate, DER.
    pub ca_der: CertificateDer<'static>,
    /// The server certificate it signed, DER.
    pub leaf_der: CertificateDer<'static>,
    /// The server side of STARTTLS, presenting the signed certificate.
    pub acceptor: TlsAcceptor,
    /// Where the CA's PEM was written (kept as long as this value).
    pub ca_file: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestCa({})", self.ca_file.display())
    }
}

impl TestCa {
    /// A fresh CA and server certificate; the CA's PEM goes into a temporary file.
    pub fn generate() -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("smtpspec-ca-")
            .tempdir()
            .map_err(|e| crate::harness_error!("test CA: {e}"))?;
        let mut ca = Self::generate_in(dir.path())?;
        ca._dir = Some(dir);
        Ok(ca)
    }

    /// The same, with the PEM written into `dir`.
    pub fn generate_in(dir: &Path) -> Result<Self, HarnessError> {
        Self::generate_for(dir, &[])
    }

    /// A fresh CA and a server certificate that also carries `names` (the MX hosts
    /// of a delivery case, which a DANE-TA sender checks, RFC 7672 §3.2.2); the PEM
    /// goes into `dir`.
    pub fn generate_for(dir: &Path, names: &[String]) -> Result<Self, HarnessError> {
        let err = |e: rcgen::Error| crate::harness_error!("test CA: {e}");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "smtpspec test CA (made for one run)");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(err)?)
            .map_err(err)?;
        let mut leaf = CertificateParams::new(
            SERVER_NAMES
                .iter()
                .map(|n| (*n).to_owned())
                .chain(names.iter().cloned())
                .collect::<Vec<_>>(),
        )
        .map_err(err)?;
        leaf.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        leaf.distinguished_name
            .push(DnType::CommonName, "mx.smtpspec.test");
        let leaf_key = KeyPair::generate().map_err(err)?;
        let leaf_cert = leaf.signed_by(&leaf_key, &ca).map_err(err)?;
        let key = PrivateKeyDer::try_from(leaf_key.serialize_der())
            .map_err(|e| crate::harness_error!("test CA: key: {e}"))?;
        let identity = reference_server::tls::Identity {
            chain: vec![leaf_cert.der().clone(), ca.der().clone()],
            key,
        };
        let acceptor = identity.acceptor().map_err(HarnessError::of)?;
        let ca_pem = ca.pem();
        let ca_file = dir.join("smtpspec-test-ca.pem");
        std::fs::write(&ca_file, &ca_pem)
            .map_err(|e| crate::harness_error!("test CA: {}: {e}", ca_file.display()))?;
        Ok(Self {
            ca_pem,
            ca_der: ca.der().clone(),
            leaf_der: leaf_cert.der().clone(),
            acceptor,
            ca_file,
            _dir: None,
        })
    }

    /// Roots holding only this CA, for a client that verifies.
    pub fn roots(&self) -> Result<Arc<rustls::RootCertStore>, HarnessError> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .map_err(|e| crate::harness_error!("test CA: {e}"))?;
        Ok(Arc::new(roots))
    }
}
