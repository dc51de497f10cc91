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

/// What a role observed that the requirement forbids, in words for the report: the
/// case's level turns it into `fail` or `warn` ([`Level::unmet`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet(pub String);

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An [`Unmet`] from a format string.
#[macro_export]
macro_rules! unmet {
    ($($arg:tt)*) => {
        $crate::outcome::Unmet(format!($($arg)*))
    };
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

#[cfg(test)]
mod tests {
    use super::{Level, Verdict};

    #[test]
    fn levels_map_to_verdicts_once() {
        assert_eq!(Level::Must.unmet(), Verdict::Fail);
        assert_eq!(Level::Should.unmet(), Verdict::Warn);
        assert_eq!(Level::May.unmet(), Verdict::Warn);
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
