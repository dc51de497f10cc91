//! SMTP replies (RFC 5321 §4.2): codes, enhanced status codes, single and multiline
//! text, formatting, and an incremental parser that judges what a target sends.

mod code;
mod enhanced;
mod parse;

pub use code::{ANY_COMMAND, ReplyCode, ReplyTo, Sequence};
pub use enhanced::EnhancedCode;
pub use parse::{ParsedReply, ReplyError, ReplyFinding, ReplyParser};

/// One reply: a code, an optional enhanced status code, and one or more lines of text.
///
/// The enhanced code, when present, is written at the start of every line, as RFC 2034
/// §3 requires ("each line of the reply text"), and is not part of `lines`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    /// The reply code, the same on every line (RFC 5321 §4.2.1).
    pub code: ReplyCode,
    /// The enhanced status code (RFC 3463), if any.
    pub enhanced: Option<EnhancedCode>,
    /// The text of each line, without code, separator, enhanced code or CRLF. Never
    /// empty: a reply with no text has one empty line.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: ReplyCode, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced: None,
            lines: vec![text.into()],
        }
    }

    /// A one-line reply with an enhanced status code.
    pub fn enhanced(code: ReplyCode, enhanced: EnhancedCode, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced: Some(enhanced),
            lines: vec![text.into()],
        }
    }

    /// A multiline reply; an empty `lines` gives one empty line.
    pub fn multiline(code: ReplyCode, lines: Vec<String>) -> Self {
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        };
        Self {
            code,
            enhanced: None,
            lines,
        }
    }

    /// Parse exactly one complete reply from `bytes` (which must end with the final
    /// line's CRLF and hold nothing after it).
    pub fn parse(bytes: &[u8]) -> Result<ParsedReply, ReplyError> {
        let mut p = ReplyParser::new();
        p.push(bytes);
        let reply = match p.next_reply() {
            Some(r) => r?,
            None => {
                return Err(p
                    .finish()
                    .unwrap_or(ReplyError::MissingFinalLine { lines: 0 }));
            }
        };
        if !p.is_idle() {
            return Err(ReplyError::TrailingData);
        }
        Ok(reply)
    }

    /// The reply on the wire: every line `code`, `-` or (last) SP, enhanced code, text,
    /// CRLF. CR, LF and NUL in the text are written as spaces so that a reply can never
    /// break framing.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Written by hand rather than through `fmt`: every reply of the reference server
        // passes here, and this is its hot path under load.
        let code = self.code.get();
        let digits = [
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
        ];
        // The enhanced code is written once and copied onto every line, without the
        // allocation a formatted string costs (every reply of the server passes here).
        let mut enhanced_buf = [0u8; enhanced::ENHANCED_MAX];
        let enhanced = self.enhanced.map(|e| e.write_to(&mut enhanced_buf));
        let n = self.lines.len().max(1);
        let mut out =
            Vec::with_capacity(self.lines.iter().map(|l| l.len() + 16).sum::<usize>() + 8);
        for i in 0..n {
            let text = self.lines.get(i).map_or("", String::as_str);
            let last = i + 1 == n;
            out.extend_from_slice(&digits);
            if enhanced.is_some() || !text.is_empty() || !last {
                out.push(if last { b' ' } else { b'-' });
            }
            if let Some(e) = enhanced {
                out.extend_from_slice(e);
                if !text.is_empty() {
                    out.push(b' ');
                }
            }
            out.extend(text.bytes().map(|c| {
                if matches!(c, b'\r' | b'\n' | 0) {
                    b' '
                } else {
                    c
                }
            }));
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// A SASL challenge (RFC 4954 §4: `continue-req = "334" SP [base64] CRLF`). Unlike
    /// other replies, the space is there even when the challenge is empty.
    pub fn challenge(base64: &str) -> Vec<u8> {
        let mut out = b"334 ".to_vec();
        out.extend(base64.bytes().filter(|b| b.is_ascii_graphic()));
        out.extend_from_slice(b"\r\n");
        out
    }

    /// All lines joined with a newline, for messages to people.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_single_and_multiline() {
        assert_eq!(Reply::new(ReplyCode::OK, "Ok").to_bytes(), b"250 Ok\r\n");
        assert_eq!(Reply::new(ReplyCode::OK, "").to_bytes(), b"250\r\n");
        let r = Reply::multiline(
            ReplyCode::OK,
            vec!["mx.test".into(), "".into(), "SIZE 1000".into()],
        );
        assert_eq!(r.to_bytes(), b"250-mx.test\r\n250-\r\n250 SIZE 1000\r\n");
        let e = Reply::enhanced(
            ReplyCode::MAILBOX_UNAVAILABLE,
            EnhancedCode::BAD_MAILBOX,
            "no such user",
        );
        assert_eq!(e.to_bytes(), b"550 5.1.1 no such user\r\n");
    }

    #[test]
    fn text_cannot_break_framing() {
        let r = Reply::new(ReplyCode::OK, "a\r\n250 b");
        assert_eq!(r.to_bytes(), b"250 a  250 b\r\n");
    }
}
