//! SMTP commands: every verb of RFC 5321 §4.1.1 plus STARTTLS (RFC 3207), AUTH
//! (RFC 4954), BDAT (RFC 3030) and ETRN (RFC 1985), parsed from one line and formatted
//! back to one.
//!
//! Parsing is strict by default ([`Command::parse`]). [`Command::parse_with`] also
//! accepts the departures that real servers tolerate and names each one as a
//! [`Leniency`], so that the caller decides. Verbs are case-insensitive (RFC 5321
//! §2.4); formatting writes them in upper case.

mod parse;

use std::fmt;

use crate::address::{ForwardPath, Host, ReversePath};
use crate::leniency::Leniency;
use crate::param::Param;
use crate::syntax::SyntaxError;

/// The command verbs smtpspec knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Verb {
    /// RFC 5321 §4.1.1.1
    Ehlo,
    /// RFC 5321 §4.1.1.1
    Helo,
    /// RFC 5321 §4.1.1.2
    Mail,
    /// RFC 5321 §4.1.1.3
    Rcpt,
    /// RFC 5321 §4.1.1.4
    Data,
    /// RFC 5321 §4.1.1.5
    Rset,
    /// RFC 5321 §4.1.1.6
    Vrfy,
    /// RFC 5321 §4.1.1.7
    Expn,
    /// RFC 5321 §4.1.1.8
    Help,
    /// RFC 5321 §4.1.1.9
    Noop,
    /// RFC 5321 §4.1.1.10
    Quit,
    /// RFC 3207 §4
    StartTls,
    /// RFC 4954 §4
    Auth,
    /// RFC 3030 §2
    Bdat,
    /// RFC 1985 §5
    Etrn,
}

impl Verb {
    /// Every verb.
    pub const ALL: [Self; 15] = [
        Self::Ehlo,
        Self::Helo,
        Self::Mail,
        Self::Rcpt,
        Self::Data,
        Self::Rset,
        Self::Vrfy,
        Self::Expn,
        Self::Help,
        Self::Noop,
        Self::Quit,
        Self::StartTls,
        Self::Auth,
        Self::Bdat,
        Self::Etrn,
    ];

    /// The verb as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ehlo => "EHLO",
            Self::Helo => "HELO",
            Self::Mail => "MAIL",
            Self::Rcpt => "RCPT",
            Self::Data => "DATA",
            Self::Rset => "RSET",
            Self::Vrfy => "VRFY",
            Self::Expn => "EXPN",
            Self::Help => "HELP",
            Self::Noop => "NOOP",
            Self::Quit => "QUIT",
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::Bdat => "BDAT",
            Self::Etrn => "ETRN",
        }
    }

    /// The verb a command line starts with (its first word), if it is one: how a
    /// server that answers by verb, or a judge that reads what a client sent, names
    /// a line without parsing all of it.
    pub fn of_line(line: &[u8]) -> Option<Self> {
        Self::from_bytes(line.split(|&b| b == b' ').next().unwrap_or_default())
    }

    /// Recognise a verb, ignoring case.
    pub fn from_bytes(word: &[u8]) -> Option<Self> {
        let mut buf = [0u8; 16];
        Some(match crate::syntax::upcase(word, &mut buf) {
            b"EHLO" => Self::Ehlo,
            b"HELO" => Self::Helo,
            b"MAIL" => Self::Mail,
            b"RCPT" => Self::Rcpt,
            b"DATA" => Self::Data,
            b"RSET" => Self::Rset,
            b"VRFY" => Self::Vrfy,
            b"EXPN" => Self::Expn,
            b"HELP" => Self::Help,
            b"NOOP" => Self::Noop,
            b"QUIT" => Self::Quit,
            b"STARTTLS" => Self::StartTls,
            b"AUTH" => Self::Auth,
            b"BDAT" => Self::Bdat,
            b"ETRN" => Self::Etrn,
            _ => return None,
        })
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// `EHLO domain-or-literal`
    Ehlo(Host),
    /// `HELO domain` (an address literal only from a lenient parse)
    Helo(Host),
    /// `MAIL FROM:<path> [params]`
    Mail {
        /// The reverse-path.
        from: ReversePath,
        /// ESMTP parameters, in the order sent.
        params: Vec<Param>,
    },
    /// `RCPT TO:<path> [params]`
    Rcpt {
        /// The forward-path.
        to: ForwardPath,
        /// ESMTP parameters, in the order sent.
        params: Vec<Param>,
    },
    /// `DATA`
    Data,
    /// `RSET`
    Rset,
    /// `VRFY string`
    Vrfy(String),
    /// `EXPN string`
    Expn(String),
    /// `HELP [string]`
    Help(Option<String>),
    /// `NOOP [string]`
    Noop(Option<String>),
    /// `QUIT`
    Quit,
    /// `STARTTLS`
    StartTls,
    /// `AUTH mechanism [initial-response]`
    Auth {
        /// SASL mechanism name, upper case (RFC 4954 §4: 1*20 of A-Z, 0-9, "-", "_").
        mechanism: String,
        /// Base64 initial response, or `=` for an empty one.
        initial_response: Option<String>,
    },
    /// `BDAT size [LAST]`
    Bdat {
        /// Octets of the chunk that follows the command line.
        size: u64,
        /// `LAST` marks the final chunk.
        last: bool,
    },
    /// `ETRN node` (RFC 1985: a domain, `@domain`, or `#queue`)
    Etrn(String),
}

