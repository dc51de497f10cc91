//! Where a run leaves its target: conformant, not, or not testable. One rule, read
//! from the report, for the exit status (README.md, "Exit status") and for the
//! verdict at the top of every rendering.

use super::model::Report;
use crate::outcome::{Level, Verdict};

/// The run's verdict on its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No fail, and no warn at or above `--fail-on`.
    Conformant,
    /// This many cases fail, or warn at or above `--fail-on`.
    NonConformant(usize),
    /// Every case that was tried ended in error: nothing is known of the target.
    Untestable,
}

impl Report {
    /// A report on a client: smtpspec played the server in every case, and the
    /// "target" is the client's command.
    pub fn of_a_client(&self) -> bool {
        !self.cases.is_empty()
            && self
                .cases
                .iter()
                .all(|c| c.harness_role.as_deref() == Some("server"))
    }

    /// The verdict on the target under the report's own `--fail-on` (`settings.fail_on`:
    /// `must` when absent).
    pub fn standing(&self) -> Standing {
        let mut tried = self.cases.iter().filter(|c| c.verdict != Verdict::Skip);
        if tried.clone().next().is_some() && tried.all(|c| c.verdict == Verdict::Error) {
            return Standing::Untestable;
        }
        let fail_on = self.settings.fail_on.as_str();
        let counted = self
            .cases
            .iter()
            .filter(|c| match c.verdict {
                Verdict::Fail => true,
                Verdict::Warn => match fail_on {
                    "should" => c.spec.level == Level::Should,
                    "may" | "info" => true,
                    _ => false,
                },
                _ => false,
            })
            .count();
        if counted == 0 {
            Standing::Conformant
        } else {
            Standing::NonConformant(counted)
        }
    }
}

impl Standing {
    /// One line for the top of a report.
    pub fn sentence(self, fail_on: &str) -> String {
        let level = match fail_on {
            "should" => "SHOULD",
            "may" | "info" => "MAY",
            _ => "MUST",
        };
        match self {
            Self::Conformant => format!("Conformant: no failure at {level} level or above"),
            Self::NonConformant(n) => format!(
                "Not conformant: {n} case{} failed at {level} level or above",
                if n == 1 { "" } else { "s" }
            ),
            Self::Untestable => "Not tested: every case that was tried ended in error".into(),
        }
    }
}
