//! DATA transparency (RFC 5321 §4.5.2) and the end of mail data (§4.1.1.4).
//!
//! Sending: [`dot_stuff`] doubles every dot that starts a line and appends the
//! terminator. Receiving: [`DataDecoder`] removes those dots, ends the data on
//! `<CRLF>.<CRLF>` only (unless configured to model a broken server), and reports every
//! bare CR, bare LF, NUL, 8-bit octet, over-long line and non-standard end-of-data
//! sequence it saw, with its offset in the received stream.

use crate::eod::{EndOfData, EndSet, Window};
use crate::limits::MAX_TEXT_LINE;

/// Prepare a message for DATA: dot-stuff lines (a line starts at the beginning and after
/// each CRLF), make sure it ends with CRLF, and append `.` CRLF.
///
/// Bare CR and LF are passed through as they are: the caller decides whether to send
/// them (a smuggling test must be able to).
pub fn dot_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 5);
    let mut line_start = true;
    for (i, &b) in body.iter().enumerate() {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n' && i > 0 && body[i - 1] == b'\r';
    }
    if !body.is_empty() && !body.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Make every line end CRLF: a bare LF or a bare CR becomes CRLF. A client that takes a
/// message from a Unix file must do this before DATA, because RFC 5321 §2.3.8 allows
/// only CRLF in SMTP and a bare LF is what smuggling rides on (§4.1.1.4).
pub fn crlf_lines(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32);
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\r' if text.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The 7-bit octets that play a part in end sequences, dot-stuffing or findings (every
/// 8-bit octet is a finding too).
const DATA_STOPS: &[u8] = b"\r\n.\0";

/// True for octets that play no part in end sequences, dot-stuffing or findings.
fn is_plain(b: u8) -> bool {
    b < 0x80 && !DATA_STOPS.contains(&b)
}

/// How a [`DataDecoder`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataConfig {
    /// Store at most this many octets of content; the rest is counted but dropped, so a
    /// server can refuse an over-size message at the end of data (RFC 1870 §6) without
    /// holding it.
    pub max_stored: usize,
    /// Sequences that end the data. RFC 5321 allows only the standard one.
    pub accept: EndSet,
    /// Remove the dot that starts a line (RFC 5321 §4.5.2). Off only to model a broken
    /// server.
    pub unstuff: bool,
    /// Sequences that also end the data once the message's first line ended with a
    /// bare LF: servers that pick a line-end regime per message do this. RFC 5321
    /// allows none; set only to model such a server.
    pub lf_regime: EndSet,
    /// Drop NUL octets before anything else sees them. RFC 5321 has content carried
    /// as sent; set only to model a server that cleans it as it reads (and so ends
    /// the data on `<CRLF>.<NUL><CRLF>`).
    pub drop_nul: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            max_stored: usize::MAX,
            accept: EndSet::STANDARD,
            unstuff: true,
            lf_regime: EndSet::NONE,
            drop_nul: false,
        }
    }
}

/// The most non-standard end sequences remembered per message.
pub const MAX_RECORDED_ENDS: usize = 16;

/// What was suspicious in the mail data. Offsets count octets of the received stream
/// (before unstuffing), from the first octet after the DATA command's CRLF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataFindings {
    /// First bare CR (RFC 5321 §2.3.8), and how many.
    pub bare_cr: Option<u64>,
    /// Count of bare CRs.
    pub bare_cr_count: u64,
    /// First bare LF (RFC 5321 §2.3.8).
    pub bare_lf: Option<u64>,
    /// Count of bare LFs.
    pub bare_lf_count: u64,
    /// First NUL.
    pub nul: Option<u64>,
    /// First octet above 127 (legal only with BODY=8BITMIME, RFC 6152).
    pub eight_bit: Option<u64>,
    /// Start of the first line longer than 1000 octets with CRLF (RFC 5321 §4.5.3.1.6).
    pub overlong_line: Option<u64>,
    /// Longest line seen, with its CRLF.
    pub longest_line: u64,
    /// Non-standard end sequences that did not end the data, with their offsets (the
    /// first [`MAX_RECORDED_ENDS`]).
    pub non_standard_ends: Vec<(EndOfData, u64)>,
}

/// Incremental decoder of the mail data that follows a 354 reply.
#[derive(Debug, Clone)]
pub struct DataDecoder {
    config: DataConfig,
    body: Vec<u8>,
    /// Content octets produced so far (stored or not).
    size: u64,
    /// Content size before each octet of `window`, newest last.
    sizes: [u64; 8],
    window: Window,
    /// Raw octets consumed.
    offset: u64,
    line_len: u64,
    findings: DataFindings,
    end: Option<EndOfData>,
}

