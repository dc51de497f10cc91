//! The catalogue as the commands see it: the paths given (or the shipped scenarios),
//! loaded once with every problem printed, and `--filter`.

use std::path::PathBuf;

use smtpspec::profile::embedded;
use smtpspec::scenario::load::{self, Case};

use super::CliError;

/// The paths given, or the shipped catalogue.
pub(crate) fn paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![embedded::catalogue()]
    } else {
        paths
    }
}

/// The scenario files and their cases, loaded once; every problem is printed, located,
/// and the command exits 2.
pub(crate) struct Catalogue {
    /// The suite files (for the report's digest).
    pub(crate) files: Vec<PathBuf>,
    /// Their cases, in catalogue order.
    pub(crate) cases: Vec<Case>,
}

impl Catalogue {
    /// Load every suite under `given` (or the shipped catalogue).
    pub(crate) fn load(given: Vec<PathBuf>) -> Result<Self, CliError> {
        let paths = paths(given);
        let cases = load::load(&paths).map_err(|errors| {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("smtpspec: {} error(s) in scenario files", errors.len());
            CliError::usage("")
        })?;
        let files = load::collect_files(&paths).unwrap_or_default();
        Ok(Self { files, cases })
    }

    /// Keep the cases `--filter EXPR` selects, if given.
    pub(crate) fn filter(&mut self, expr: Option<&str>) {
        if let Some(expr) = expr {
            self.cases.retain(|c| matches(c, expr));
        }
    }
}

/// `--filter`: the id contains EXPR, the section starts with it, or it is a tag or
/// the level.
pub(crate) fn matches(case: &Case, expr: &str) -> bool {
    case.meta.id.contains(expr)
        || case.meta.spec.section.starts_with(expr)
        || case.meta.tags.iter().any(|t| t == expr)
        || case.meta.spec.level.as_str().eq_ignore_ascii_case(expr)
}
