//! Reply codes (RFC 5321 §4.2) as named values, and the command-reply sequences of
//! RFC 5321 §4.3.2 (with the extension RFCs) as data.

use std::fmt;

use crate::command::Verb;

/// A three-digit reply code whose first digit is 2 to 5 (RFC 5321 §4.2, §4.3.2: servers
/// "MUST NOT transmit reply codes ... that do not start in a digit between 2 and 5").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// A code, if it has three digits and its first digit is 2 to 5.
    pub const fn new(code: u16) -> Option<Self> {
        if code >= 200 && code <= 599 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The code as a number.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The first digit: 2 positive completion, 3 intermediate, 4 transient negative,
    /// 5 permanent negative (RFC 5321 §4.2.1).
    pub const fn class(self) -> u8 {
        (self.0 / 100) as u8
    }

    /// The second digit: 0 syntax, 1 information, 2 connections, 5 mail system
    /// (RFC 5321 §4.2.1). 3 and 4 are unspecified; 6 to 9 are undefined.
    pub const fn category(self) -> u8 {
        ((self.0 / 10) % 10) as u8
    }

    /// True for 2yz.
    pub const fn is_positive(self) -> bool {
        self.class() == 2
    }

    /// True for 3yz: the client must send more (DATA content, an AUTH response).
    pub const fn is_intermediate(self) -> bool {
        self.class() == 3
    }

    /// True for 4yz and 5yz.
    pub const fn is_negative(self) -> bool {
        self.class() >= 4
    }

    /// 211 System status, or system help reply.
    pub const SYSTEM_STATUS: Self = Self(211);
    /// 214 Help message.
    pub const HELP: Self = Self(214);
    /// 220 Service ready (greeting; also the go-ahead of STARTTLS, RFC 3207 §4).
    pub const SERVICE_READY: Self = Self(220);
    /// 221 Service closing transmission channel (reply to QUIT).
    pub const CLOSING: Self = Self(221);
    /// 235 Authentication succeeded (RFC 4954 §6).
    pub const AUTH_SUCCEEDED: Self = Self(235);
    /// 250 Requested mail action okay, completed.
    pub const OK: Self = Self(250);
    /// 251 User not local; will forward.
    pub const WILL_FORWARD: Self = Self(251);
    /// 252 Cannot VRFY user, but will accept message and attempt delivery.
    pub const CANNOT_VERIFY: Self = Self(252);
    /// 334 Server challenge of an AUTH exchange (RFC 4954 §4).
    pub const AUTH_CHALLENGE: Self = Self(334);
    /// 354 Start mail input; end with `<CRLF>.<CRLF>`.
    pub const START_MAIL_INPUT: Self = Self(354);
    /// 421 Service not available, closing transmission channel.
    pub const SERVICE_NOT_AVAILABLE: Self = Self(421);
    /// 450 Requested mail action not taken: mailbox unavailable (busy, policy).
    pub const MAILBOX_BUSY: Self = Self(450);
    /// 451 Requested action aborted: local error in processing.
    pub const LOCAL_ERROR: Self = Self(451);
    /// 452 Requested action not taken: insufficient system storage; also "too many
    /// recipients" (RFC 5321 §4.5.3.1.10).
    pub const INSUFFICIENT_STORAGE: Self = Self(452);
    /// 251 in answer to ETRN: "OK, no messages waiting for node" (RFC 1985 §5).
    pub const ETRN_NOTHING_WAITING: Self = Self(251);
    /// 454 TLS not available (RFC 3207 §4) / temporary authentication failure (RFC 4954).
    pub const TEMPORARY_FAILURE: Self = Self(454);
    /// 455 Server unable to accommodate parameters.
    pub const PARAMS_NOT_ACCOMMODATED: Self = Self(455);
    /// 458 Unable to queue messages for node (RFC 1985 §5).
    pub const ETRN_UNABLE: Self = Self(458);
    /// 459 Node not allowed (RFC 1985 §5).
    pub const ETRN_NOT_ALLOWED: Self = Self(459);
    /// 500 Syntax error, command unrecognized, or command line too long.
    pub const SYNTAX_ERROR: Self = Self(500);
    /// 501 Syntax error in parameters or arguments.
    pub const ARGUMENT_ERROR: Self = Self(501);
    /// 502 Command not implemented.
    pub const NOT_IMPLEMENTED: Self = Self(502);
    /// 503 Bad sequence of commands.
    pub const BAD_SEQUENCE: Self = Self(503);
    /// 504 Command parameter not implemented.
    pub const PARAM_NOT_IMPLEMENTED: Self = Self(504);
    /// 521 Host does not accept mail (RFC 7504 §3).
    pub const DOES_NOT_ACCEPT_MAIL: Self = Self(521);
    /// 530 Authentication required (RFC 4954 §6); also "must issue STARTTLS first"
    /// (RFC 3207 §4).
    pub const AUTH_REQUIRED: Self = Self(530);
    /// 534 Authentication mechanism is too weak (RFC 4954 §6).
    pub const AUTH_TOO_WEAK: Self = Self(534);
    /// 535 Authentication credentials invalid (RFC 4954 §6).
    pub const AUTH_INVALID: Self = Self(535);
    /// 538 Encryption required for requested authentication mechanism (RFC 4954 §6).
    pub const ENCRYPTION_REQUIRED: Self = Self(538);
    /// 550 Requested action not taken: mailbox unavailable.
    pub const MAILBOX_UNAVAILABLE: Self = Self(550);
    /// 551 User not local; please try a forward-path.
    pub const USER_NOT_LOCAL: Self = Self(551);
    /// 552 Requested mail action aborted: exceeded storage allocation (also the SIZE
    /// refusal of RFC 1870 §6).
    pub const EXCEEDED_STORAGE: Self = Self(552);
    /// 553 Requested action not taken: mailbox name not allowed.
    pub const MAILBOX_NAME_NOT_ALLOWED: Self = Self(553);
    /// 554 Transaction failed (or, as a greeting, no SMTP service here).
    pub const TRANSACTION_FAILED: Self = Self(554);
    /// 555 MAIL FROM/RCPT TO parameters not recognized or not implemented.
    pub const PARAMS_NOT_RECOGNIZED: Self = Self(555);
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The moment a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyTo {
    /// The greeting at connection establishment.
    Greeting,
    /// A command line.
    Command(Verb),
    /// The end of the DATA content (after `<CRLF>.<CRLF>`).
    DataEnd,
}

/// The usual replies to one moment of a session (RFC 5321 §4.3.2: "I" intermediate,
/// "S" success, "E" error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    /// Intermediate replies (3yz) that ask for more input.
    pub intermediate: &'static [u16],
    /// Success replies.
    pub success: &'static [u16],
    /// Error replies.
    pub error: &'static [u16],
}

