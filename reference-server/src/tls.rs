//! The TLS side of STARTTLS (RFC 3207): a rustls server configuration from PEM files, or
//! from a self-signed certificate generated at start for the server's hostname.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up.
#[derive(Debug)]
pub struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// The certificate chain and key the server presents.
pub struct Identity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Read a PEM certificate chain and a PEM private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError(format!("{}: {e}", cert.display())))?;
        if chain.is_empty() {
            return Err(TlsError(format!("{}: no certificate", cert.display())));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| TlsError(format!("{}: {e}", key.display())))?;
        Ok(Self { chain, key })
    }

    /// A fresh self-signed certificate for `hostname` and `localhost`.
    pub fn self_signed(hostname: &str) -> Result<Self, TlsError> {
        let names = vec![hostname.to_owned(), "localhost".to_owned()];
        let ck = rcgen::generate_simple_self_signed(names)
            .map_err(|e| TlsError(format!("generating a certificate: {e}")))?;
        let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der())
            .map_err(|e| TlsError(format!("generated key: {e}")))?;
        Ok(Self {
            chain: vec![ck.cert.der().clone()],
            key,
        })
    }

    /// The certificate as PEM, for clients that must trust it.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.chain.first()
    }

    /// The acceptor for STARTTLS.
    pub fn acceptor(self) -> Result<TlsAcceptor, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.chain, self.key)
            .map_err(|e| TlsError(format!("certificate and key do not fit: {e}")))?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
