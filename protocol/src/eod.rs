//! End-of-data sequences: the standard `<CRLF>.<CRLF>` and the non-standard variants that
//! SMTP smuggling exploits (SEC Consult 2023; CVE-2023-51764/51765/51766).
//!
//! RFC 5321 §4.1.1.4 ends the mail data with "the character sequence `<CRLF>.<CRLF>`"
//! and §2.3.8 forbids treating a bare CR or LF as a line end. A receiver that ends DATA
//! on any other sequence lets a sender smuggle a second message past the first hop. This
//! module names each variant and finds it in a byte stream; [`crate::data`] decides
//! whether it ends the data.

use std::fmt;

/// A sequence that ends, or that a lenient receiver might take to end, the mail data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum EndOfData {
    /// `\r\n.\r\n`: the only end of RFC 5321 §4.1.1.4.
    CrLfDotCrLf,
    /// `\n.\n` (bare LF on both sides).
    LfDotLf,
    /// `\r.\r` (bare CR on both sides).
    CrDotCr,
    /// `\n.\r\n`: the Exim CVE-2023-51766 sequence.
    LfDotCrLf,
    /// `\r\n.\n`
    CrLfDotLf,
    /// `\r.\n`
    CrDotLf,
    /// `\n.\r`
    LfDotCr,
    /// `\r.\r\n`
    CrDotCrLf,
    /// `\r\n.\r` followed by neither LF nor CR.
    CrLfDotCr,
    /// `\r\n\0.\r\n`: a NUL before the dot.
    NulBeforeDot,
    /// `\r\n.\r\r\n`: an extra CR after the dot (Postfix before 2024-01 stripped it).
    CrLfDotCrCrLf,
    /// `\r\n.\0\r\n`: a NUL after the dot, for a receiver that drops NUL from a line
    /// before it compares the line with `.`.
    NulAfterDot,
}

struct Pattern {
    end: EndOfData,
    bytes: &'static [u8],
    /// An octet that must not come just before `bytes` (it would make the first LF part
    /// of a CRLF, i.e. another variant).
    not_after: Option<u8>,
    /// Octets that must not come just after `bytes`; non-empty means one octet of
    /// look-ahead is needed.
    not_before: &'static [u8],
    /// Index in `bytes` where the data would be cut: the dot, or the NUL before it.
    cut: usize,
}

const fn p(
    end: EndOfData,
    bytes: &'static [u8],
    not_after: Option<u8>,
    not_before: &'static [u8],
    cut: usize,
) -> Pattern {
    Pattern {
        end,
        bytes,
        not_after,
        not_before,
        cut,
    }
}

/// Checked in order; the first match wins.
const PATTERNS: [Pattern; 12] = [
    p(EndOfData::CrLfDotCrLf, b"\r\n.\r\n", None, b"", 2),
    p(EndOfData::NulBeforeDot, b"\r\n\0.\r\n", None, b"", 2),
    p(EndOfData::NulAfterDot, b"\r\n.\0\r\n", None, b"", 2),
    p(EndOfData::CrLfDotCrCrLf, b"\r\n.\r\r\n", None, b"", 2),
    p(EndOfData::LfDotLf, b"\n.\n", Some(b'\r'), b"", 1),
    p(EndOfData::LfDotCrLf, b"\n.\r\n", Some(b'\r'), b"", 1),
    p(EndOfData::CrLfDotLf, b"\r\n.\n", None, b"", 2),
    p(EndOfData::CrDotLf, b"\r.\n", None, b"", 1),
    p(EndOfData::CrDotCrLf, b"\r.\r\n", None, b"", 1),
    p(EndOfData::CrDotCr, b"\r.\r", None, b"\n", 1),
    p(EndOfData::LfDotCr, b"\n.\r", Some(b'\r'), b"\n", 1),
    p(EndOfData::CrLfDotCr, b"\r\n.\r", None, b"\n\r", 2),
];