/// Codes any command may get "if the corresponding unusual circumstances are
/// encountered" (RFC 5321 §4.3.2): 500, 501, 421.
pub const ANY_COMMAND: &[u16] = &[500, 501, 421];

impl Sequence {
    /// The listed replies for `to`, from RFC 5321 §4.3.2 and, for extension verbs, from
    /// their RFCs (STARTTLS: RFC 3207 §4; AUTH: RFC 4954 §4, §6; BDAT: RFC 3030 §2–4;
    /// ETRN: RFC 1985 §5).
    pub const fn of(to: ReplyTo) -> Self {
        const fn s(i: &'static [u16], s: &'static [u16], e: &'static [u16]) -> Sequence {
            Sequence {
                intermediate: i,
                success: s,
                error: e,
            }
        }
        match to {
            ReplyTo::Greeting => s(&[], &[220], &[554, 521, 421]),
            ReplyTo::DataEnd => s(&[], &[250], &[552, 554, 451, 452, 450, 550]),
            ReplyTo::Command(verb) => match verb {
                Verb::Ehlo | Verb::Helo => s(&[], &[250], &[504, 550, 502]),
                Verb::Mail => s(&[], &[250], &[552, 451, 452, 550, 553, 503, 455, 555]),
                Verb::Rcpt => s(
                    &[],
                    &[250, 251],
                    &[550, 551, 552, 553, 450, 451, 452, 503, 455, 555],
                ),
                Verb::Data => s(&[354], &[], &[503, 554]),
                Verb::Rset | Verb::Noop => s(&[], &[250], &[]),
                Verb::Vrfy => s(&[], &[250, 251, 252], &[550, 551, 553, 502, 504]),
                Verb::Expn => s(&[], &[250, 252], &[550, 500, 502, 504]),
                Verb::Help => s(&[], &[211, 214], &[502, 504]),
                Verb::Quit => s(&[], &[221], &[]),
                Verb::StartTls => s(&[], &[220], &[454, 501]),
                Verb::Auth => s(
                    &[334],
                    &[235],
                    &[432, 454, 500, 501, 503, 504, 530, 534, 535, 538],
                ),
                Verb::Bdat => s(&[], &[250], &[503, 552, 554, 451, 452]),
                Verb::Etrn => s(&[], &[250, 251, 252, 253], &[458, 459, 500, 501]),
            },
        }
    }

    /// True if `code` is listed for this moment, or is one that any command may get.
    pub fn allows(&self, code: u16) -> bool {
        self.intermediate.contains(&code)
            || self.success.contains(&code)
            || self.error.contains(&code)
            || ANY_COMMAND.contains(&code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_digits() {
        assert_eq!(ReplyCode::new(199), None);
        assert_eq!(ReplyCode::new(600), None);
        let c = ReplyCode::OK;
        assert_eq!((c.class(), c.category()), (2, 5));
        assert!(ReplyCode::START_MAIL_INPUT.is_intermediate());
        assert!(ReplyCode::BAD_SEQUENCE.is_negative());
    }

    #[test]
    fn sequences_follow_section_4_3_2() {
        let rcpt = Sequence::of(ReplyTo::Command(Verb::Rcpt));
        assert!(rcpt.allows(251) && rcpt.allows(503) && rcpt.allows(421));
        assert!(!rcpt.allows(354));
        assert!(Sequence::of(ReplyTo::Command(Verb::Data)).allows(354));
        assert!(!Sequence::of(ReplyTo::Command(Verb::Quit)).allows(250));
        for verb in Verb::ALL {
            let seq = Sequence::of(ReplyTo::Command(verb));
            assert!(
                !(seq.success.is_empty() && seq.intermediate.is_empty()),
                "{verb} has a positive reply"
            );
        }
    }
}
