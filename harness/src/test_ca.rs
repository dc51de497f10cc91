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
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The names the server certificate carries.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "mx.smtpspec.test"];

/// The one name of the misnamed certificate: no case's host.
pub const MISNAMED: &str = "misnamed.smtpspec.test";

/// A CA made before the run (a sender profile's `ca:`), PEM.
#[derive(Debug, Clone)]
pub struct KnownCa {
    /// The CA certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

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
    /// The same CA's certificate for [`MISNAMED`] only: right issuer, wrong host, for
    /// senders that must check the name (MTA-STS, DANE-TA).
    pub misnamed: TlsAcceptor,
    /// The server certificate again, with the same key and names, valid only in 2020:
    /// DANE-EE ignores its dates (RFC 7672 §3.1.1), PKIX does not.
    pub expired: TlsAcceptor,
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
        Self::issue(dir, names, None)
    }

    /// The same with `ca` (a certificate and its key, PEM) as the CA, when one is
    /// given: one a real MTA was told to trust before the run (MTA-STS checks
    /// certificates against roots, RFC 8461 §4.2), rather than one made now.
    pub fn issue(dir: &Path, names: &[String], ca: Option<&KnownCa>) -> Result<Self, HarnessError> {
        let err = |e: rcgen::Error| crate::harness_error!("test CA: {e}");
        if let Some(known) = ca {
            let key = KeyPair::from_pem(&known.key_pem).map_err(err)?;
            let issuer = Issuer::from_ca_cert_pem(&known.cert_pem, key).map_err(err)?;
            let ca_der = CertificateDer::from_pem_slice(known.cert_pem.as_bytes())
                .map_err(|e| crate::harness_error!("test CA: the CA certificate: {e}"))?;
            return Self::finish(dir, names, &issuer, ca_der, known.cert_pem.clone());
        }
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
        Self::finish(dir, names, &ca, ca.der().clone(), ca.pem())
    }

    fn finish(
        dir: &Path,
        names: &[String],
        ca: &Issuer<'_, KeyPair>,
        ca_der: CertificateDer<'static>,
        ca_pem: String,
    ) -> Result<Self, HarnessError> {
        let names: Vec<String> = SERVER_NAMES
            .iter()
            .map(|n| (*n).to_owned())
            .chain(names.iter().cloned())
            .collect();
        let err = |e: rcgen::Error| crate::harness_error!("test CA: {e}");
        let key = KeyPair::generate().map_err(err)?;
        let other_key = KeyPair::generate().map_err(err)?;
        let spec = |names, expired| Leaf {
            names,
            loopback: true,
            key: &key,
            expired,
        };
        let (leaf_der, acceptor) = leaf(ca, &ca_der, spec(names.clone(), false))?;
        let (_, expired) = leaf(ca, &ca_der, spec(names, true))?;
        let misnamed = Leaf {
            names: vec![MISNAMED.to_owned()],
            loopback: false,
            key: &other_key,
            expired: false,
        };
        let (_, misnamed) = leaf(ca, &ca_der, misnamed)?;
        let ca_file = dir.join("smtpspec-test-ca.pem");
        std::fs::write(&ca_file, &ca_pem)
            .map_err(|e| crate::harness_error!("test CA: {}: {e}", ca_file.display()))?;
        Ok(Self {
            ca_pem,
            ca_der,
            leaf_der,
            acceptor,
            misnamed,
            expired,
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

/// What a server certificate of the run is made of.
struct Leaf<'a> {
    /// Its DNS names.
    names: Vec<String>,
    /// 127.0.0.1 as well.
    loopback: bool,
    /// Its key (the valid and the expired certificate share one, so that a TLSA
    /// record of the key names both).
    key: &'a KeyPair,
    /// Valid in 2020 only.
    expired: bool,
}

/// A server certificate `ca` signs as `spec` says, and the TLS server side that
/// presents it with its chain.
fn leaf(
    ca: &Issuer<'_, KeyPair>,
    ca_der: &CertificateDer<'static>,
    spec: Leaf<'_>,
) -> Result<(CertificateDer<'static>, TlsAcceptor), HarnessError> {
    let err = |e: rcgen::Error| crate::harness_error!("test CA: {e}");
    let Leaf {
        names,
        loopback,
        key,
        expired,
    } = spec;
    let mut params = CertificateParams::new(names.clone()).map_err(err)?;
    if loopback {
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let common = names.get(1).or(names.first()).cloned().unwrap_or_default();
    params.distinguished_name.push(DnType::CommonName, common);
    let cert = params.signed_by(key, ca).map_err(err)?;
    let private = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| crate::harness_error!("test CA: key: {e}"))?;
    let identity = reference_server::tls::Identity {
        chain: vec![cert.der().clone(), ca_der.clone()],
        key: private,
    };
    let acceptor = identity.acceptor().map_err(HarnessError::of)?;
    Ok((cert.der().clone(), acceptor))
}
