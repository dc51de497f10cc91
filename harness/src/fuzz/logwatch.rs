//! The log oracle's reading side: the target's log files, followed from where they
//! ended when the campaign started, and the lines of them that carry a crash's or a
//! sanitizer's mark. A server that survives a panic in one session (a Rust task, a
//! Python handler, Postfix's master restarting a dead smtpd) says so only here.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// The marks looked for when a log names none: the words crash handlers, sanitizers
/// and supervisors write (Rust, C runtimes, ASan/UBSan, Python, Go, Postfix's master
/// and `panic:`, the kernel's core notice).
pub const DEFAULT_PATTERNS: &[&str] = &[
    "panicked at",
    "panic: ",
    "SIGSEGV",
    "SIGABRT",
    "SIGBUS",
    "Segmentation fault",
    "AddressSanitizer",
    "LeakSanitizer",
    "runtime error:",
    "stack smashing detected",
    "double free",
    "malloc(): ",
    "free(): ",
    "killed by signal",
    "core dumped",
    "Traceback (most recent call last)",
    "stack overflow",
    "out of memory",
];

/// The most read from one log per look: a target that floods its log cannot stall
/// the campaign (what is skipped is counted).
const MAX_READ: u64 = 4 << 20;

/// One log and what marks a bad line in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    /// The file.
    pub path: PathBuf,
    /// Substrings (case as written); an empty one matches every line (Exim's
    /// paniclog, where any line is a panic).
    pub patterns: Vec<String>,
    /// Substrings of lines that are no mark, whatever they match: a setup's noise.
    pub ignore: Vec<String>,
}

impl LogSpec {
    /// `path` with [`DEFAULT_PATTERNS`].
    pub fn with_defaults(path: PathBuf) -> Self {
        Self {
            path,
            patterns: DEFAULT_PATTERNS.iter().map(|p| (*p).to_owned()).collect(),
            ignore: Vec::new(),
        }
    }
}

/// A marked line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The log it is in.
    pub path: PathBuf,
    /// The pattern it matched.
    pub pattern: String,
    /// The line, trimmed and cut at 300 characters.
    pub line: String,
    /// The lines after it that belong to the same event (a panic's message, a
    /// backtrace, a sanitizer report): up to [`CONTEXT`], cut as the line is.
    pub context: Vec<String>,
    /// For a Python traceback, its last exception line (`ValueError: …`): every
    /// traceback starts with the same words, so it is this line that tells one
    /// bug from another.
    pub exception: Option<String>,
}

impl Hit {
    /// What tells this hit's bug from another's: the exception a traceback ended
    /// in, or the marked line.
    pub fn identity(&self) -> &str {
        self.exception.as_deref().unwrap_or(&self.line)
    }
}

/// A Python exception line: a dotted name ending in `Error` or `Exception`, alone
/// or before a colon, at the start of the line.
fn exception_line(line: &str) -> bool {
    let name = line.split(':').next().unwrap_or_default();
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && (name.ends_with("Error") || name.ends_with("Exception"))
}

/// Lines kept after a marked line.
pub const CONTEXT: usize = 6;
/// A marked line within this many lines of the last one belongs to its event: one
/// crash is one hit however many of its lines carry a mark.
const EVENT_SPAN: usize = 40;

/// Logs followed from an offset.
#[derive(Debug)]
pub struct LogWatch {
    /// Each log, the offset read up to, and the lines since the last marked line of an
    /// event still open (an event may straddle two looks).
    logs: Vec<(LogSpec, u64, Option<usize>)>,
    /// Octets skipped because a log grew faster than [`MAX_READ`] per look.
    pub skipped: u64,
}

impl LogWatch {
    /// Follow `logs` from their current ends (what they held before is not the
    /// campaign's doing). A log that does not exist yet is read from its start when it
    /// appears.
    pub fn new(logs: Vec<LogSpec>) -> Self {
        let logs = logs
            .into_iter()
            .map(|l| {
                let end = std::fs::metadata(&l.path).map_or(0, |m| m.len());
                (l, end, None)
            })
            .collect();
        Self { logs, skipped: 0 }
    }

