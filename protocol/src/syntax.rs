//! The cursor that every parser of this crate reads with, and the located syntax error it
//! produces. One reader means one notion of "offset" in every error message.

use std::fmt;

/// A syntax error at an octet offset of the parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Offset into the line (0-based, in octets) where parsing stopped.
    pub offset: usize,
    /// What the grammar wanted there, in words of the RFC's ABNF.
    pub expected: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at octet {}: expected {}", self.offset, self.expected)
    }
}

impl std::error::Error for SyntaxError {}

/// A forward-only reader over one line.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        Self { s, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn set_pos(&mut self, pos: usize) {
        self.pos = pos.min(self.s.len());
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    pub(crate) fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.pos + ahead).copied()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.s[self.pos..]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(crate) fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    /// Consume `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consume `word` if it is next, ignoring ASCII case (ABNF strings are
    /// case-insensitive, RFC 5234 §2.3).
    pub(crate) fn eat_ci(&mut self, word: &[u8]) -> bool {
        if self.rest().len() >= word.len() && self.rest()[..word.len()].eq_ignore_ascii_case(word) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// Consume octets while `pred` holds; return them.
    pub(crate) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    pub(crate) fn expect(&mut self, b: u8, expected: &'static str) -> Result<(), SyntaxError> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    pub(crate) fn error(&self, expected: &'static str) -> SyntaxError {
        SyntaxError {
            offset: self.pos,
            expected,
        }
    }

    /// Consume one UTF-8 encoded non-ASCII character (RFC 6531 `UTF8-non-ascii`).
    pub(crate) fn utf8_non_ascii(&mut self) -> Option<&'a str> {
        let first = self.peek()?;
        let width = match first {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return None,
        };
        let bytes = self.s.get(self.pos..self.pos + width)?;
        let ch = std::str::from_utf8(bytes).ok()?;
        self.pos += width;
        Some(ch)
    }
}

/// RFC 5322 `atext`: the characters of an unquoted local part, besides the dot.
pub(crate) fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// RFC 5321 `qtextSMTP`: printable ASCII or space, except `"` and `\`.
pub(crate) fn is_qtext(b: u8) -> bool {
    matches!(b, 32..=33 | 35..=91 | 93..=126)
}

/// RFC 5321 `esmtp-value` octets: any CHAR except "=", SP and controls.
pub(crate) fn is_esmtp_value_char(b: u8) -> bool {
    matches!(b, 33..=60 | 62..=126)
}

/// RFC 5321 `esmtp-keyword` octets after the first.
pub(crate) fn is_keyword_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}
