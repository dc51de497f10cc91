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

    /// The octets between two positions, as UTF-8 text; callers pass only ranges they
    /// have validated, so the lossy conversion never replaces anything.
    pub(crate) fn text(&self, from: usize, to: usize) -> String {
        let bytes = &self.s[from..to];
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    pub(crate) fn slice(&self, from: usize, to: usize) -> &'a [u8] {
        &self.s[from..to]
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

/// Octet classes of the RFC grammars as one table: a load and a mask per octet instead
/// of a chain of range tests. Parsing runs on every command line the server reads, and
/// under the fuzzer every comparison is instrumented, so this is the hot path.
pub(crate) mod class {
    /// ALPHA / DIGIT
    pub(crate) const ALNUM: u8 = 1;
    /// RFC 5322 `atext` (letters, digits and ``!#$%&'*+-/=?^_`{|}~``)
    pub(crate) const ATEXT: u8 = 2;
    /// RFC 5321 `qtextSMTP`: printable ASCII or space except `"` and `\`
    pub(crate) const QTEXT: u8 = 4;
    /// RFC 5321 `esmtp-value`: CHAR except "=", SP and controls
    pub(crate) const VALUE: u8 = 8;
    /// `esmtp-keyword` / `Ldh-str` octets: ALPHA / DIGIT / "-"
    pub(crate) const LDH: u8 = 16;
    /// Domain label octets a lenient parse takes: `LDH` and "_"
    pub(crate) const LABEL: u8 = 32;
    /// Free text of VRFY, NOOP...: printable ASCII, SP, HTAB
    pub(crate) const TEXT: u8 = 64;
    /// An octet above 127
    pub(crate) const HIGH: u8 = 128;

    pub(crate) const TABLE: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut i = 0;
        while i < 256 {
            let b = i as u8;
            let mut k = 0;
            if b.is_ascii_alphanumeric() {
                k |= ALNUM | ATEXT | LDH | LABEL;
            }
            if b == b'-' {
                k |= LDH | LABEL;
            }
            if b == b'_' {
                k |= LABEL;
            }
            if matches!(b, 32..=33 | 35..=91 | 93..=126) {
                k |= QTEXT;
            }
            if matches!(b, 33..=60 | 62..=126) {
                k |= VALUE;
            }
            if matches!(b, 32..=126 | 9) {
                k |= TEXT;
            }
            if b >= 128 {
                k |= HIGH;
            }
            t[i] = k;
            i += 1;
        }
        let specials = b"!#$%&'*+-/=?^_`{|}~";
        let mut j = 0;
        while j < specials.len() {
            t[specials[j] as usize] |= ATEXT;
            j += 1;
        }
        t
    };
}

/// True if `b` is in any of the classes in `mask`.
#[inline]
pub(crate) fn is(b: u8, mask: u8) -> bool {
    class::TABLE[usize::from(b)] & mask != 0
}

/// RFC 5322 `atext`: the characters of an unquoted local part, besides the dot.
pub(crate) fn is_atext(b: u8) -> bool {
    is(b, class::ATEXT)
}

/// RFC 5321 `qtextSMTP`: printable ASCII or space, except `"` and `\`.
pub(crate) fn is_qtext(b: u8) -> bool {
    is(b, class::QTEXT)
}

/// RFC 5321 `esmtp-value` octets: any CHAR except "=", SP and controls.
pub(crate) fn is_esmtp_value_char(b: u8) -> bool {
    is(b, class::VALUE)
}

/// RFC 5321 `esmtp-keyword` octets after the first.
pub(crate) fn is_keyword_char(b: u8) -> bool {
    is(b, class::LDH)
}

/// `s` in upper case in `buf`, or an empty slice if it does not fit: for matching short
/// keywords without allocating.
pub(crate) fn upcase<'b>(s: &[u8], buf: &'b mut [u8; 16]) -> &'b [u8] {
    if s.len() > buf.len() {
        return &[];
    }
    for (d, b) in buf.iter_mut().zip(s) {
        *d = b.to_ascii_uppercase();
    }
    &buf[..s.len()]
}