    /// Nothing to follow.
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
    }

    /// What is written from now on starts a new event: a probe's crash a few lines
    /// after the campaign's (the paused campaign writes little) is a hit of its own,
    /// not more of the one it is probing for.
    pub fn new_event(&mut self) {
        for (_, _, since) in &mut self.logs {
            *since = None;
        }
    }

    /// The marked lines written since the last look. A log that shrank (rotated,
    /// truncated) is read again from its start.
    pub fn hits(&mut self) -> Vec<Hit> {
        let mut out = Vec::new();
        for (spec, offset, since) in &mut self.logs {
            let Ok(mut f) = File::open(&spec.path) else {
                continue;
            };
            let len = f.metadata().map_or(0, |m| m.len());
            if len < *offset {
                *offset = 0;
                *since = None;
            }
            if len - *offset > MAX_READ {
                self.skipped += len - *offset - MAX_READ;
                *offset = len - MAX_READ;
            }
            if f.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut buf = Vec::new();
            if f.take(len - *offset).read_to_end(&mut buf).is_err() {
                continue;
            }
            // Only whole lines: a line being written is read at the next look.
            let whole = buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            *offset += whole as u64;
            let cut = |l: &str| l.trim().chars().take(300).collect::<String>();
            for line in String::from_utf8_lossy(&buf[..whole]).lines() {
                let mark = spec
                    .patterns
                    .iter()
                    .find(|p| line.contains(p.as_str()))
                    .filter(|_| !spec.ignore.iter().any(|i| line.contains(i.as_str())));
                match (mark, *since) {
                    (Some(_), Some(_)) => *since = Some(0),
                    (Some(p), None) => {
                        out.push(Hit {
                            path: spec.path.clone(),
                            pattern: p.clone(),
                            line: cut(line),
                            context: Vec::new(),
                            exception: None,
                        });
                        *since = Some(0);
                        continue;
                    }
                    (None, Some(n)) if n + 1 < EVENT_SPAN => *since = Some(n + 1),
                    (None, _) => {
                        *since = None;
                        continue;
                    }
                }
                if let Some(hit) = out.last_mut() {
                    if hit.line.contains("Traceback (most recent call last)")
                        && exception_line(line)
                    {
                        // A chained traceback ends in the last exception raised.
                        hit.exception = Some(cut(line));
                    }
                    if hit.context.len() < CONTEXT {
                        hit.context.push(cut(line));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_new_whole_marked_lines_are_hits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.log");
        std::fs::write(&path, "old: panicked at before the campaign\n").expect("write");
        let mut w = LogWatch::new(vec![LogSpec::with_defaults(path.clone())]);
        assert!(
            w.hits().is_empty(),
            "lines from before the start are not hits"
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        write!(
            f,
            "fine\nthread 'x' panicked at src/a.rs:1\nthe message\n  7: std::panic::catch_unwind\n \
             8: core::panicking::panic: the frame\nhalf a li"
        )
        .expect("write");
        let hits = w.hits();
        assert_eq!(hits.len(), 1, "one event, one hit: {hits:?}");
        assert_eq!(hits[0].pattern, "panicked at");
        assert_eq!(hits[0].context[0], "the message");
        writeln!(f, "ne: SIGSEGV").expect("write");
        let hits = w.hits();
        assert!(
            hits.is_empty(),
            "the same event, read in two looks: {hits:?}"
        );
        writeln!(f, "{}late: SIGSEGV", "ok\n".repeat(45)).expect("write");
        let hits = w.hits();
        assert_eq!(
            hits.len(),
            1,
            "a mark far from the last is a new event: {hits:?}"
        );
        assert_eq!(hits[0].line, "late: SIGSEGV");
        // A probe's crash right after the campaign's: its own event.
        w.new_event();
        writeln!(f, "again: SIGSEGV").expect("write");
        assert_eq!(w.hits().len(), 1, "a new event after new_event");
        std::fs::write(&path, "Traceback (most recent call last)\n").expect("truncate");
        assert_eq!(w.hits().len(), 1, "a truncated log is read from its start");
    }

    #[test]
    fn a_traceback_is_told_by_the_exception_it_ends_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("peer.log");
        std::fs::write(&path, "").expect("write");
        let mut w = LogWatch::new(vec![LogSpec::with_defaults(path.clone())]);
        let traceback = |error: &str| {
            format!(
                "ERROR:mail.log:SMTP session exception\nTraceback (most recent call last):\n  \
                 File \"smtp.py\", line 741, in _handle_client\n    await method(arg)\n{error}\n"
            )
        };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        write!(f, "{}", traceback("ValueError: too many values to unpack")).expect("write");
        let hits = w.hits();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].identity(), "ValueError: too many values to unpack");
        w.new_event();
        write!(f, "{}", traceback("binascii.Error: Incorrect padding")).expect("write");
        let hits = w.hits();
        assert_eq!(hits[0].identity(), "binascii.Error: Incorrect padding");
        assert!(!exception_line("INFO:mail.log:Peer: ('127.0.0.1', 4242)"));
    }

    #[test]
    fn an_empty_pattern_takes_every_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("paniclog");
        let mut w = LogWatch::new(vec![LogSpec {
            path: path.clone(),
            patterns: vec![String::new()],
            ignore: vec!["lost privilege for using -C option".into()],
        }]);
        assert!(w.hits().is_empty(), "a log not there yet is no hit");
        std::fs::write(
            &path,
            "2026-12-02 exim user lost privilege for using -C option\n",
        )
        .expect("write");
        assert!(w.hits().is_empty(), "an ignored line is no hit");
        std::fs::write(&path, "2026-12-02 some failure\n2026-12-02 more\n").expect("write");
        assert_eq!(w.hits().len(), 1);
    }
}
