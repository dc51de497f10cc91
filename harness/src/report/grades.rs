//! The certification summary's data: scores, grades, caps, what was not tested, and
//! their words for the renderings. Apart from the rules that make it
//! (`certification.rs`), so the report model can carry it without the rules reading
//! the model that carries them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bumped whenever a weight, a threshold, a class or a cap changes.
pub const SCORING_VERSION: u32 = 1;

/// The summary of one report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Certification {
    /// [`SCORING_VERSION`] of the rules that made it.
    pub scoring_version: u32,
    /// Every case, by level.
    pub conformance: Score,
    /// The security cases, by class: smuggling, injection, tls, parsing.
    pub security: Score,
    /// Cases that came to no pass, warn or fail, by why.
    pub not_tested: NotTested,
}

/// One score and its grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Score {
    /// 0 to 100: points earned out of the points of the cases tested (MUST 3, SHOULD
    /// 2, MAY 1; a pass earns them all, a warn half). Absent: nothing was tested.
    pub score: Option<u32>,
    /// A, B, C, D or F after the caps; `-` when nothing was tested.
    pub grade: String,
    /// Each rule that held the grade down, with the grade it allows at most.
    pub caps: Vec<Cap>,
    /// The parts it is made of (levels, or security classes).
    pub parts: Vec<Part>,
}

/// A rule that holds a grade down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Cap {
    /// The best grade it allows.
    pub grade: String,
    /// Why, in words.
    pub reason: String,
}

/// One level or class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Part {
    /// `MUST`, `SHOULD`, `MAY`, or a security class.
    pub name: String,
    /// Cases that passed.
    pub pass: usize,
    /// Cases that warned.
    pub warn: usize,
    /// Cases that failed.
    pub fail: usize,
    /// Cases skipped or in error.
    pub not_tested: usize,
}

/// What was not tested, by why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NotTested {
    /// Skipped: the target lacks (or has) the feature the case is for.
    pub not_applicable: usize,
    /// Skipped: the profile lacks a variable or a store the case needs.
    pub needs_profile: usize,
    /// Skipped: `--no-mail` or `--tls none`.
    pub held_back: usize,
    /// Skipped: the case ran and could not decide.
    pub inconclusive: usize,
    /// The harness could not run the case.
    pub error: usize,
    /// The variables missing, each once (`target.auth_plain`, …): define them in the
    /// profile or with `--var` to test more.
    pub missing_variables: Vec<String>,
}

impl Certification {
    /// Two lines for the top of a report: each score, its grade and its caps.
    pub fn lines(&self) -> Vec<String> {
        [
            ("Conformance", &self.conformance),
            ("Security", &self.security),
        ]
        .into_iter()
        .map(|(name, s)| s.line(name))
        .collect()
    }
}

impl Score {
    /// The score as `96/100`, or `-`.
    pub fn points(&self) -> String {
        self.score
            .map_or_else(|| "-".to_owned(), |n| format!("{n}/100"))
    }

    /// Each cap as `at most C: why`, the reason passed through `escape` (the medium's).
    pub fn caps_in(&self, escape: impl Fn(&str) -> String) -> Vec<String> {
        self.caps
            .iter()
            .map(|c| format!("at most {}: {}", c.grade, escape(&c.reason)))
            .collect()
    }

    /// `Conformance: A (96/100)` and the caps, or why there is no grade.
    pub fn line(&self, name: &str) -> String {
        let Some(score) = self.score else {
            return format!("{name}: - (nothing of it was tested)");
        };
        let mut line = format!("{name}: {} ({score}/100)", self.grade);
        for c in &self.caps {
            line.push_str(&format!("; at most {}: {}", c.grade, c.reason));
        }
        line
    }
}

impl NotTested {
    /// One sentence, or `None` when every case was tested.
    pub fn sentence(&self) -> Option<String> {
        let mut parts = Vec::new();
        let mut say = |n: usize, what: &str| {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        };
        say(self.not_applicable, "not applicable to this target");
        say(self.needs_profile, "needing a profile variable or store");
        say(self.held_back, "held back (--no-mail, --tls none)");
        say(self.inconclusive, "inconclusive");
        say(self.error, "in error");
        if parts.is_empty() {
            return None;
        }
        let mut s = format!("Not tested: {}", parts.join(", "));
        if !self.missing_variables.is_empty() {
            s.push_str(&format!(
                " (define {} to test more)",
                self.missing_variables.join(", ")
            ));
        }
        Some(s)
    }
}
