//! The policy of a server session: what it advertises, what it accepts, its limits.

use std::collections::BTreeMap;

use super::deviation::Deviations;
use crate::limits::{MAX_HOPS, MIN_RECIPIENTS};
use crate::reply::ReplyCode;

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
    CannotVerify,
    /// Real answers from the recipient table (250 / 550): what §3.5 describes first,
    /// so the reference server does it.
    #[default]
    Answer,
    /// 502: not implemented.
    Disabled,
}

/// What the server does with a bare CR or LF (RFC 5321 §2.3.8: not a line end). Every
/// choice is a refusal; they differ in when and how, as deployed servers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BareLineEnds {
    /// 500 to a command line that holds one; 554 at the end of a message that holds one.
    #[default]
    Refuse,
    /// As `Refuse`, but the message is refused with 550 (RFC 5321 §4.3.2 lists 550 for
    /// "rejections for policy reasons" at the end of data).
    RefuseWith550,
    /// 421 and close the connection at once, in a command or in the content (RFC 5321
    /// §3.8: a server may close with 421 when it must).
    Close,
}

/// SASL mechanisms the server can offer with AUTH (RFC 4954).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuthMechanism {
    /// RFC 4616.
    Plain,
    /// The de-facto LOGIN mechanism (draft-murchison-sasl-login).
    Login,
    /// RFC 2195: a keyed MD5 digest of a server challenge.
    CramMd5,
}

impl AuthMechanism {
    /// The name in the EHLO AUTH line and the AUTH command.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
            Self::CramMd5 => "CRAM-MD5",
        }
    }

    /// By name, case-insensitive (RFC 4954 §4: mechanism names are case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Plain, Self::Login, Self::CramMd5]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// Errors a client may make before the server slows down and then hangs up, as
/// Postfix's `smtpd_soft_error_limit`/`smtpd_hard_error_limit` do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorLimits {
    /// Errors after which every further error reply is delayed.
    pub sleep_after: u32,
    /// How long each of those replies is delayed, in milliseconds (the driver waits).
    pub sleep_ms: u64,
    /// Errors after which the next one gets 421 and the connection is closed.
    pub close_after: u32,
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
    /// Refuse every command but NOOP, EHLO, STARTTLS and QUIT until TLS is up (RFC
    /// 3207 §4: 530 "Must issue a STARTTLS command first").
    pub require_tls: bool,
    /// VRFY and EXPN behaviour.
    pub verify: VerifyMode,
    /// What a bare CR or LF gets.
    pub bare_line_ends: BareLineEnds,
    /// The code that refuses an over-size message at the end of data: 552 (RFC 1870
    /// §6.3, the preferred one) or 550 (RFC 5321 §4.3.2 lists it for policy refusals).
    pub size_refusal: ReplyCode,
    /// Advertise the SIZE limit as a number (`SIZE 1000000`) or the bare keyword
    /// (`SIZE`: RFC 1870 §4 makes the number optional).
    pub size_number: bool,
    /// Mechanisms offered with AUTH, in the order advertised.
    pub auth_mechanisms: Vec<AuthMechanism>,
    /// Refuse senders whose domain is an address literal (a policy refusal, 550 5.7.1).
    pub refuse_literal_senders: bool,
    /// Slow down and hang up on clients that make many errors.
    pub error_limits: Option<ErrorLimits>,
    /// Received lines beyond which a message is taken to loop (RFC 5321 §6.3).
    pub max_hops: usize,
    /// Commands other than MAIL, RCPT, DATA and BDAT allowed in a row before 421 and a
    /// close (Exim's `smtp_accept_max_nonmail`); an accepted MAIL starts the count over.
    pub nonmail_limit: Option<u32>,
    /// Greet with a two-line 220 reply (RFC 5321 §4.2.1 allows multiline replies
    /// everywhere).
    pub multiline_greeting: bool,
    /// Reply texts left empty where the grammar allows (RFC 5321 §4.2: `textstring` is
    /// optional); the greeting and EHLO keep their domain.
    pub terse_replies: bool,
    /// The code for an unknown recipient: 550 (permanent) or 450 (temporary, e.g. the
    /// user database is out of reach).
    pub unknown_recipient: ReplyCode,
    /// The code for DATA when no recipient was accepted: 503 or 554 (RFC 5321 §3.3
    /// allows both).
    pub no_valid_recipients: ReplyCode,
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
            verify: VerifyMode::Answer,
            bare_line_ends: BareLineEnds::Refuse,
            size_refusal: ReplyCode::EXCEEDED_STORAGE,
            size_number: true,
            auth_mechanisms: vec![AuthMechanism::Plain, AuthMechanism::Login],
            refuse_literal_senders: false,
            error_limits: None,
            max_hops: MAX_HOPS,
            nonmail_limit: None,
            multiline_greeting: false,
            terse_replies: false,
            unknown_recipient: ReplyCode::MAILBOX_UNAVAILABLE,
            no_valid_recipients: ReplyCode::BAD_SEQUENCE,
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
