//! A fuzz input is a list of the scenario language's client steps, so a finding is a
//! case with no translation: seeds come from the catalogue's server cases (their sends,
//! expectations dropped) and a reproducer is written back as a suite.

use std::fmt::Write as _;

use crate::scenario::load::Case;
use crate::scenario::step::{Action, Cuts};
use crate::scenario::template::{self, Vars};
use smtp_protocol::data::dot_stuff;

/// The longest input kept: longer ones are cut, so one input cannot grow without end.
pub const MAX_STEPS: usize = 48;

/// The most octets one step may carry.
pub const MAX_STEP_BYTES: usize = 64 * 1024;

/// One thing the fuzzer sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Step {
    /// A command line; CRLF is added.
    Line(Vec<u8>),
    /// Octets exactly as they are.
    Raw(Vec<u8>),
    /// Command lines sent as one pipelined batch, cut into writes before these
    /// offsets (RFC 2920 §3.1: where TCP cuts must not matter).
    Batch {
        /// The lines, CRLF added to each.
        lines: Vec<Vec<u8>>,
        /// Write boundaries, ascending offsets into the batch.
        cuts: Vec<usize>,
    },
    /// Message content, sent as it is (seeds stuff and end it).
    Body(Vec<u8>),
    /// STARTTLS, its reply, and the handshake when the reply is 220.
    Starttls,
    /// Wait this many milliseconds.
    Pause(u16),
}

/// The verb a command line starts with, upper-cased (`?` when none): the word the
/// fuzzer's counts and identities are kept by.
pub fn line_verb(line: &[u8]) -> String {
    let word: Vec<u8> = line
        .iter()
        .take_while(|b| b.is_ascii_alphabetic())
        .take(12)
        .map(u8::to_ascii_uppercase)
        .collect();
    if word.is_empty() {
        "?".into()
    } else {
        String::from_utf8_lossy(&word).into_owned()
    }
}

impl Step {
    /// The octets on the wire and the writes they go in.
    pub fn writes(&self) -> Vec<Vec<u8>> {
        match self {
            Self::Line(l) => {
                let mut b = l.clone();
                b.extend_from_slice(b"\r\n");
                vec![b]
            }
            Self::Raw(b) | Self::Body(b) => vec![b.clone()],
            Self::Batch { lines, cuts } => {
                let mut all = Vec::new();
                for l in lines {
                    all.extend_from_slice(l);
                    all.extend_from_slice(b"\r\n");
                }
                let mut out = Vec::new();
                let mut from = 0;
                for &c in cuts.iter().filter(|&&c| c > 0 && c < all.len()) {
                    if c > from {
                        out.push(all[from..c].to_vec());
                        from = c;
                    }
                }
                out.push(all[from..].to_vec());
                out
            }
            Self::Starttls => vec![b"STARTTLS\r\n".to_vec()],
            Self::Pause(_) => Vec::new(),
        }
    }

    /// The command's verb, for signatures and finding keys (first word, upper case).
    pub fn verb(&self) -> String {
        self.verb_at(usize::MAX)
    }

    /// Command lines the step carries as the scenario wrote them: a batch's count,
    /// one for anything else.
    pub fn lines(&self) -> usize {
        match self {
            Self::Batch { lines, .. } => lines.len(),
            _ => 1,
        }
    }

    /// The verb of the command the `i`th reply to this step answers, where the step
    /// says: a batch's `i`th line (its last when `i` is past them); any other step's
    /// one verb.
    pub fn verb_at(&self, i: usize) -> String {
        let first = match self {
            Self::Batch { lines, .. } if i < lines.len() => lines[i].as_slice(),
            Self::Line(l) => l.as_slice(),
            Self::Raw(b) => b.as_slice(),
            Self::Batch { lines, .. } => lines.last().map_or(&[][..], Vec::as_slice),
            Self::Body(_) => return "DATA-CONTENT".into(),
            Self::Starttls => return "STARTTLS".into(),
            Self::Pause(_) => return "PAUSE".into(),
        };
        line_verb(first)
    }

    /// Octets the step carries (for the size bound).
    pub fn octets(&self) -> usize {
        self.writes().iter().map(Vec::len).sum()
    }
}