impl EndOfData {
    /// Every variant, standard first.
    pub const ALL: [Self; 12] = [
        Self::CrLfDotCrLf,
        Self::LfDotLf,
        Self::CrDotCr,
        Self::LfDotCrLf,
        Self::CrLfDotLf,
        Self::CrDotLf,
        Self::LfDotCr,
        Self::CrDotCrLf,
        Self::CrLfDotCr,
        Self::NulBeforeDot,
        Self::CrLfDotCrCrLf,
        Self::NulAfterDot,
    ];

    /// The octets of the sequence.
    pub fn bytes(self) -> &'static [u8] {
        PATTERNS
            .iter()
            .find(|p| p.end == self)
            .map_or(b"\r\n.\r\n", |p| p.bytes)
    }

    /// A stable name, as the smuggling tools spell them (`lf.lf`, `crlf.cr crlf`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::CrLfDotCrLf => "crlf.crlf",
            Self::LfDotLf => "lf.lf",
            Self::CrDotCr => "cr.cr",
            Self::LfDotCrLf => "lf.crlf",
            Self::CrLfDotLf => "crlf.lf",
            Self::CrDotLf => "cr.lf",
            Self::LfDotCr => "lf.cr",
            Self::CrDotCrLf => "cr.crlf",
            Self::CrLfDotCr => "crlf.cr",
            Self::NulBeforeDot => "crlf-nul.crlf",
            Self::CrLfDotCrCrLf => "crlf.cr-crlf",
            Self::NulAfterDot => "crlf.nul-crlf",
        }
    }

    /// The octets written with `\r`, `\n` and `\0`, for a sentence that shows them
    /// (a name alone does not say which octets a reader should look for).
    pub fn escaped(self) -> &'static str {
        match self {
            Self::CrLfDotCrLf => "\\r\\n.\\r\\n",
            Self::LfDotLf => "\\n.\\n",
            Self::CrDotCr => "\\r.\\r",
            Self::LfDotCrLf => "\\n.\\r\\n",
            Self::CrLfDotLf => "\\r\\n.\\n",
            Self::CrDotLf => "\\r.\\n",
            Self::LfDotCr => "\\n.\\r",
            Self::CrDotCrLf => "\\r.\\r\\n",
            Self::CrLfDotCr => "\\r\\n.\\r",
            Self::NulBeforeDot => "\\r\\n\\0.\\r\\n",
            Self::CrLfDotCrCrLf => "\\r\\n.\\r\\r\\n",
            Self::NulAfterDot => "\\r\\n.\\0\\r\\n",
        }
    }

    /// Look a variant up by [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// True only for `<CRLF>.<CRLF>`.
    pub fn is_standard(self) -> bool {
        self == Self::CrLfDotCrLf
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for EndOfData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of end-of-data variants; the standard one is always in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndSet(u16);

impl Default for EndSet {
    fn default() -> Self {
        Self::STANDARD
    }
}

impl EndSet {
    /// Only `<CRLF>.<CRLF>`, as RFC 5321 requires.
    pub const STANDARD: Self = Self(1);
    /// No sequence at all (for [`crate::data::DataConfig::lf_regime`]).
    pub const NONE: Self = Self(0);

    /// This set with `end` added.
    pub fn with(self, end: EndOfData) -> Self {
        Self(self.0 | end.bit())
    }

    /// Both sets.
    pub fn or(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// True if `end` is in the set.
    pub fn contains(self, end: EndOfData) -> bool {
        self.0 & end.bit() != 0
    }
}

/// A match found by [`Window::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Match {
    pub(crate) end: EndOfData,
    /// How many octets back from the newest one the cut point lies (0 = newest).
    pub(crate) cut_back: usize,
    /// The newest octet is look-ahead, not part of the sequence.
    pub(crate) lookahead: bool,
}

/// The last few octets of a stream, to recognise sequences across any split.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    buf: [u8; 8],
    len: usize,
}

