//! What a case comes to: the requirement level it tests, the verdict, and the one rule
//! between them. A leaf: every role judges with these, every report renders them, and
//! nothing here knows how a case ran.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Requirement level (RFC 2119). MUST NOT counts as MUST, SHOULD NOT as SHOULD.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Level {
    /// A failure is `fail`.
    #[serde(rename = "MUST")]
    Must,
    /// A failure is `warn`.
    #[serde(rename = "SHOULD")]
    Should,
    /// A failure is `warn` too: optional behaviour, reported for information.
    #[serde(rename = "MAY")]
    May,
}

impl Level {
    /// Every level, strongest first (the order of reports).
    pub const ALL: [Self; 3] = [Self::Must, Self::Should, Self::May];

    /// As written in scenarios and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Must => "MUST",
            Self::Should => "SHOULD",
            Self::May => "MAY",
        }
    }

    /// The verdict when a case at this level observed what the requirement forbids: a
    /// broken MUST fails, an unmet SHOULD or MAY warns. The one place this is decided.
    pub fn unmet(self) -> Verdict {
        match self {
            Self::Must => Verdict::Fail,
            Self::Should | Self::May => Verdict::Warn,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The five verdicts, written exactly so (lower case) in reports.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// As required.
    Pass,
    /// A MUST broken.
    Fail,
    /// A SHOULD (or MAY) not met.
    Warn,
    /// Not applicable, with the reason.
    Skip,
    /// The harness could not decide.
    Error,
}

impl Verdict {
    /// Every verdict, in the order of the summary line.
    pub const ALL: [Self; 5] = [Self::Pass, Self::Fail, Self::Warn, Self::Skip, Self::Error];

    /// As written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Warn => "warn",
            Self::Skip => "skip",
            Self::Error => "error",
        }
    }

    /// A finding against the target: it failed or warned.
    pub fn is_finding(self) -> bool {
        matches!(self, Self::Fail | Self::Warn)
    }

    /// Not a conformant answer: failed, or could not be decided.
    pub fn is_bad(self) -> bool {
        matches!(self, Self::Fail | Self::Error)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a case wanted and what it got, as data: a report can set them side by side
/// instead of making the reader take them out of a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Mismatch {
    /// What the requirement allows (a reply code set, a command, an outcome).
    pub expected: String,
    /// What the subject did.
    pub actual: String,
}

/// What a role observed that the requirement forbids, in words for the report and,
/// where the case compares two things, as a [`Mismatch`]: the case's level turns it
/// into `fail` or `warn` ([`Level::unmet`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    /// The sentence the report gives as the reason.
    pub why: String,
    /// Wanted and got, when the finding is a comparison.
    pub mismatch: Option<Mismatch>,
}

impl Unmet {
    /// A finding in words only.
    pub fn new(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            mismatch: None,
        }
    }

    /// "wanted `expected`, got `actual`", with both kept as data.
    pub fn wanted(expected: impl Into<String>, actual: impl Into<String>) -> Self {
        let (expected, actual) = (expected.into(), actual.into());
        Self {
            why: format!("wanted {expected}, got {actual}"),
            mismatch: Some(Mismatch { expected, actual }),
        }
    }

    /// The same comparison told in other words.
    pub fn said(mut self, why: impl Into<String>) -> Self {
        self.why = why.into();
        self
    }

    /// The same finding, placed: "step 3 (expect at line 12): why".
    pub fn at(mut self, place: &str) -> Self {
        self.why = format!("{place}: {}", self.why);
        self
    }
}

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

/// An [`Unmet`] in words only, from a format string.
#[macro_export]
macro_rules! unmet {
    ($($arg:tt)*) => {
        $crate::outcome::Unmet::new(format!($($arg)*))
    };
}