/// One fuzz input.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Input {
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Input {
    /// The seed a server case gives: its sends, with variables expanded from `vars`;
    /// `None` for a case that starts with implicit TLS or sends nothing.
    pub fn from_case(case: &Case, vars: &Vars) -> Option<Self> {
        let mut steps = Vec::new();
        for s in case.steps() {
            let step = match &s.action {
                Action::Send(line) => Step::Line(template::expand(line, vars).into_bytes()),
                Action::SendRaw(text) => Step::Raw(raw(text, vars)?),
                Action::SendBatch { lines, cuts } => {
                    let lines: Vec<Vec<u8>> = lines
                        .iter()
                        .map(|l| template::expand(l, vars).into_bytes())
                        .collect();
                    let cuts = match cuts {
                        Cuts::None => Vec::new(),
                        Cuts::At(at) => at.clone(),
                        // One write per octet of a long batch is many writes; keep a few.
                        Cuts::Each => (1..64).collect(),
                    };
                    Step::Batch { lines, cuts }
                }
                Action::SendBody { text, stuff, .. } => {
                    let body = raw(text, vars)?;
                    if *stuff {
                        let mut b = dot_stuff(&body);
                        if !b.ends_with(b"\r\n") {
                            b.extend_from_slice(b"\r\n");
                        }
                        b.extend_from_slice(b".\r\n");
                        Step::Body(b)
                    } else {
                        Step::Body(body)
                    }
                }
                // The case sends the real end only where the target waited for it; an
                // input sends it always, so a party that kept the data open ends its
                // message and one that took the odd end early reads it as commands.
                Action::NotEnded { end: Some(e), .. } => Step::Raw(raw(e, vars)?),
                Action::Starttls => Step::Starttls,
                Action::Handshake => return None,
                // A pause in a case waits for a timer of the target; in a campaign it only
                // slows the session down, so it is kept short.
                Action::Pause(d) => Step::Pause(d.as_millis().min(50) as u16),
                _ => continue,
            };
            steps.push(step);
        }
        (!steps.is_empty()).then_some(Self { steps })
    }

    /// The same octets with at most one command line per write, so each line's reply
    /// is read before the next line goes (message content and STARTTLS stay as they
    /// are). Not bounded: cutting it would change what it sends.
    pub fn unpipelined(&self) -> Self {
        let mut steps = Vec::with_capacity(self.steps.len());
        for s in &self.steps {
            match s {
                Step::Body(_) | Step::Starttls | Step::Pause(_) => steps.push(s.clone()),
                other => {
                    let all = other.writes().concat();
                    let mut from = 0;
                    for i in 1..all.len() {
                        if all[i - 1] == b'\r' && all[i] == b'\n' {
                            steps.push(Step::Raw(all[from..=i].to_vec()));
                            from = i + 1;
                        }
                    }
                    if from < all.len() {
                        steps.push(Step::Raw(all[from..].to_vec()));
                    }
                }
            }
        }
        Self { steps }
    }

    /// Cut to the bounds: at most [`MAX_STEPS`] steps of at most [`MAX_STEP_BYTES`].
    pub fn bounded(mut self) -> Self {
        self.steps.truncate(MAX_STEPS);
        for s in &mut self.steps {
            match s {
                Step::Line(b) | Step::Raw(b) | Step::Body(b) => b.truncate(MAX_STEP_BYTES),
                Step::Batch { lines, .. } => {
                    lines.truncate(64);
                    for l in lines {
                        l.truncate(MAX_STEP_BYTES / 64);
                    }
                }
                Step::Starttls | Step::Pause(_) => {}
            }
        }
        self
    }

    /// The input as scenario steps (YAML lines at `indent`): each send followed by
    /// what a replay reads after it (`replies`, by step): `expect: CODE` for a code,
    /// `expect_answer` for any reply, so a replay reads where the fuzzer read.
    /// `as_run`: for a session that ran, the step after which its TLS handshake came
    /// (`Some(None)`: none did), so a STARTTLS the target refused is written as the
    /// line it was; `None` for an input that has not run (a corpus file).
    pub fn to_steps_yaml(
        &self,
        indent: &str,
        replies: &[Vec<Option<u16>>],
        as_run: Option<Option<usize>>,
    ) -> String {
        let handshake_after = as_run.flatten();
        let mut out = String::new();
        for (n, s) in self.steps.iter().enumerate() {
            match s {
                // The scenario's starttls step reads the 220 and runs the handshake
                // itself: where the target refused STARTTLS (the input's octets
                // before it made it no command), the case sends it as a line.
                Step::Starttls if as_run.is_none_or(|tls| tls == Some(n)) => {
                    let _ = writeln!(out, "{indent}- starttls");
                    continue;
                }
                Step::Pause(ms) => {
                    let _ = writeln!(out, "{indent}- pause: \"{ms}ms\"");
                }
                other => {
                    let all: Vec<u8> = other.writes().concat();
                    let _ = writeln!(out, "{indent}- send_raw: \"{}\"", yaml_escape(&all));
                }
            }
            for reply in replies.get(n).map_or(&[][..], Vec::as_slice) {
                let _ = match reply {
                    Some(code) => writeln!(out, "{indent}- expect: {code}"),
                    None => writeln!(out, "{indent}- expect_answer"),
                };
            }
            // A STARTTLS sent as a line or raw octets: its 220 was read above, and the
            // fuzzer ran the handshake there (RFC 3207 §4).
            if handshake_after == Some(n) {
                let _ = writeln!(out, "{indent}- handshake");
            }
        }
        out
    }
}