impl Window {
    /// A window that starts as if a CRLF had just been read: mail data follows the CRLF
    /// of the DATA command, so `.\r\n` at the very start ends empty data.
    pub(crate) fn after_crlf() -> Self {
        let mut buf = [0; 8];
        buf[6] = b'\r';
        buf[7] = b'\n';
        Self { buf, len: 2 }
    }

    /// The octet `back` positions before the newest (0 = newest).
    pub(crate) fn get(&self, back: usize) -> Option<u8> {
        (back < self.len).then(|| self.buf[7 - back])
    }

    /// Add up to eight octets at once without looking for a match: for a run of
    /// octets in which, by the caller's knowledge, no pattern can end.
    pub(crate) fn shift_in(&mut self, octets: &[u8]) {
        let t = octets.len().min(8);
        self.buf.copy_within(t.., 0);
        self.buf[8 - t..].copy_from_slice(&octets[octets.len() - t..]);
        self.len = (self.len + t).min(8);
    }

    /// Add an octet; report the sequence that now ends at (or one before) it.
    pub(crate) fn push(&mut self, b: u8) -> Option<Match> {
        self.buf.copy_within(1.., 0);
        self.buf[7] = b;
        self.len = (self.len + 1).min(8);
        // Every pattern has a dot within its last four octets (plus look-ahead).
        if !(1..5).any(|k| self.get(k) == Some(b'.')) && b != b'.' {
            return None;
        }
        PATTERNS.iter().find_map(|p| self.matches(p))
    }

    fn matches(&self, p: &Pattern) -> Option<Match> {
        let ahead = usize::from(!p.not_before.is_empty());
        let n = p.bytes.len();
        if self.len < n + ahead {
            return None;
        }
        let end = 8 - ahead;
        // Octet by octet from the end, where most patterns already differ: a slice
        // comparison is a call to `bcmp`, made for every pattern at every octet near a
        // dot (and, under libFuzzer, intercepted and recorded each time).
        if !self.buf[end - n..end]
            .iter()
            .rev()
            .zip(p.bytes.iter().rev())
            .all(|(a, b)| a == b)
        {
            return None;
        }
        if ahead == 1 && p.not_before.contains(&self.buf[7]) {
            return None;
        }
        if let Some(bad) = p.not_after
            && self.len > n + ahead
            && self.buf[end - n - 1] == bad
        {
            return None;
        }
        Some(Match {
            end: p.end,
            cut_back: n - 1 - p.cut + ahead,
            lookahead: ahead == 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(bytes: &[u8]) -> Vec<EndOfData> {
        let mut w = Window::after_crlf();
        bytes
            .iter()
            .filter_map(|&b| w.push(b))
            .map(|m| m.end)
            .collect()
    }

    #[test]
    fn each_variant_is_recognised_alone() {
        for end in EndOfData::ALL {
            let mut stream = b"Subject: x\r\n\r\nbody".to_vec();
            stream.extend_from_slice(end.bytes());
            stream.extend_from_slice(b"MAIL");
            assert_eq!(scan(&stream), vec![end], "{end}");
        }
    }

    #[test]
    fn dot_stuffed_lines_are_not_ends() {
        assert!(scan(b"a\r\n..\r\nb\r\n.x\r\n").is_empty());
    }

    #[test]
    fn data_may_end_at_once() {
        assert_eq!(scan(b".\r\n"), vec![EndOfData::CrLfDotCrLf]);
    }

    #[test]
    fn names_round_trip() {
        for end in EndOfData::ALL {
            assert_eq!(EndOfData::from_name(end.name()), Some(end));
            let escaped = end
                .escaped()
                .replace("\\r", "\r")
                .replace("\\n", "\n")
                .replace("\\0", "\0");
            assert_eq!(escaped.as_bytes(), end.bytes(), "{end}");
        }
        let set = EndSet::STANDARD.with(EndOfData::LfDotLf);
        assert!(set.contains(EndOfData::LfDotLf) && set.contains(EndOfData::CrLfDotCrLf));
        assert!(!set.contains(EndOfData::CrDotCr));
    }
}
