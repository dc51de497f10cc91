//! The requirements index (README.md, "Requirements index"): every requirement of RFC
//! 5321 and of the extensions the catalogue covers, with a stable id, its level, who
//! must be observed to test it, and the cases that do. A requirement that no black-box
//! test can observe stays in the index with the reason, so the count of what is left
//! to cover is honest.
//!
//! ```yaml
//! requirements:
//!   - id: 5321-4.1.4-7
//!     rfc: 5321
//!     section: "4.1.4"
//!     level: MUST
//!     text: "..."
//!     role: server
//!     cases: [rfc5321.transaction/rcpt-before-mail]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::scenario::Level;
use crate::scenario::load::Case;
use crate::yaml::{LoadError, collect_files, from_yaml};

/// Who a black-box test has to watch to judge a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The server: smtpspec acts as the client (`smtpspec run`).
    Server,
    /// The client: smtpspec plays the server (`smtpspec client`).
    Client,
    /// A whole delivery path: DNS, relays, retries, notifications.
    Relay,
    /// Nothing on the wire shows it.
    None,
}

impl Role {
    /// As written in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Client => "client",
            Self::Relay => "relay",
            Self::None => "none",
        }
    }
}

/// One entry of the index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Stable id: `<rfc>-<section>-<n>`.
    pub id: String,
    /// RFC number.
    pub rfc: u32,
    /// Section.
    pub section: String,
    /// Level (MUST NOT counts as MUST, SHOULD NOT as SHOULD).
    pub level: Level,
    /// The requirement: the RFC sentence for RFC 5321, a paraphrase for extensions.
    pub text: String,
    /// Who must be watched.
    pub role: Role,
    /// Catalogue cases (`suite/id`) that test it.
    #[serde(default)]
    pub cases: Vec<String>,
    /// Why no black-box test can observe it, when none can.
    #[serde(default)]
    pub untestable: Option<String>,
    /// A word on the mapping.
    #[serde(default)]
    pub note: Option<String>,
}

