//! The policy of a server session: what it advertises, what it accepts, its limits.

use std::collections::BTreeMap;

use super::deviation::Deviations;
use crate::limits::MIN_RECIPIENTS;

/// How the server greets (RFC 5321 §3.1, RFC 7504).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GreetingMode {
    /// 220: ready.
    #[default]
    Ready,
    /// 554: no SMTP service here; every command but QUIT gets 503 (RFC 5321 §3.1).
    NoService,
    /// 521: this host does not accept mail; every command but QUIT gets 521
    /// (RFC 7504 §3).
    DoesNotAcceptMail,
}

/// How VRFY and EXPN answer (RFC 5321 §3.5, §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// 252: cannot verify, will accept and try (what most servers do, for privacy).
    #[default]
    CannotVerify,
    /// Real answers from the recipient table (250 / 550).
    Answer,
    /// 502: not implemented.
    Disabled,
}

/// Which extensions the server advertises and implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extensions {
    /// RFC 2920
    pub pipelining: bool,
    /// RFC 6152
    pub eight_bit_mime: bool,
    /// RFC 6531
    pub smtputf8: bool,
    /// RFC 2034
    pub enhanced_status_codes: bool,
    /// RFC 3030 CHUNKING (BDAT)
    pub chunking: bool,
    /// RFC 3030 BINARYMIME (needs CHUNKING)
    pub binary_mime: bool,
    /// RFC 3461
    pub dsn: bool,
    /// RFC 1985
    pub etrn: bool,
    /// RFC 3207; the session offers it only if the driver can do TLS.
    pub starttls: bool,
}

impl Default for Extensions {
    fn default() -> Self {
        Self {
            pipelining: true,
            eight_bit_mime: true,
            smtputf8: true,
            enhanced_status_codes: true,
            chunking: true,
            binary_mime: true,
            dsn: true,
            etrn: true,
            starttls: true,
        }
    }
}

/// Everything a [`super::ServerSession`] needs to decide.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The name the server gives itself in the greeting, EHLO and Received lines.
    pub hostname: String,
    /// How it greets.
    pub greeting: GreetingMode,
    /// Advertised extensions.
    pub extensions: Extensions,
    /// Maximum message size advertised with SIZE and enforced at end of data
    /// (RFC 1870); `0` means SIZE with no fixed limit.
    pub max_message_size: u64,
    /// The most content the server holds for one message whatever SIZE says: past it,
    /// 552 "exceeded storage allocation" (RFC 5321 §4.2.3). Keeps a hostile client from
    /// filling memory when SIZE advertises no limit.
    pub storage_cap: u64,
    /// Most recipients per transaction; at least [`MIN_RECIPIENTS`] (RFC 5321
    /// §4.5.3.1.8). Beyond it: 452 (§4.5.3.1.10).
    pub max_recipients: usize,
    /// Mailboxes that exist (lower-cased `local@domain`); `None` accepts every
    /// recipient. `postmaster` is always accepted (RFC 5321 §4.5.1).
    pub recipients: Option<Vec<String>>,
    /// AUTH users and passwords; AUTH is advertised only when there are some.
    pub users: BTreeMap<String, String>,
    /// Offer AUTH before TLS (off by default: passwords in clear, RFC 4954 §4).
    pub auth_without_tls: bool,
    /// Refuse MAIL until the client authenticated (a submission server, RFC 6409).
    pub require_auth: bool,
    /// Refuse MAIL until TLS is up (RFC 3207 §4: 530 "Must issue a STARTTLS command").
    pub require_tls: bool,
    /// VRFY and EXPN behaviour.
    pub verify: VerifyMode,
    /// Deliberate misbehaviour; empty for the reference server.
    pub deviations: Deviations,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            hostname: "smtpspec.test".into(),
            greeting: GreetingMode::Ready,
            extensions: Extensions::default(),
            max_message_size: 10 * 1024 * 1024,
            storage_cap: 256 * 1024 * 1024,
            max_recipients: MIN_RECIPIENTS,
            recipients: None,
            users: BTreeMap::new(),
            auth_without_tls: false,
            require_auth: false,
            require_tls: false,
            verify: VerifyMode::CannotVerify,
            deviations: Deviations::NONE,
        }
    }
}

impl ServerConfig {
    /// True if the table accepts `local@domain` (case-insensitive).
    pub fn knows_recipient(&self, address: &str) -> bool {
        match &self.recipients {
            None => true,
            Some(table) => table.iter().any(|r| r.eq_ignore_ascii_case(address)),
        }
    }
}
