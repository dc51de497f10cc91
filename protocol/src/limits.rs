//! Size limits of SMTP, each in one place with the text that sets it.
//!
//! RFC 5321 §4.5.3.1 gives *minimums* that every implementation must be able to handle;
//! a server may accept more. The framing and parsing code takes these as defaults and
//! reports anything larger as a finding, so the caller decides whether to be lenient.

/// Longest local part a receiver must accept, in octets (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;

/// Longest domain name a receiver must accept, in octets (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;

/// Longest reverse- or forward-path including the angle brackets (RFC 5321 §4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// Longest command line including the verb and the final CRLF (RFC 5321 §4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 512;

/// Longest reply line including the reply code and the final CRLF (RFC 5321 §4.5.3.1.5).
pub const MAX_REPLY_LINE: usize = 512;

/// Longest line of message text including the final CRLF (RFC 5321 §4.5.3.1.6).
pub const MAX_TEXT_LINE: usize = 1000;

/// Longest line of an AUTH exchange: RFC 4954 §4 raises the command line limit to
/// 12288 octets for AUTH and for the client's SASL responses, so that large Kerberos
/// tickets fit after base64 encoding.
pub const MAX_AUTH_LINE: usize = 12288;

/// Octets that SIZE may add to a MAIL line (RFC 1870 §3: "increased by 26 characters").
pub const MAIL_SIZE_ALLOWANCE: usize = 26;

/// Octets that BODY may add to a MAIL line (RFC 6152 §2: "increased by 16 characters").
pub const MAIL_BODY_ALLOWANCE: usize = 16;

/// Octets that RET and ENVID may add to a MAIL line (RFC 3461 §4: 112 characters).
pub const MAIL_DSN_ALLOWANCE: usize = 112;

/// Octets that NOTIFY and ORCPT may add to a RCPT line (RFC 3461 §4: 500 characters).
pub const RCPT_DSN_ALLOWANCE: usize = 500;

/// Octets that the AUTH parameter may add to a MAIL line (RFC 4954 §5: 500 characters).
pub const MAIL_AUTH_ALLOWANCE: usize = 500;

/// Octets that SMTPUTF8 may add to a MAIL line (RFC 6531 §3.4: 10 characters).
pub const MAIL_SMTPUTF8_ALLOWANCE: usize = 10;

/// Fewest recipients a server must be able to buffer for one message
/// (RFC 5321 §4.5.3.1.8).
pub const MIN_RECIPIENTS: usize = 100;

/// Received lines beyond which a message is taken to be looping and refused (RFC 5321
/// §6.3: servers counting them "SHOULD use a large rejection threshold, normally at
/// least 100 Received entries").
pub const MAX_HOPS: usize = 100;

/// Longest decoded ENVID parameter value (RFC 3461 §4.4).
pub const MAX_ENVID: usize = 100;

/// Longest decoded ORCPT parameter address (RFC 3461 §4.2: "500 characters").
pub const MAX_ORCPT: usize = 500;

/// Most lines one reply may carry before the reply parser calls it hostile.
///
/// No RFC limits multiline replies; a real EHLO reply has a few dozen lines. The bound
/// exists so that a target streaming endless `250-` lines cannot make the harness buffer
/// without limit.
pub const MAX_REPLY_LINES: usize = 1000;

/// The line terminator of SMTP (RFC 5321 §2.3.8): lines end with CR LF and nothing else.
pub const CRLF: &[u8] = b"\r\n";

/// The SMTP port (RFC 5321 §4.5.4.2: "specified by IANA as port 25").
pub const SMTP_PORT: u16 = 25;

/// The port of message submission over implicit TLS (RFC 8314 §7.3).
pub const SUBMISSIONS_PORT: u16 = 465;
