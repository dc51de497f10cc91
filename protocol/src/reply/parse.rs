//! The incremental reply parser: what the harness and the reference client use to read a
//! server, and to judge it.
//!
//! Grammar (RFC 5321 §4.2):
//!
//! ```text
//! Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//!              Reply-code [ SP textstring ] CRLF
//! Reply-code = %x32-35 %x30-35 %x30-39
//! ```
//!
//! Anything that makes the reply impossible to understand (a line that does not start
//! with three digits, a code outside 2xx–5xx, a bad separator, codes that change within
//! one reply, a reply that never ends) is a [`ReplyError`]. Anything that is wrong but
//! leaves the meaning clear (an over-long line, a bare LF, an enhanced code that does not
//! match the reply's class) is a [`ReplyFinding`] attached to the parsed reply.

use std::fmt;

use super::{EnhancedCode, Reply, ReplyCode};
use crate::limits::{MAX_REPLY_LINE, MAX_REPLY_LINES};
use crate::line::{Ending, LineConfig, LineDecoder, LineFindings};

/// A problem that leaves the reply understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyFinding {
    /// Line `line` (1-based) was `length` octets with CRLF, over the 512 of RFC 5321
    /// §4.5.3.1.5.
    OverlongLine {
        /// 1-based line number within the reply.
        line: usize,
        /// Length including the terminator.
        length: usize,
    },
    /// Line `line` held bare CR/LF, NUL or 8-bit octets, or ended with a bare LF
    /// (RFC 5321 §2.3.8).
    BadOctets {
        /// 1-based line number within the reply.
        line: usize,
        /// Which octets.
        findings: LineFindings,
        /// The line ended with a bare LF instead of CRLF.
        bare_lf_ending: bool,
    },
    /// The enhanced code's class differs from the reply code's first digit
    /// (RFC 3463 §2; RFC 2034 §3).
    EnhancedClassMismatch {
        /// The reply code.
        code: ReplyCode,
        /// The enhanced code.
        enhanced: EnhancedCode,
    },
    /// The first line had an enhanced code but line `line` lacks it or has another one
    /// (RFC 2034 §3: every line carries the code).
    EnhancedCodeInconsistent {
        /// 1-based line number within the reply.
        line: usize,
    },
    /// The second digit of the code is 6 to 9, a category RFC 5321 §4.2.1 does not
    /// define.
    UndefinedCategory {
        /// The reply code.
        code: ReplyCode,
    },
}

impl fmt::Display for ReplyFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OverlongLine { line, length } => write!(
                f,
                "reply line {line} is {length} octets, over the {MAX_REPLY_LINE} of RFC 5321 §4.5.3.1.5"
            ),
            Self::BadOctets {
                line,
                findings,
                bare_lf_ending,
            } => {
                write!(f, "reply line {line}:")?;
                if *bare_lf_ending {
                    f.write_str(" ends with a bare LF")?;
                }
                if let Some(at) = findings.bare_cr {
                    write!(f, " bare CR at {at}")?;
                }
                if let Some(at) = findings.bare_lf {
                    write!(f, " bare LF at {at}")?;
                }
                if let Some(at) = findings.nul {
                    write!(f, " NUL at {at}")?;
                }
                if let Some(at) = findings.eight_bit {
                    write!(f, " 8-bit octet at {at}")?;
                }
                f.write_str(" (RFC 5321 §2.3.8)")
            }
            Self::EnhancedClassMismatch { code, enhanced } => write!(
                f,
                "enhanced code {enhanced} does not match the class of reply code {code} (RFC 3463 §2)"
            ),
            Self::EnhancedCodeInconsistent { line } => write!(
                f,
                "reply line {line} lacks the enhanced code of the first line (RFC 2034 §3)"
            ),
            Self::UndefinedCategory { code } => write!(
                f,
                "reply code {code} has an undefined second digit (RFC 5321 §4.2.1)"
            ),
        }
    }
}

