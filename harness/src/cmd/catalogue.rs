//! The catalogue as the commands see it: the paths given (or the shipped scenarios),
//! loaded once with every problem printed, and `--filter`.

use std::collections::HashSet;
use std::path::PathBuf;

use smtpspec::profile::embedded;
use smtpspec::scenario::load::{self, Case};

use super::{CliError, usage};

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
    /// The paths given (none: the shipped catalogue), for messages.
    given: Vec<PathBuf>,
    /// The suite files (for the report's digest).
    pub(crate) files: Vec<PathBuf>,
    /// Their cases, in catalogue order.
    pub(crate) cases: Vec<Case>,
}

impl Catalogue {
    /// Load every suite under `given` (or the shipped catalogue), then those of
    /// `--scenarios`: a suite of the same name replaces the one loaded first.
    pub(crate) fn load(given: Vec<PathBuf>, extra: &[PathBuf]) -> Result<Self, CliError> {
        let mut paths = paths(given.clone());
        let mut cases = load_cases(&paths)?;
        if !extra.is_empty() {
            let added = load_cases(extra)?;
            let replaced: HashSet<&str> = added.iter().map(|c| c.meta.suite.as_str()).collect();
            cases.retain(|c| !replaced.contains(c.meta.suite.as_str()));
            cases.extend(added);
            paths.extend(extra.iter().cloned());
        }
        let files = load::collect_files(&paths).unwrap_or_default();
        Ok(Self {
            given,
            files,
            cases,
        })
    }

    /// Keep the cases `--filter EXPR` selects, if given.
    pub(crate) fn filter(&mut self, expr: Option<&str>) {
        if let Some(expr) = expr {
            self.cases.retain(|c| matches(c, expr));
        }
    }

    /// Keep shard I of N of the cases (`--shard I/N`), if asked.
    pub(crate) fn shard(&mut self, shard: Option<(usize, usize)>) {
        if let Some((index, count)) = shard {
            let keep = smtpspec::runner::shard(&self.cases, index, count);
            let mut n = 0;
            let mut next = keep.iter().peekable();
            self.cases.retain(|_| {
                let kept = next.peek() == Some(&&n);
                if kept {
                    next.next();
                }
                n += 1;
                kept
            });
        }
    }

    /// A usage error when no case is left (`kind` names what the command kept, e.g.
    /// "server "): a CI gate that runs nothing must not pass.
    pub(crate) fn require_cases(&self, filter: Option<&str>, kind: &str) -> Result<(), CliError> {
        if !self.cases.is_empty() {
            return Ok(());
        }
        let from = if self.given.is_empty() {
            "the catalogue".to_owned()
        } else {
            self.given
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(match filter {
            Some(f) => usage!("--filter {f:?} selects no {kind}case in {from}"),
            None => usage!("no {kind}case in {from}"),
        })
    }
}

/// The cases under `paths`; every problem is printed, located, and the command exits 2.
fn load_cases(paths: &[PathBuf]) -> Result<Vec<Case>, CliError> {
    load::load(paths).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!("smtpspec: {} error(s) in scenario files", errors.len());
        CliError::usage("")
    })
}

/// `--filter`: the id contains EXPR, the section is EXPR or below it (whole
/// components: 4.5.3.1.1 is not 4.5.3.1.10), or EXPR is a tag or the level.
pub(crate) fn matches(case: &Case, expr: &str) -> bool {
    case.meta.id.contains(expr)
        || section_is_or_below(&case.meta.spec.section, expr)
        || case.meta.tags.iter().any(|t| t == expr)
        || case.meta.spec.level.as_str().eq_ignore_ascii_case(expr)
}

/// `section` is `expr` or one of its subsections (a trailing dot is allowed).
fn section_is_or_below(section: &str, expr: &str) -> bool {
    let expr = expr.trim_end_matches('.');
    !expr.is_empty()
        && section
            .strip_prefix(expr)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::section_is_or_below;

    #[test]
    fn sections_match_by_whole_components() {
        assert!(section_is_or_below("4.5.3.1.1", "4.5.3.1.1"));
        assert!(section_is_or_below("4.5.3.1.10", "4.5.3.1"));
        assert!(section_is_or_below("4.5.3.1.10", "4.5.3.1."));
        assert!(!section_is_or_below("4.5.3.1.10", "4.5.3.1.1"));
        assert!(!section_is_or_below("4.10", "4.1"));
        assert!(!section_is_or_below("4.1", ""));
    }
}
