//! Line framing: cut a byte stream into SMTP lines on CRLF, with a length limit.
//!
//! RFC 5321 §2.3.8 says lines end with CRLF and that a receiver must not treat a bare CR
//! or a bare LF as a line end. Servers that do are open to SMTP smuggling and command
//! injection, so this decoder never normalises: it cuts only on CRLF (unless told to
//! accept bare LF, which exists to model broken peers) and reports every bare CR, bare LF,
//! NUL and 8-bit octet as a finding on the line that holds it.
//!
//! The decoder buffers at most `max_line` octets. An over-long line is not kept: the
//! first octets (up to the limit) are returned with [`Line::overflow`] set to the length
//! the line really had, so a server can answer 500 and carry on in step with the client
//! (RFC 5321 §4.5.3.1.4), while a deliberately broken server can model truncation.

use crate::limits::MAX_COMMAND_LINE;

/// Where a line was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ending {
    /// CR LF, the only line end of RFC 5321 §2.3.8.
    CrLf,
    /// A bare LF, accepted only when [`LineConfig::accept_bare_lf`] is set.
    BareLf,
}

/// The first offset of each kind of suspicious octet in a line, and how many there were.
///
/// First offsets rather than a list keep the memory of a hostile line bounded, and make
/// the findings independent of how the stream was split into reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LineFindings {
    /// A CR not followed by LF (RFC 5321 §2.3.8).
    pub bare_cr: Option<usize>,
    /// An LF not preceded by CR (RFC 5321 §2.3.8).
    pub bare_lf: Option<usize>,
    /// A NUL octet: no SMTP text may hold one (RFC 5321 §4.1.1.4 refers to RFC 5322 text).
    pub nul: Option<usize>,
    /// An octet above 127: legal only with 8BITMIME data or SMTPUTF8 (RFC 6152, RFC 6531).
    pub eight_bit: Option<usize>,
    /// How many suspicious octets of all kinds the line held.
    pub count: usize,
}

impl LineFindings {
    /// True when the line held nothing suspicious.
    pub fn is_clean(&self) -> bool {
        self.count == 0
    }

    fn note(slot: &mut Option<usize>, at: usize, count: &mut usize) {
        if slot.is_none() {
            *slot = Some(at);
        }
        *count += 1;
    }
}

/// One line cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line without its terminator; at most `max_line - 2` octets.
    pub bytes: Vec<u8>,
    /// How the line ended.
    pub ending: Ending,
    /// Suspicious octets anywhere in the line, including the part cut off by `overflow`.
    pub findings: LineFindings,
    /// The full length of the line (without terminator) when it was longer than the
    /// limit; `bytes` then holds only its start.
    pub overflow: Option<usize>,
}

impl Line {
    /// The line's length on the wire including its terminator.
    pub fn wire_len(&self) -> usize {
        let body = self.overflow.unwrap_or(self.bytes.len());
        body + match self.ending {
            Ending::CrLf => 2,
            Ending::BareLf => 1,
        }
    }
}

/// How a [`LineDecoder`] cuts lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineConfig {
    /// Longest line including CRLF; longer lines are reported through [`Line::overflow`].
    pub max_line: usize,
    /// Cut on a bare LF as well as CRLF. Wrong by RFC 5321 §2.3.8; exists so that the
    /// reference server can imitate servers that do it.
    pub accept_bare_lf: bool,
}

impl Default for LineConfig {
    fn default() -> Self {
        Self {
            max_line: MAX_COMMAND_LINE,
            accept_bare_lf: false,
        }
    }
}

/// The 7-bit octets a line decoder must look at one by one: the line end and the
/// findings. The scan stops at every 8-bit octet by itself, so they are not listed.
const LINE_STOPS: &[u8] = b"\r\n\0";

/// Room a decoder keeps between lines: a command or reply line, not a long one.
const KEPT_ROOM: usize = 256;

/// Incremental CRLF line decoder. Feed it bytes with [`push`](Self::push), take lines
/// with [`next_line`](Self::next_line).
#[derive(Debug, Clone)]
pub struct LineDecoder {
    config: LineConfig,
    /// Octets of the current line that fit under the limit.
    buf: Vec<u8>,
    /// Length of the current line so far, counting octets dropped past the limit.
    len: usize,
    /// The previous octet of the current line was a CR whose fate is not yet known.
    pending_cr: bool,
    findings: LineFindings,
    /// Unconsumed input, kept between `push` and `next_line`.
    input: Vec<u8>,
    input_pos: usize,
}