/// A reply that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// Line `line` does not start with three digits.
    NonDigitCode {
        /// 1-based line number within the reply.
        line: usize,
        /// The start of the line, lossy UTF-8, for the report.
        text: String,
    },
    /// The code's first digit is not 2 to 5 (RFC 5321 §4.3.2).
    CodeOutOfRange {
        /// 1-based line number within the reply.
        line: usize,
        /// The three digits.
        code: u16,
    },
    /// After the code comes neither SP, `-`, nor the end of the line.
    BadSeparator {
        /// 1-based line number within the reply.
        line: usize,
        /// The octet found.
        found: u8,
    },
    /// Line `line` carries another code than the first line (RFC 5321 §4.2.1).
    MixedCodes {
        /// 1-based line number within the reply.
        line: usize,
        /// The code of the first line.
        first: u16,
        /// The code found on this line.
        found: u16,
    },
    /// More than [`MAX_REPLY_LINES`] continuation lines.
    TooManyLines,
    /// The stream ended inside a reply: after `lines` continuation lines, or in the
    /// middle of a line.
    MissingFinalLine {
        /// Complete continuation lines received.
        lines: usize,
    },
    /// Bytes followed a complete reply where none were expected.
    TrailingData,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonDigitCode { line, text } => {
                write!(
                    f,
                    "reply line {line} does not start with a three-digit code: {text:?}"
                )
            }
            Self::CodeOutOfRange { line, code } => write!(
                f,
                "reply line {line}: code {code} does not start with 2 to 5 (RFC 5321 §4.3.2)"
            ),
            Self::BadSeparator { line, found } => write!(
                f,
                "reply line {line}: expected SP or '-' after the code, found {:?}",
                char::from(*found)
            ),
            Self::MixedCodes { line, first, found } => write!(
                f,
                "reply line {line} has code {found} but the reply began with {first} (RFC 5321 §4.2.1)"
            ),
            Self::TooManyLines => write!(f, "reply has more than {MAX_REPLY_LINES} lines"),
            Self::MissingFinalLine { lines } => write!(
                f,
                "connection ended inside a reply after {lines} continuation line(s)"
            ),
            Self::TrailingData => f.write_str("data after the end of the reply"),
        }
    }
}

impl std::error::Error for ReplyError {}

/// A reply and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReply {
    /// The reply.
    pub reply: Reply,
    /// Problems that left it understood.
    pub findings: Vec<ReplyFinding>,
}

/// One reply line split into its parts: whether it is the last, and where its text
/// starts (after the code and the separator).
struct RawLine {
    last: bool,
    text_at: usize,
}

/// Incremental reply parser. Feed bytes with [`push`](Self::push); take replies with
/// [`next_reply`](Self::next_reply); call [`finish`](Self::finish) at end of stream.
#[derive(Debug, Clone)]
pub struct ReplyParser {
    lines: LineDecoder,
    texts: Vec<Vec<u8>>,
    code: Option<u16>,
    findings: Vec<ReplyFinding>,
}

impl Default for ReplyParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyParser {
    /// A parser that measures lines up to 8 times the RFC limit and reports longer ones.
    pub fn new() -> Self {
        Self {
            // Reading is lenient about bare LF (and reports it) so that a broken server
            // is judged rather than waited on.
            lines: LineDecoder::new(LineConfig {
                max_line: MAX_REPLY_LINE * 8,
                accept_bare_lf: true,
            }),
            texts: Vec::new(),
            code: None,
            findings: Vec::new(),
        }
    }