impl Command {
    /// The command's verb.
    pub fn verb(&self) -> Verb {
        match self {
            Self::Ehlo(_) => Verb::Ehlo,
            Self::Helo(_) => Verb::Helo,
            Self::Mail { .. } => Verb::Mail,
            Self::Rcpt { .. } => Verb::Rcpt,
            Self::Data => Verb::Data,
            Self::Rset => Verb::Rset,
            Self::Vrfy(_) => Verb::Vrfy,
            Self::Expn(_) => Verb::Expn,
            Self::Help(_) => Verb::Help,
            Self::Noop(_) => Verb::Noop,
            Self::Quit => Verb::Quit,
            Self::StartTls => Verb::StartTls,
            Self::Auth { .. } => Verb::Auth,
            Self::Bdat { .. } => Verb::Bdat,
            Self::Etrn(_) => Verb::Etrn,
        }
    }

    /// Parse one command line (without CRLF), strictly, in an ASCII session.
    pub fn parse(line: &[u8]) -> Result<Self, CommandError> {
        Self::parse_with(line, ParseOptions::default())?.strict()
    }

    /// Parse one command line (without CRLF), accepting known leniencies and naming them.
    pub fn parse_with(line: &[u8], options: ParseOptions) -> Result<Parsed, CommandError> {
        parse::parse(line, options)
    }

    /// The command as it goes on the wire, with CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = self.to_string().into_bytes();
        s.extend_from_slice(crate::limits::CRLF);
        s
    }
}

impl fmt::Display for Command {
    /// The command line without CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
            params.iter().try_for_each(|p| write!(f, " {p}"))
        }
        fn opt(f: &mut fmt::Formatter<'_>, verb: &str, arg: &Option<String>) -> fmt::Result {
            match arg {
                Some(a) => write!(f, "{verb} {a}"),
                None => f.write_str(verb),
            }
        }
        match self {
            Self::Ehlo(h) => write!(f, "EHLO {h}"),
            Self::Helo(h) => write!(f, "HELO {h}"),
            Self::Mail { from, params: p } => {
                write!(f, "MAIL FROM:{from}")?;
                params(f, p)
            }
            Self::Rcpt { to, params: p } => {
                write!(f, "RCPT TO:{to}")?;
                params(f, p)
            }
            Self::Data => f.write_str("DATA"),
            Self::Rset => f.write_str("RSET"),
            Self::Vrfy(s) => write!(f, "VRFY {s}"),
            Self::Expn(s) => write!(f, "EXPN {s}"),
            Self::Help(s) => opt(f, "HELP", s),
            Self::Noop(s) => opt(f, "NOOP", s),
            Self::Quit => f.write_str("QUIT"),
            Self::StartTls => f.write_str("STARTTLS"),
            Self::Auth {
                mechanism,
                initial_response,
            } => opt(f, &format!("AUTH {mechanism}"), initial_response),
            Self::Bdat { size, last: false } => write!(f, "BDAT {size}"),
            Self::Bdat { size, last: true } => write!(f, "BDAT {size} LAST"),
            Self::Etrn(node) => write!(f, "ETRN {node}"),
        }
    }
}

/// Context a parse needs from the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// The transaction was opened with `MAIL ... SMTPUTF8`, so UTF-8 addresses are legal
    /// in RCPT (RFC 6531 §3.4). A MAIL command carrying SMTPUTF8 allows them by itself.
    pub smtputf8: bool,
}

/// A command and the leniencies its parse needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The command.
    pub command: Command,
    /// Every departure from the strict grammar that was accepted, in order of discovery.
    pub leniencies: Vec<Leniency>,
}

impl Parsed {
    /// The command if the parse needed no leniency, else the first leniency as an error.
    pub fn strict(self) -> Result<Command, CommandError> {
        match self.leniencies.first() {
            None => Ok(self.command),
            Some(&leniency) => Err(CommandError::Lenient {
                verb: self.command.verb(),
                leniency,
            }),
        }
    }
}

/// Why a command line was refused, with the reply code RFC 5321 prescribes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// An empty line.
    Empty,
    /// A verb smtpspec does not know (500, RFC 5321 §4.2.4).
    UnknownVerb {
        /// The verb as sent (lossy UTF-8, at most 32 characters).
        verb: String,
    },
    /// The arguments do not match the verb's grammar (501).
    Syntax {
        /// The verb.
        verb: Verb,
        /// Where and what.
        error: SyntaxError,
    },
    /// A leniency that a strict parse refuses (501).
    Lenient {
        /// The verb.
        verb: Verb,
        /// Which departure.
        leniency: Leniency,
    },
}

impl CommandError {
    /// The reply code for this error: 500 for an unrecognised command, 501 for bad
    /// arguments (RFC 5321 §4.3.2).
    pub fn reply_code(&self) -> u16 {
        match self {
            Self::Empty | Self::UnknownVerb { .. } => 500,
            Self::Syntax { .. } | Self::Lenient { .. } => 501,
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty command line"),
            Self::UnknownVerb { verb } => write!(f, "unknown command verb {verb:?}"),
            Self::Syntax { verb, error } => write!(f, "{verb}: {error}"),
            Self::Lenient { verb, leniency } => write!(f, "{verb}: not strict: {leniency}"),
        }
    }
}

impl std::error::Error for CommandError {}