impl LineDecoder {
    /// A decoder with the given limit and policy.
    pub fn new(config: LineConfig) -> Self {
        Self {
            config,
            buf: Vec::new(),
            len: 0,
            pending_cr: false,
            findings: LineFindings::default(),
            input: Vec::new(),
            input_pos: 0,
        }
    }

    /// The decoder's policy.
    pub fn config(&self) -> LineConfig {
        self.config
    }

    /// Change the limit, for example to [`crate::limits::MAX_AUTH_LINE`] during an AUTH
    /// exchange. Applies from the next octet on.
    pub fn set_max_line(&mut self, max_line: usize) {
        self.config.max_line = max_line;
    }

    /// Add received bytes. They are held until taken by [`next_line`](Self::next_line)
    /// or [`take_remaining`](Self::take_remaining).
    pub fn push(&mut self, bytes: &[u8]) {
        if self.input_pos == self.input.len() {
            self.input.clear();
            self.input_pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Octets of the line under construction that are held (bounded by `max_line`),
    /// not counting unconsumed input.
    pub fn buffered(&self) -> usize {
        self.buf.len() + usize::from(self.pending_cr)
    }

    /// True when received input waits to be cut into lines: more was sent than has been
    /// taken so far (a pipelining peer).
    pub fn has_input(&self) -> bool {
        self.input_pos < self.input.len()
    }

    /// True when no line is partly received and no input waits.
    pub fn is_idle(&self) -> bool {
        self.len == 0 && !self.pending_cr && self.input_pos == self.input.len()
    }

    /// Unconsumed input and any partial line, handed back raw; for a switch from line
    /// mode to DATA or BDAT mode, where the same stream must be read differently.
    pub fn take_remaining(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        if self.pending_cr {
            out.push(b'\r');
        }
        out.extend_from_slice(&self.input[self.input_pos..]);
        self.reset_line();
        self.input.clear();
        self.input_pos = 0;
        out
    }

    /// Discard unconsumed input, keeping nothing; what a server must do with plaintext
    /// received before a TLS handshake (the CVE-2011-0411 class).
    pub fn discard_input(&mut self) -> usize {
        let n = self.take_remaining().len();
        self.input = Vec::new();
        n
    }

    /// The next complete line, if the input holds one.
    pub fn next_line(&mut self) -> Option<Line> {
        while self.input_pos < self.input.len() {
            if !self.pending_cr {
                // Fast path: a run of octets that neither end a line nor are a finding
                // is copied at once (a byte at a time, this loop was what parsing a
                // reply or a command cost).
                let rest = &self.input[self.input_pos..];
                let run = crate::scan::plain_prefix(rest, LINE_STOPS);
                if run > 0 {
                    let room = self
                        .config
                        .max_line
                        .saturating_sub(2)
                        .saturating_sub(self.buf.len());
                    self.buf.extend_from_slice(&rest[..run.min(room)]);
                    self.len += run;
                    self.input_pos += run;
                    continue;
                }
            }
            let b = self.input[self.input_pos];
            self.input_pos += 1;
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    return Some(self.finish(Ending::CrLf));
                }
                // The CR was bare: it stays in the line as data.
                let at = self.len;
                LineFindings::note(&mut self.findings.bare_cr, at, &mut self.findings.count);
                self.keep(b'\r');
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => {
                    if self.config.accept_bare_lf {
                        let at = self.len;
                        LineFindings::note(
                            &mut self.findings.bare_lf,
                            at,
                            &mut self.findings.count,
                        );
                        return Some(self.finish(Ending::BareLf));
                    }
                    let at = self.len;
                    LineFindings::note(&mut self.findings.bare_lf, at, &mut self.findings.count);
                    self.keep(b);
                }
                0 => {
                    let at = self.len;
                    LineFindings::note(&mut self.findings.nul, at, &mut self.findings.count);
                    self.keep(b);
                }
                128..=255 => {
                    let at = self.len;
                    LineFindings::note(&mut self.findings.eight_bit, at, &mut self.findings.count);
                    self.keep(b);
                }
                _ => self.keep(b),
            }
        }
        None
    }

