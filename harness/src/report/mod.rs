//! Reports of a run: the JSON report of DESIGN.md (the contract other tools read) and
//! the terminal summary. More formats come with the reports issue.

pub mod json;
pub mod text;

use crate::runner::{CaseResult, Target, Verdict};

/// A finished run.
#[derive(Debug, Clone)]
pub struct Run {
    /// The target as discovered.
    pub target: Target,
    /// Unix time of the start.
    pub started: u64,
    /// Unix time of the end.
    pub finished: u64,
    /// Every case, in catalogue order.
    pub cases: Vec<CaseResult>,
}

/// Counts of each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// pass
    pub pass: usize,
    /// fail
    pub fail: usize,
    /// warn
    pub warn: usize,
    /// skip
    pub skip: usize,
    /// error
    pub error: usize,
}

impl Run {
    /// Count the verdicts.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.cases {
            match c.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::Warn => s.warn += 1,
                Verdict::Skip => s.skip += 1,
                Verdict::Error => s.error += 1,
            }
        }
        s
    }
}

/// Octets as report text: printable ASCII, CR, LF and TAB as they are (JSON escapes
/// them), everything else as `\xHH`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' | b'\n' | b'\t' | 0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}
