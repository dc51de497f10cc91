//! The subcommands of the `smtpspec` binary, one file each. Each reads its arguments
//! (`plan`), calls the library (`execute`), and reports what happened (`finish`); a
//! problem comes back as a [`CliError`] carrying its exit status, so commands use `?`
//! and the exit-status contract of README.md is kept in one place ([`Exit`]).

pub(crate) mod catalogue;
pub(crate) mod check;
pub(crate) mod client;
pub(crate) mod completions;
pub(crate) mod coverage;
pub(crate) mod dns;
pub(crate) mod finish;
pub(crate) mod fuzz;
pub(crate) mod fuzz_client;
pub(crate) mod fuzz_diff;
pub(crate) mod fuzz_merge;
pub(crate) mod fuzz_report;
pub(crate) mod given;
pub(crate) mod list;
pub(crate) mod out;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod schema;
pub(crate) mod send;
pub(crate) mod serve;
mod target;

use std::fmt;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use smtpspec::outcome::HarnessError;
use smtpspec::yaml::LoadError;

/// The exit statuses of README.md: what scripts and CI read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Conformant (or the command did what was asked).
    Conformant = 0,
    /// A failure at or above `--fail-on` (or the sender did not deliver).
    NonConformant = 1,
    /// Usage, configuration or scenario-file error.
    Usage = 2,
    /// The target could not be tested.
    Untestable = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        Self::from(e as u8)
    }
}

/// Why a command stopped early, and the status it exits with.
#[derive(Debug)]
pub(crate) struct CliError {
    /// The status.
    pub(crate) exit: Exit,
    /// For people; empty when the details were already printed (scenario errors).
    pub(crate) message: String,
}

impl CliError {
    /// A usage, configuration or scenario-file error (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    /// The target could not be tested (exit 3).
    pub(crate) fn untestable(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Untestable,
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A [`CliError::usage`] from a format string.
macro_rules! usage {
    ($($arg:tt)*) => {
        $crate::cmd::CliError::usage(format!($($arg)*))
    };
}
pub(crate) use usage;

impl From<String> for CliError {
    fn from(message: String) -> Self {
        Self::usage(message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> Self {
        Self::usage(message)
    }
}

impl From<HarnessError> for CliError {
    fn from(e: HarnessError) -> Self {
        Self::untestable(e.0)
    }
}

impl From<LoadError> for CliError {
    fn from(e: LoadError) -> Self {
        Self::usage(e.to_string())
    }
}

/// What a command's `main` returns.
pub(crate) type CmdResult = Result<Exit, CliError>;

/// The status of `result`, its error printed as `smtpspec NAME: message`.
pub(crate) fn exit(name: &str, result: CmdResult) -> ExitCode {
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("smtpspec {name}: {}", e.message);
            }
            e.exit.into()
        }
    }
}

/// A tokio runtime; failing to make one means nothing can be tested (exit 3).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Runtime::new()
        .map_err(|e| CliError::untestable(format!("cannot start the runtime: {e}")))
}

/// Seconds since the epoch, for report times and unique names.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