    fn keep(&mut self, b: u8) {
        // Room for the content only: the limit counts the CRLF too.
        if self.buf.len() < self.config.max_line.saturating_sub(2) {
            self.buf.push(b);
        }
        self.len += 1;
    }

    fn finish(&mut self, ending: Ending) -> Line {
        let overflow = (self.len > self.buf.len()).then_some(self.len);
        // The line gets an exact copy; the buffer keeps its room for the next line
        // (a line arriving a few octets at a time then grows it once, not per line),
        // unless it grew past a short line's size: an idle session holds little.
        let bytes = if self.buf.capacity() <= KEPT_ROOM {
            self.buf.clone()
        } else {
            std::mem::take(&mut self.buf)
        };
        let line = Line {
            bytes,
            ending,
            findings: self.findings,
            overflow,
        };
        self.reset_line();
        line
    }

    fn reset_line(&mut self) {
        self.buf.clear();
        self.len = 0;
        self.pending_cr = false;
        self.findings = LineFindings::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(config: LineConfig, input: &[u8]) -> Vec<Line> {
        let mut d = LineDecoder::new(config);
        d.push(input);
        std::iter::from_fn(|| d.next_line()).collect()
    }

    #[test]
    fn cuts_on_crlf_only() {
        let got = lines(LineConfig::default(), b"HELO a\r\nNOOP\nQUIT\r\n");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].bytes, b"HELO a");
        assert_eq!(got[1].bytes, b"NOOP\nQUIT");
        assert_eq!(got[1].findings.bare_lf, Some(4));
    }

    #[test]
    fn bare_lf_can_be_accepted_but_is_still_reported() {
        let cfg = LineConfig {
            accept_bare_lf: true,
            ..LineConfig::default()
        };
        let got = lines(cfg, b"NOOP\nQUIT\r\n");
        assert_eq!(got[0].ending, Ending::BareLf);
        assert_eq!(got[0].findings.bare_lf, Some(4));
        assert_eq!(got[1].ending, Ending::CrLf);
    }

    #[test]
    fn bare_cr_nul_and_eight_bit_are_findings() {
        let got = lines(LineConfig::default(), b"a\rb\0c\xffd\r\n");
        let f = got[0].findings;
        assert_eq!(
            (f.bare_cr, f.nul, f.eight_bit, f.count),
            (Some(1), Some(3), Some(5), 3)
        );
        assert_eq!(got[0].bytes, b"a\rb\0c\xffd");
    }

    #[test]
    fn cr_split_from_lf_across_pushes() {
        let mut d = LineDecoder::new(LineConfig::default());
        d.push(b"NOOP\r");
        assert!(d.next_line().is_none());
        d.push(b"\n");
        let l = d.next_line().expect("line");
        assert_eq!(l.bytes, b"NOOP");
        assert!(l.findings.is_clean());
    }

    #[test]
    fn over_long_line_is_cut_and_measured() {
        let cfg = LineConfig {
            max_line: 10,
            accept_bare_lf: false,
        };
        let got = lines(cfg, b"0123456789abcdef\r\nok\r\n");
        assert_eq!(got[0].bytes, b"01234567");
        assert_eq!(got[0].overflow, Some(16));
        assert_eq!(got[0].wire_len(), 18);
        assert_eq!(got[1].bytes, b"ok");
        assert_eq!(got[1].overflow, None);
    }

    #[test]
    fn a_line_of_exactly_the_limit_fits() {
        let line = vec![b'x'; MAX_COMMAND_LINE - 2];
        let mut input = line.clone();
        input.extend_from_slice(b"\r\n");
        let got = lines(LineConfig::default(), &input);
        assert_eq!(got[0].bytes, line);
        assert_eq!(got[0].overflow, None);
    }

    #[test]
    fn take_remaining_returns_partial_line_and_input() {
        let mut d = LineDecoder::new(LineConfig::default());
        d.push(b"DATA\r\nSubject: x\r\n\r\nbody\r");
        assert_eq!(d.next_line().expect("line").bytes, b"DATA");
        assert_eq!(d.take_remaining(), b"Subject: x\r\n\r\nbody\r");
        assert!(d.is_idle());
    }
}