fn raw(text: &str, vars: &Vars) -> Option<Vec<u8>> {
    template::unescape(&template::expand(text, vars)).ok()
}

/// Octets as a double-quoted YAML string that the scenario language's `send_raw`
/// reads back to the same octets: its escapes for everything outside printable ASCII,
/// and `{` escaped so no variable is expanded.
pub fn yaml_escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\\\r"),
            b'\n' => out.push_str("\\\\n"),
            b'\t' => out.push_str("\\\\t"),
            b'\\' => out.push_str("\\\\\\\\"),
            b'"' => out.push_str("\\\""),
            b'{' => out.push_str("\\\\x7b"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\\\x{b:02x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_starttls_the_target_refused_is_written_as_the_line_it_was() {
        let input = Input {
            steps: vec![Step::Raw(b"\r".to_vec()), Step::Starttls],
        };
        let replies = [vec![], vec![Some(500)]];
        let refused = input.to_steps_yaml("", &replies, Some(None));
        assert!(
            refused.contains("- send_raw: \"STARTTLS\\\\r\\\\n\"\n- expect: 500"),
            "{refused}"
        );
        let taken = input.to_steps_yaml("", &[vec![], vec![]], Some(Some(1)));
        assert!(taken.ends_with("- starttls\n"), "{taken}");
        let corpus = input.to_steps_yaml("", &[], None);
        assert!(corpus.ends_with("- starttls\n"), "{corpus}");
    }

    #[test]
    fn unpipelined_sends_one_line_per_write() {
        let input = Input {
            steps: vec![
                Step::Raw(b"EHLO a\r\nNOOP\r\nRS".to_vec()),
                Step::Body(b"x\r\ny\r\n".to_vec()),
                Step::Batch {
                    lines: vec![b"MAIL FROM:<>".to_vec(), b"RCPT TO:<b@c>".to_vec()],
                    cuts: vec![3],
                },
            ],
        };
        let writes: Vec<Vec<u8>> = input
            .unpipelined()
            .steps
            .iter()
            .flat_map(Step::writes)
            .collect();
        let want: Vec<&[u8]> = vec![
            b"EHLO a\r\n",
            b"NOOP\r\n",
            b"RS",
            b"x\r\ny\r\n",
            b"MAIL FROM:<>\r\n",
            b"RCPT TO:<b@c>\r\n",
        ];
        assert_eq!(writes, want);
    }

    #[test]
    fn escaped_octets_read_back_through_yaml_and_the_language() {
        let bytes: Vec<u8> = (0u8..=255).chain(b"{{x}}\"\\".iter().copied()).collect();
        let yaml = format!("v: \"{}\"\n", yaml_escape(&bytes));
        #[derive(serde::Deserialize)]
        struct V {
            v: String,
        }
        let v: V = crate::yaml::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("yaml");
        let expanded = template::expand(&v.v, &Vars::new());
        assert_eq!(template::unescape(&expanded), Ok(bytes));
    }

    #[test]
    fn a_batch_is_cut_where_told() {
        let s = Step::Batch {
            lines: vec![b"NOOP".to_vec(), b"QUIT".to_vec()],
            cuts: vec![3, 8],
        };
        assert_eq!(
            s.writes(),
            vec![b"NOO".to_vec(), b"P\r\nQU".to_vec(), b"IT\r\n".to_vec()]
        );
        assert_eq!(s.verb(), "QUIT");
    }
}
