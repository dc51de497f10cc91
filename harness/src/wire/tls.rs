//! TLS as the harness speaks it: the profile's settings, and the client configuration
//! that accepts any certificate (smtpspec judges SMTP, not a PKI) or verifies against
//! given roots (a client variant that checks).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// How to speak TLS with a target.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// TLS from the first octet (submissions on port 465, RFC 8314) instead of
    /// STARTTLS.
    pub implicit: bool,
    /// The server name for SNI [default: smtpspec.target]. Certificates are not
    /// verified: smtpspec judges SMTP, not a PKI.
    pub server_name: Option<String>,
    /// What each session does before the case begins, on a port whose operator
    /// requires TLS or AUTH first.
    pub prelude: Option<Prelude>,
    /// The port speaks the PROXY protocol: each connection opens with a header of
    /// this version naming the connection's own addresses, as a load balancer in
    /// front of the server would send.
    pub proxy: Option<smtp_protocol::proxy::Version>,
}

/// TLS and AUTH a port requires before mail, done before the case begins: the case
/// then sees the greeting as if it had just come, and speaks inside TLS, logged in.
/// Without it, every case that sends MAIL to such a port would fail on its 530
/// (RFC 3207 §4, RFC 4954 §6), which says nothing about what the case tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prelude {
    /// The EHLO name.
    pub ehlo: smtp_protocol::Host,
    /// STARTTLS and the handshake, then EHLO again.
    pub starttls: bool,
    /// `AUTH PLAIN` with this initial response (base64 of the profile's user and
    /// password), which must get 235.
    pub auth_plain: Option<String>,
}

/// A TLS alert record (RFC 8446 §6: content type 21, version 3.3, length 2, level
/// fatal, description handshake_failure 40): what a server whose TLS cannot agree
/// sends in the place of its ServerHello.
pub const HANDSHAKE_FAILURE_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];

/// Whether `bytes` open a TLS handshake record (RFC 8446 §5.1: content type 22,
/// then the legacy version's major 3): a ClientHello where a command line was due.
pub fn is_handshake_record(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x16, 0x03])
}

/// The default TLS server name when the profile gives none.
pub const DEFAULT_SERVER_NAME: &str = "smtpspec.target";

/// The client side of a handshake: verified against `roots`, or any certificate.
pub(crate) fn client_config(
    roots: Option<&Arc<rustls::RootCertStore>>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    Ok(match roots {
        Some(roots) => builder
            .with_root_certificates(Arc::clone(roots))
            .with_no_client_auth(),
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate))
            .with_no_client_auth(),
    })
}

/// The client side of a handshake whose certificate `verifier` judges (DANE).
pub(crate) fn client_config_verified(
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Conformance tests the SMTP dialogue, not the target's PKI: any certificate is
/// accepted, but the handshake signatures are still verified.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        signature_schemes()
    }
}

/// The handshake's signature checked with the ring provider's algorithms (TLS 1.3's
/// rules when `tls13`): what every verifier of the harness does, whatever it decides
/// about the certificate.
pub(crate) fn handshake_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    tls13: bool,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    if tls13 {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms)
    } else {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms)
    }
}

/// The signature schemes the ring provider verifies.
pub(crate) fn signature_schemes() -> Vec<SignatureScheme> {
    rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .supported_schemes()
}