impl Requirement {
    /// Can a black-box test observe it at all?
    pub fn testable(&self) -> bool {
        self.role != Role::None && self.untestable.is_none()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexFile {
    requirements: Vec<Requirement>,
}

/// The index: `requirements/` in the working directory (a source tree being
/// edited), or the copy built into this binary ([`crate::shipped`]).
pub fn default_dir() -> PathBuf {
    crate::shipped::local_or_shipped("requirements")
}

/// Read every index file under `dir` and check it against `cases`: ids unique and
/// well formed, a reason wherever nothing can be observed, and every linked case
/// present in the catalogue.
pub fn load(dir: &Path, cases: &[Case]) -> Result<Vec<Requirement>, Vec<LoadError>> {
    load_with(dir, Some(cases))
}

/// Read the index without checking its links against a catalogue (a run of part of
/// the catalogue still reports on the requirements it touched).
pub fn read(dir: &Path) -> Result<Vec<Requirement>, Vec<LoadError>> {
    load_with(dir, None)
}

fn load_with(dir: &Path, cases: Option<&[Case]>) -> Result<Vec<Requirement>, Vec<LoadError>> {
    let files = collect_files(&[dir.to_path_buf()]).map_err(|e| vec![e])?;
    let known: Option<BTreeSet<&str>> =
        cases.map(|cases| cases.iter().map(|c| c.meta.id.as_str()).collect());
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                errors.push(LoadError::file(&file, e.to_string()));
                continue;
            }
        };
        let index: IndexFile = match from_yaml(&text, &file) {
            Ok(i) => i,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for r in index.requirements {
            let at = |msg: String| {
                let line = line_of(&text, &r.id);
                LoadError::at(&file, line, None, format!("{}: {msg}", r.id))
            };
            if !well_formed(&r) {
                errors.push(at(format!(
                    "id must be <rfc>-<section>-<n> with rfc {} and section {}",
                    r.rfc, r.section
                )));
            }
            if !seen.insert(r.id.clone()) {
                errors.push(at("id is used twice".into()));
            }
            if r.role == Role::None && r.untestable.is_none() {
                errors.push(at("role none needs an `untestable` reason".into()));
            }
            for c in &r.cases {
                if known.as_ref().is_some_and(|k| !k.contains(c.as_str())) {
                    errors.push(at(format!("no catalogue case {c}")));
                }
            }
            out.push(r);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn well_formed(r: &Requirement) -> bool {
    let prefix = format!("{}-{}-", r.rfc, r.section);
    r.id.strip_prefix(&prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The line where `id:` names this requirement, for located errors.
fn line_of(text: &str, id: &str) -> u64 {
    text.lines()
        .position(|l| l.trim_start().trim_start_matches("- ").trim() == format!("id: {id}"))
        .map_or(1, |n| u64::try_from(n).map_or(u64::MAX, |n| n + 1))
}

/// Covered and uncovered counts for one role and level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requirements with at least one case.
    pub covered: usize,
    /// Testable requirements with no case yet.
    pub uncovered: usize,
    /// Requirements no black-box test can observe.
    pub untestable: usize,
}

/// What `smtpspec coverage` reports.
#[derive(Debug, Clone)]
pub struct Coverage<'a> {
    /// Tallies by role and level.
    pub tallies: BTreeMap<(Role, Level), Tally>,
    /// Testable MUST/SHOULD requirements without a case.
    pub uncovered: Vec<&'a Requirement>,
    /// Cases that no requirement links to.
    pub orphans: Vec<&'a str>,
}

/// Count coverage of `index` by `cases`.
pub fn coverage<'a>(index: &'a [Requirement], cases: &'a [Case]) -> Coverage<'a> {
    let mut tallies: BTreeMap<(Role, Level), Tally> = BTreeMap::new();
    let mut uncovered = Vec::new();
    let mut linked = BTreeSet::new();
    for r in index {
        let t = tallies.entry((r.role, r.level)).or_default();
        linked.extend(r.cases.iter().map(String::as_str));
        if !r.cases.is_empty() {
            t.covered += 1;
        } else if r.testable() {
            t.uncovered += 1;
            if r.level != Level::May {
                uncovered.push(r);
            }
        } else {
            t.untestable += 1;
        }
    }
    let orphans = cases
        .iter()
        .map(|c| c.meta.id.as_str())
        .filter(|id| !linked.contains(id))
        .collect();
    Coverage {
        tallies,
        uncovered,
        orphans,
    }
}

impl Coverage<'_> {
    /// The sum over levels for `role` (all roles when `None`), MAY included or not.
    pub fn total(&self, role: Option<Role>, with_may: bool) -> Tally {
        let mut sum = Tally::default();
        for ((r, l), t) in &self.tallies {
            if role.is_some_and(|want| want != *r) || (!with_may && *l == Level::May) {
                continue;
            }
            sum.covered += t.covered;
            sum.uncovered += t.uncovered;
            sum.untestable += t.untestable;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: &str, role: Role, level: Level, cases: &[&str]) -> Requirement {
        Requirement {
            id: id.into(),
            rfc: 5321,
            section: "4.1.4".into(),
            level,
            text: String::new(),
            role,
            cases: cases.iter().map(|c| (*c).to_owned()).collect(),
            untestable: None,
            note: None,
        }
    }

    #[test]
    fn ids_name_their_rfc_and_section() {
        assert!(well_formed(&req(
            "5321-4.1.4-12",
            Role::Server,
            Level::Must,
            &[]
        )));
        assert!(!well_formed(&req(
            "5321-4.1.3-1",
            Role::Server,
            Level::Must,
            &[]
        )));
        assert!(!well_formed(&req(
            "5321-4.1.4-",
            Role::Server,
            Level::Must,
            &[]
        )));
        assert!(!well_formed(&req(
            "5321-4.1.4-x",
            Role::Server,
            Level::Must,
            &[]
        )));
    }

    #[test]
    fn coverage_counts_by_role_and_level() {
        let index = vec![
            req("5321-4.1.4-1", Role::Server, Level::Must, &["a/b"]),
            req("5321-4.1.4-2", Role::Server, Level::Must, &[]),
            req("5321-4.1.4-3", Role::Server, Level::May, &[]),
            Requirement {
                untestable: Some("internal".into()),
                ..req("5321-4.1.4-4", Role::None, Level::Should, &[])
            },
        ];
        let c = coverage(&index, &[]);
        let must = c.tallies[&(Role::Server, Level::Must)];
        assert_eq!((must.covered, must.uncovered), (1, 1));
        assert_eq!(c.uncovered.len(), 1, "MAY is not listed as uncovered");
        assert_eq!(c.uncovered[0].id, "5321-4.1.4-2");
        assert_eq!(c.total(None, true).untestable, 1);
        assert_eq!(c.total(Some(Role::Server), false).covered, 1);
    }
}
