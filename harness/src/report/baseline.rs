//! Baselines and known failures: certification across versions. A run compared with
//! an earlier report fails only on regressions (a case that passed and now fails or
//! errs); a list of known failures lets a project ship while it fixes them, and says
//! when one of them passes so that the list shrinks.

use serde::Deserialize;

use super::model::Report;
use crate::outcome::Verdict;

/// One change of verdict between two reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The case.
    pub id: String,
    /// Its verdict before.
    pub before: Verdict,
    /// Its verdict now.
    pub now: Verdict,
}

/// What changed from `old` to `new`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// pass → fail or error.
    pub regressions: Vec<Change>,
    /// fail, error or warn → pass.
    pub newly_passing: Vec<Change>,
    /// Cases in `new` that `old` did not have.
    pub new_cases: Vec<String>,
}

/// Compare two reports case by case.
pub fn compare(old: &Report, new: &Report) -> Comparison {
    let mut out = Comparison::default();
    for c in &new.cases {
        let Some(before) = old.cases.iter().find(|o| o.id == c.id) else {
            out.new_cases.push(c.id.clone());
            continue;
        };
        let change = || Change {
            id: c.id.clone(),
            before: before.verdict,
            now: c.verdict,
        };
        let was = before.verdict;
        if was == Verdict::Pass && c.verdict.is_bad() {
            out.regressions.push(change());
        } else if !matches!(was, Verdict::Pass | Verdict::Skip) && c.verdict == Verdict::Pass {
            out.newly_passing.push(change());
        }
    }
    out
}

/// One known failure, with why it is accepted for now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFailure {
    /// The case id (`suite/id`).
    pub id: String,
    /// Why it fails and what is being done about it.
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownFile {
    known_failures: Vec<KnownFailure>,
}

/// Read an expect-fail file:
///
/// ```yaml
/// known_failures:
///   - id: security.smuggling/data-end-lf-dot-lf
///     reason: "LF.LF accepted until the upgrade to 3.9 (ticket 123)"
/// ```
pub fn read_known(path: &std::path::Path) -> Result<Vec<KnownFailure>, crate::yaml::LoadError> {
    let file: KnownFile = crate::yaml::read_yaml(path)?;
    Ok(file.known_failures)
}

/// How a report stands against a list of known failures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    /// Failures (or errors) not on the list.
    pub unexpected: Vec<String>,
    /// Listed cases that failed as expected.
    pub expected: Vec<String>,
    /// Listed cases that now pass: take them off the list.
    pub now_passing: Vec<String>,
    /// Listed ids the report does not have.
    pub unknown: Vec<String>,
}

/// Check `report` against `known`.
pub fn expectations(report: &Report, known: &[KnownFailure]) -> Expectations {
    let mut out = Expectations::default();
    for c in &report.cases {
        let listed = known.iter().any(|k| k.id == c.id);
        match (c.verdict, listed) {
            (Verdict::Fail | Verdict::Error, true) => out.expected.push(c.id.clone()),
            (Verdict::Fail | Verdict::Error, false) => out.unexpected.push(c.id.clone()),
            (Verdict::Pass, true) => out.now_passing.push(c.id.clone()),
            _ => {}
        }
    }
    for k in known {
        if !report.cases.iter().any(|c| c.id == k.id) {
            out.unknown.push(k.id.clone());
        }
    }
    out
}