    /// Add received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.lines.push(bytes);
    }

    /// True when no reply is partly received and no input waits.
    pub fn is_idle(&self) -> bool {
        self.code.is_none() && self.lines.is_idle()
    }

    /// Input received after the last complete reply, handed back raw (e.g. bytes a
    /// server sent after its 220 to STARTTLS, before the handshake).
    pub fn take_remaining(&mut self) -> Vec<u8> {
        self.lines.take_remaining()
    }

    /// The next complete reply, an error for a reply that cannot be understood, or
    /// `None` until more bytes arrive. After an error the parser starts afresh with the
    /// next line.
    pub fn next_reply(&mut self) -> Option<Result<ParsedReply, ReplyError>> {
        while let Some(line) = self.lines.next_line() {
            let number = self.texts.len() + 1;
            if let Some(length) = line.overflow.map(|n| n + 2).or_else(|| {
                let len = line.wire_len();
                (len > MAX_REPLY_LINE).then_some(len)
            }) {
                self.findings.push(ReplyFinding::OverlongLine {
                    line: number,
                    length,
                });
            }
            if !line.findings.is_clean() || line.ending == Ending::BareLf {
                let mut findings = line.findings;
                if line.ending == Ending::BareLf {
                    // The terminator is reported by the ending, not as a stray octet.
                    findings.bare_lf = findings.bare_lf.filter(|&at| at < line.bytes.len());
                    findings.count -= 1;
                }
                self.findings.push(ReplyFinding::BadOctets {
                    line: number,
                    findings,
                    bare_lf_ending: line.ending == Ending::BareLf,
                });
            }
            match self.split(&line.bytes, number) {
                Ok(raw) => {
                    // The line's own buffer becomes the text: no copy, no allocation.
                    let mut text = line.bytes;
                    text.drain(..raw.text_at);
                    self.texts.push(text);
                    if raw.last {
                        return Some(Ok(self.complete()));
                    }
                    if self.texts.len() >= MAX_REPLY_LINES {
                        self.reset();
                        return Some(Err(ReplyError::TooManyLines));
                    }
                }
                Err(e) => {
                    self.reset();
                    return Some(Err(e));
                }
            }
        }
        None
    }

    /// Call at end of stream: an error if a reply was left incomplete.
    pub fn finish(&mut self) -> Option<ReplyError> {
        let partial = self.code.is_some() || !self.lines.is_idle();
        let lines = self.texts.len();
        self.reset();
        self.lines.take_remaining();
        partial.then_some(ReplyError::MissingFinalLine { lines })
    }

    fn reset(&mut self) {
        self.texts.clear();
        self.code = None;
        self.findings.clear();
    }

    fn split(&mut self, bytes: &[u8], line: usize) -> Result<RawLine, ReplyError> {
        let digits = bytes.get(..3).filter(|d| d.iter().all(u8::is_ascii_digit));
        let Some(digits) = digits else {
            return Err(ReplyError::NonDigitCode {
                line,
                text: String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned(),
            });
        };
        let code = digits
            .iter()
            .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        if !(200..=599).contains(&code) {
            return Err(ReplyError::CodeOutOfRange { line, code });
        }
        let (last, text_at) = match bytes.get(3) {
            None => (true, 3),
            Some(b' ') => (true, 4),
            Some(b'-') => (false, 4),
            Some(&found) => return Err(ReplyError::BadSeparator { line, found }),
        };
        match self.code {
            None => self.code = Some(code),
            Some(first) if first != code => {
                return Err(ReplyError::MixedCodes {
                    line,
                    first,
                    found: code,
                });
            }
            Some(_) => {}
        }
        Ok(RawLine { last, text_at })
    }

    fn complete(&mut self) -> ParsedReply {
        let raw_code = self.code.take().unwrap_or(500);
        let code = ReplyCode::new(raw_code).unwrap_or(ReplyCode::SYNTAX_ERROR);
        let texts = std::mem::take(&mut self.texts);
        let mut findings = std::mem::take(&mut self.findings);
        if code.category() > 5 {
            findings.push(ReplyFinding::UndefinedCategory { code });
        }
        let enhanced = texts
            .first()
            .and_then(|t| EnhancedCode::parse_prefix(t))
            .map(|(e, _)| e);
        if let Some(e) = enhanced
            && e.class != code.class()
        {
            findings.push(ReplyFinding::EnhancedClassMismatch { code, enhanced: e });
        }
        let lines = texts
            .into_iter()
            .enumerate()
            .map(|(i, mut t)| {
                let start = match (enhanced, EnhancedCode::parse_prefix(&t)) {
                    (Some(e), Some((found, len))) if found == e => len,
                    (Some(_), _) => {
                        findings.push(ReplyFinding::EnhancedCodeInconsistent { line: i + 1 });
                        0
                    }
                    (None, _) => 0,
                };
                t.drain(..start);
                // Valid UTF-8 keeps its buffer; anything else is decoded lossily.
                String::from_utf8(t)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            })
            .collect();
        ParsedReply {
            reply: Reply {
                code,
                enhanced,
                lines,
            },
            findings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Result<ParsedReply, ReplyError> {
        Reply::parse(bytes)
    }

    #[test]
    fn single_and_multiline() {
        let r = one(b"250 Ok\r\n").expect("reply");
        assert_eq!(r.reply, Reply::new(ReplyCode::OK, "Ok"));
        assert!(r.findings.is_empty());
        let r = one(b"250-mx.test greets you\r\n250-SIZE 10\r\n250 8BITMIME\r\n").expect("reply");
        assert_eq!(r.reply.lines.len(), 3);
        assert_eq!(one(b"250\r\n").expect("bare code").reply.lines, vec![""]);
        assert_eq!(
            one(b"250-\r\n250 x\r\n").expect("empty cont").reply.lines,
            vec!["", "x"]
        );
    }

    #[test]
    fn enhanced_codes_are_split_off_and_checked() {
        let r = one(b"550-5.1.1 no\r\n550 5.1.1 such user\r\n").expect("reply");
        assert_eq!(r.reply.enhanced, Some(EnhancedCode::BAD_MAILBOX));
        assert_eq!(r.reply.lines, vec!["no", "such user"]);
        assert!(r.findings.is_empty());
        let r = one(b"250 5.0.0 odd\r\n").expect("reply");
        assert!(matches!(
            r.findings[..],
            [ReplyFinding::EnhancedClassMismatch { .. }]
        ));
        let r = one(b"250-2.0.0 a\r\n250 b\r\n").expect("reply");
        assert_eq!(
            r.findings,
            vec![ReplyFinding::EnhancedCodeInconsistent { line: 2 }]
        );
    }

    #[test]
    fn malformed_replies_are_located() {
        assert_eq!(
            one(b"250-a\r\n251 b\r\n"),
            Err(ReplyError::MixedCodes {
                line: 2,
                first: 250,
                found: 251
            })
        );
        assert!(matches!(
            one(b"2x0 a\r\n"),
            Err(ReplyError::NonDigitCode { line: 1, .. })
        ));
        assert_eq!(
            one(b"650 a\r\n"),
            Err(ReplyError::CodeOutOfRange { line: 1, code: 650 })
        );
        assert_eq!(
            one(b"250_a\r\n"),
            Err(ReplyError::BadSeparator {
                line: 1,
                found: b'_'
            })
        );
        assert_eq!(
            one(b"250-a\r\n250-b\r\n"),
            Err(ReplyError::MissingFinalLine { lines: 2 })
        );
        assert_eq!(one(b"250 a\r\n250 b\r\n"), Err(ReplyError::TrailingData));
    }

    #[test]
    fn soft_problems_are_findings() {
        let long = format!("250 {}\r\n", "x".repeat(600));
        let r = one(long.as_bytes()).expect("reply");
        assert_eq!(
            r.findings,
            vec![ReplyFinding::OverlongLine {
                line: 1,
                length: 606
            }]
        );
        let r = one(b"250-a\n250 b\r\n").expect("reply");
        assert!(matches!(
            r.findings[..],
            [ReplyFinding::BadOctets {
                line: 1,
                bare_lf_ending: true,
                ..
            }]
        ));
    }

    #[test]
    fn endless_continuation_is_bounded() {
        let mut p = ReplyParser::new();
        let mut got = None;
        for _ in 0..=MAX_REPLY_LINES {
            p.push(b"250-x\r\n");
            if let Some(r) = p.next_reply() {
                got = Some(r);
                break;
            }
        }
        assert_eq!(got, Some(Err(ReplyError::TooManyLines)));
    }

    #[test]
    fn pipelined_replies_come_one_by_one() {
        let mut p = ReplyParser::new();
        p.push(b"250 a\r\n250 b\r\n354 go");
        assert_eq!(
            p.next_reply().map(|r| r.map(|r| r.reply.text())),
            Some(Ok("a".into()))
        );
        assert_eq!(
            p.next_reply().map(|r| r.map(|r| r.reply.text())),
            Some(Ok("b".into()))
        );
        assert!(p.next_reply().is_none());
        assert_eq!(p.finish(), Some(ReplyError::MissingFinalLine { lines: 0 }));
    }
}