/// How one case came out, before the level is applied: what every role produces and
/// the one place a verdict is made of it ([`Outcome::verdict`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// As required, and why that is known.
    Pass(String),
    /// The subject did what the requirement forbids.
    Unmet(Unmet),
    /// Nothing could be observed that bears on the requirement: `skip`, with why.
    Inconclusive(String),
    /// The harness could not set up or observe the case: `error`.
    Error(HarnessError),
}

impl Outcome {
    /// The verdict at `level`: the only mapping from outcomes to verdicts.
    pub fn verdict(&self, level: Level) -> Verdict {
        match self {
            Self::Pass(_) => Verdict::Pass,
            Self::Unmet(_) => level.unmet(),
            Self::Inconclusive(_) => Verdict::Skip,
            Self::Error(_) => Verdict::Error,
        }
    }

    /// The reason, as the report gives it, and the comparison when there is one.
    pub fn into_reason(self) -> (String, Option<Mismatch>) {
        match self {
            Self::Pass(why) | Self::Inconclusive(why) => (why, None),
            Self::Unmet(u) => (u.why, u.mismatch),
            Self::Error(e) => (e.0, None),
        }
    }
}

/// A [`HarnessError`] from a format string.
#[macro_export]
macro_rules! harness_error {
    ($($arg:tt)*) => {
        $crate::outcome::HarnessError(format!($($arg)*))
    };
}

/// Why the harness could not set up or observe what a case (or a run) needs: a server
/// that would not start, a port taken, a process that would not run. Never the
/// subject's fault: a case ends `error`, a run exits 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessError(pub String);

impl HarnessError {
    /// A fault with what was being done: `HarnessError::during("listen", e)` reads
    /// "listen: e".
    pub fn during(what: &str, e: impl std::fmt::Display) -> Self {
        Self(format!("{what}: {e}"))
    }

    /// A fault that is another error's message.
    pub fn of(e: impl std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

impl From<std::io::Error> for HarnessError {
    fn from(e: std::io::Error) -> Self {
        Self(e.to_string())
    }
}

/// Why a case was skipped, as the certification summary counts what was not tested:
/// a case that is not for this target, one the profile cannot feed, one the user held
/// back, or one that ran and could not judge. The gate that skips a case words its
/// reason with these prefixes, and [`NotRun::of`] reads them back, so a report read
/// from JSON classifies its skips as the run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotRun {
    /// The target lacks (or has) the feature the case is for: not applicable.
    NotApplicable,
    /// The profile lacks a variable or a store the case needs, or the target is a
    /// catch-all where the case needs a refused recipient.
    NeedsProfile,
    /// `--no-mail` or `--tls none` held it back.
    HeldBack,
    /// It ran, and what it saw could not decide it.
    Inconclusive,
}

/// The prefixes of skip reasons, by [`NotRun`] (the gate of server cases uses them).
pub mod skip_reason {
    /// A keyword missing from EHLO.
    pub const NOT_ADVERTISED: &str = "the target does not advertise";
    /// A keyword present that the case is for servers without.
    pub const ADVERTISES: &str = "the target advertises";
    /// A greeting other than the case's.
    pub const GREETS: &str = "the target greets with";
    /// Implicit TLS where the case negotiates STARTTLS.
    pub const IMPLICIT_TLS: &str = "the target speaks implicit TLS";
    /// A port that requires TLS first, where the case sends a command in the clear
    /// before its own STARTTLS.
    pub const REQUIRES_TLS: &str = "the target requires STARTTLS first (policy tls_required);";
    /// A port that requires AUTH first, where the case sends a command before its own
    /// AUTH (or never logs in).
    pub const REQUIRES_AUTH: &str = "the target requires AUTH first (policy auth_required);";
    /// No EHLO after TLS.
    pub const NO_TLS_EHLO: &str = "no EHLO list after TLS";
    /// A variable the profile does not define.
    pub const UNDEFINED: &str = "the target profile does not define";
    /// A policy the profile does not declare (`requires_policy`).
    pub const NO_POLICY: &str = "the target profile does not declare the policy";
    /// A case for a PROXY port, on a target whose profile has no `proxy:`.
    pub const NO_PROXY: &str = "the target profile does not say the port speaks PROXY";
    /// A case for a port without PROXY, on one that speaks it.
    pub const PROXY_PORT: &str = "the port speaks the PROXY protocol";
    /// A store to read, or a catch-all where a refused recipient is needed.
    pub const NEEDS_STORE: &str = "the case checks the stored message";
    /// A catch-all target where the case needs a refused recipient.
    pub const CATCH_ALL: &str = "the target accepted {{target.bad_rcpt}}";
    /// `--no-mail`.
    pub const NO_MAIL: &str = "--no-mail:";
    /// `--tls none`.
    pub const NO_TLS: &str = "--tls none:";
}

impl NotRun {
    /// The class of a skip's reason.
    pub fn of(reason: &str) -> Self {
        use skip_reason::*;
        let starts = |p: &[&str]| p.iter().any(|p| reason.starts_with(p));
        // A store named by the profile that is not there.
        if reason.contains("store") && reason.contains("cannot be read") {
            Self::NeedsProfile
        } else if starts(&[
            NOT_ADVERTISED,
            ADVERTISES,
            GREETS,
            IMPLICIT_TLS,
            REQUIRES_TLS,
            REQUIRES_AUTH,
            NO_TLS_EHLO,
            PROXY_PORT,
        ]) {
            Self::NotApplicable
        } else if starts(&[UNDEFINED, NO_POLICY, NO_PROXY, NEEDS_STORE, CATCH_ALL]) {
            Self::NeedsProfile
        } else if starts(&[NO_MAIL, NO_TLS]) {
            Self::HeldBack
        } else {
            Self::Inconclusive
        }
    }