impl DataDecoder {
    /// A decoder at the first octet after the DATA command (or after the 354 reply).
    pub fn new(config: DataConfig) -> Self {
        Self {
            config,
            body: Vec::new(),
            size: 0,
            sizes: [0; 8],
            window: Window::after_crlf(),
            offset: 0,
            line_len: 0,
            findings: DataFindings::default(),
            end: None,
        }
    }

    /// Read `input`; returns how many octets belong to the mail data. After the end
    /// sequence the rest of `input` is not consumed: it is the next command (pipelining)
    /// or an attack (smuggling), for the caller to judge.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        if self.end.is_some() {
            return 0;
        }
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            let prev = self.window.get(0);
            if is_plain(b) && prev.is_some_and(is_plain) {
                // Fast path: a run of octets that can neither start, end nor guard an
                // end sequence, nor be a finding. Only the last few enter the window.
                let run = crate::scan::plain_prefix(&input[i..], DATA_STOPS);
                self.plain_run(&input[i..i + run]);
                i += run;
                continue;
            }
            if b == 0 && self.config.drop_nul {
                i += 1;
                continue;
            }
            self.sizes.copy_within(1.., 0);
            self.sizes[7] = self.size;
            if let Some(m) = self.window.push(b) {
                if self.config.accept.contains(m.end) {
                    self.size = self.sizes[7 - m.cut_back];
                    if let Ok(keep) = usize::try_from(self.size) {
                        self.body.truncate(keep);
                    }
                    self.end = Some(m.end);
                    let consumed = if m.lookahead { i } else { i + 1 };
                    self.offset += consumed as u64;
                    return consumed;
                }
                if self.findings.non_standard_ends.len() < MAX_RECORDED_ENDS {
                    let back = m.cut_back as u64;
                    let at = (self.offset + i as u64).saturating_sub(back);
                    self.findings.non_standard_ends.push((m.end, at));
                }
            }
            self.observe(prev, b, self.offset + i as u64);
            let line_start = self.window.get(1) == Some(b'\n') && self.window.get(2) == Some(b'\r');
            if !(b == b'.' && line_start && self.config.unstuff) {
                self.size += 1;
                if self.body.len() < self.config.max_stored {
                    self.body.push(b);
                }
            }
            i += 1;
        }
        self.offset += input.len() as u64;
        input.len()
    }

    /// Take a run of plain octets (see [`is_plain`]) that follows a plain octet.
    fn plain_run(&mut self, run: &[u8]) {
        let n = run.len();
        let tail = n.min(8);
        // The window and the sizes before each of its octets move on by the last
        // octets of the run at once; no pattern ends at a plain octet after a plain
        // octet, so there is nothing to match.
        self.sizes.copy_within(tail.., 0);
        for k in 0..tail {
            self.sizes[8 - tail + k] = self.size + (n - tail + k) as u64;
        }
        self.window.shift_in(&run[n - tail..]);
        let room = self
            .config
            .max_stored
            .saturating_sub(self.body.len())
            .min(n);
        self.body.extend_from_slice(&run[..room]);
        self.size += n as u64;
        self.line_len += n as u64;
    }

    fn observe(&mut self, prev: Option<u8>, b: u8, at: u64) {
        let f = &mut self.findings;
        if prev == Some(b'\r') && b != b'\n' {
            f.bare_cr.get_or_insert(at - 1);
            f.bare_cr_count += 1;
        }
        match b {
            b'\n' if prev != Some(b'\r') => {
                // The first line ends here, in a bare LF: a per-message regime switches.
                if f.bare_lf.is_none() && f.longest_line == 0 {
                    self.config.accept = self.config.accept.or(self.config.lf_regime);
                }
                f.bare_lf.get_or_insert(at);
                f.bare_lf_count += 1;
            }
            0 => {
                f.nul.get_or_insert(at);
            }
            128..=255 => {
                f.eight_bit.get_or_insert(at);
            }
            _ => {}
        }
        self.line_len += 1;
        if b == b'\n' && prev == Some(b'\r') {
            f.longest_line = f.longest_line.max(self.line_len);
            if self.line_len > MAX_TEXT_LINE as u64 {
                f.overlong_line.get_or_insert(at + 1 - self.line_len);
            }
            self.line_len = 0;
        }
    }

    /// The sequence that ended the data, once it has.
    pub fn end(&self) -> Option<EndOfData> {
        self.end
    }

    /// True once the data has ended.
    pub fn is_done(&self) -> bool {
        self.end.is_some()
    }

    /// Content octets received (after unstuffing), including any not stored.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// True if content was dropped because it passed `max_stored`.
    pub fn overflowed(&self) -> bool {
        self.size > self.body.len() as u64
    }

    /// The stored content.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// What was suspicious.
    pub fn findings(&self) -> &DataFindings {
        &self.findings
    }

    /// The stored content and the findings.
    pub fn into_parts(self) -> (Vec<u8>, DataFindings) {
        (self.body, self.findings)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn crlf_lines_repairs_every_bare_ending() {
        assert_eq!(crlf_lines(b"a\nb\rc\r\nd\n\r"), b"a\r\nb\r\nc\r\nd\r\n\r\n");
        assert_eq!(crlf_lines(b""), b"");
    }

    use super::*;

    fn decode(config: DataConfig, input: &[u8]) -> (DataDecoder, usize) {
        let mut d = DataDecoder::new(config);
        let n = d.feed(input);
        (d, n)
    }

    #[test]
    fn stuffing() {
        assert_eq!(dot_stuff(b""), b".\r\n");
        assert_eq!(dot_stuff(b"a"), b"a\r\n.\r\n");
        assert_eq!(dot_stuff(b".a\r\n.\r\n"), b"..a\r\n..\r\n.\r\n");
        assert_eq!(
            dot_stuff(b"a\n.b"),
            b"a\n.b\r\n.\r\n",
            "only CRLF starts a line"
        );
    }

    #[test]
    fn unstuffs_and_stops_at_the_standard_end() {
        let input = b"..a\r\n..\r\nb\r\n.\r\nQUIT\r\n";
        let (d, n) = decode(DataConfig::default(), input);
        assert_eq!(d.end(), Some(EndOfData::CrLfDotCrLf));
        assert_eq!(&input[n..], b"QUIT\r\n");
        assert_eq!(d.body(), b".a\r\n.\r\nb\r\n");
        assert_eq!(d.size(), 10);
    }

    #[test]
    fn non_standard_ends_are_recorded_not_obeyed() {
        let input = b"a\n.\nMAIL FROM:<x@y>\r\n.\r\n";
        let (d, n) = decode(DataConfig::default(), input);
        assert_eq!(n, input.len());
        assert_eq!(d.body(), b"a\n.\nMAIL FROM:<x@y>\r\n");
        assert_eq!(
            d.findings().non_standard_ends,
            vec![(EndOfData::LfDotLf, 2)]
        );
        assert_eq!(d.findings().bare_lf, Some(1));
        assert_eq!(d.findings().bare_lf_count, 2);
    }

    #[test]
    fn a_broken_server_can_accept_a_variant() {
        let config = DataConfig {
            accept: EndSet::STANDARD.with(EndOfData::LfDotLf),
            ..DataConfig::default()
        };
        let input = b"a\n.\nMAIL FROM:<x@y>\r\n";
        let (d, n) = decode(config, input);
        assert_eq!(d.end(), Some(EndOfData::LfDotLf));
        assert_eq!(d.body(), b"a\n");
        assert_eq!(&input[n..], b"MAIL FROM:<x@y>\r\n");
    }

    #[test]
    fn lookahead_variants_leave_the_next_octet() {
        let config = DataConfig {
            accept: EndSet::STANDARD.with(EndOfData::CrDotCr),
            ..DataConfig::default()
        };
        let mut d = DataDecoder::new(config);
        assert_eq!(d.feed(b"x\r.\r"), 4);
        assert!(!d.is_done());
        assert_eq!(d.feed(b"MAIL"), 0);
        assert_eq!(d.end(), Some(EndOfData::CrDotCr));
        assert_eq!(d.body(), b"x\r");
    }

    #[test]
    fn size_is_counted_past_the_storage_limit() {
        let config = DataConfig {
            max_stored: 4,
            ..DataConfig::default()
        };
        let (d, _) = decode(config, b"0123456789\r\n.\r\n");
        assert_eq!(d.size(), 12);
        assert_eq!(d.body(), b"0123");
        assert!(d.overflowed());
    }

    #[test]
    fn findings() {
        let long = vec![b'x'; 1200];
        let mut input = b"a\rb\0c\xff\r\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\r\n.\r\n");
        let (d, _) = decode(DataConfig::default(), &input);
        let f = d.findings();
        assert_eq!((f.bare_cr, f.nul, f.eight_bit), (Some(1), Some(3), Some(5)));
        assert_eq!(f.overlong_line, Some(8));
        assert_eq!(f.longest_line, 1202);
    }

    #[test]
    fn no_unstuffing_when_modelling_a_broken_server() {
        let config = DataConfig {
            unstuff: false,
            ..DataConfig::default()
        };
        let (d, _) = decode(config, b"..a\r\n.\r\n");
        assert_eq!(d.body(), b"..a\r\n");
    }
}