    /// Its name in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Self::NotApplicable => "not_applicable",
            Self::NeedsProfile => "needs_profile",
            Self::HeldBack => "held_back",
            Self::Inconclusive => "inconclusive",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{HarnessError, Level, Outcome, Unmet, Verdict};

    #[test]
    fn levels_map_to_verdicts_once() {
        assert_eq!(Level::Must.unmet(), Verdict::Fail);
        assert_eq!(Level::Should.unmet(), Verdict::Warn);
        assert_eq!(Level::May.unmet(), Verdict::Warn);
    }

    #[test]
    fn outcomes_map_to_verdicts_by_level() {
        let unmet = Outcome::Unmet(Unmet::new("x"));
        assert_eq!(unmet.verdict(Level::Must), Verdict::Fail);
        assert_eq!(unmet.verdict(Level::Should), Verdict::Warn);
        assert_eq!(
            Outcome::Pass("y".into()).verdict(Level::Must),
            Verdict::Pass
        );
        assert_eq!(
            Outcome::Inconclusive("z".into()).verdict(Level::Must),
            Verdict::Skip
        );
        let error = Outcome::Error(HarnessError("e".into()));
        assert_eq!(error.verdict(Level::May), Verdict::Error);
    }

    #[test]
    fn a_comparison_keeps_both_sides_as_data() {
        let u = Unmet::wanted("250", "550 \"no\"").at("step 2 (expect at line 9)");
        assert_eq!(
            u.why,
            "step 2 (expect at line 9): wanted 250, got 550 \"no\""
        );
        let (reason, m) = Outcome::Unmet(u).into_reason();
        assert!(reason.ends_with("got 550 \"no\""));
        let m = m.expect("a mismatch");
        assert_eq!(
            (m.expected.as_str(), m.actual.as_str()),
            ("250", "550 \"no\"")
        );
    }

    #[test]
    fn names_are_the_report_contract() {
        for v in Verdict::ALL {
            let json = serde_json::to_string(&v).expect("serialise");
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(serde_json::from_str::<Verdict>(&json).expect("read"), v);
        }
        for l in Level::ALL {
            assert_eq!(
                serde_json::to_string(&l).expect("serialise"),
                format!("\"{l}\"")
            );
        }
    }
}
