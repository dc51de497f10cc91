//! Reading and checking scenario files. Everything that can be known before a target
//! is contacted is checked here, so a run never stops halfway on a typo: unknown keys,
//! wrong types, unknown steps and variables, bad escapes, durations, classes and
//! patterns all come back as `file:line:column: message`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use super::step::{Action, Cuts, HeaderMatch, LocatedAction, Matcher, StoredCheck};
use super::step::{check_step, texts};

pub use crate::yaml::{LoadError, collect_files, from_yaml, read_yaml};

use std::sync::Arc;

use super::client::ClientCase;
use super::sender::DeliveryDef;
use super::template;
use super::{CaseDef, Level, Spec, SuiteFile, valid_id};

/// A checked case, ready to run.
#[derive(Debug, Clone)]
pub struct Case {
    /// What the case is about, whatever its kind.
    pub meta: CaseMeta,
    /// Which role the case tests, and what that role runs.
    pub kind: CaseKind,
}

/// What every case has, whatever role it tests: its name, its requirement, when it
/// applies, where it was written.
#[derive(Debug, Clone)]
pub struct CaseMeta {
    /// `suite/id`.
    pub id: String,
    /// The suite.
    pub suite: String,
    /// One line for people.
    pub title: String,
    /// The requirement.
    pub spec: Spec,
    /// EHLO keywords needed.
    pub requires: Vec<String>,
    /// EHLO keywords needed after STARTTLS.
    pub requires_after_tls: Vec<String>,
    /// Greeting codes the case is for; empty: 220.
    pub requires_greeting: Vec<u16>,
    /// Policies the target's profile must declare.
    pub requires_policy: Vec<super::PolicyName>,
    /// A PROXY port (`true`) or one without PROXY (`false`); `None`: either.
    pub proxy_port: Option<bool>,
    /// Variables the steps use; the case is skipped when the target lacks one (AUTH
    /// credentials, above all).
    pub uses: BTreeSet<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Source file.
    pub file: PathBuf,
}

/// The three kinds of case, one per role under test (roles/ runs each).
#[derive(Debug, Clone)]
pub enum CaseKind {
    /// A server under test: smtpspec is the client and runs these steps.
    Server(Vec<LocatedAction>),
    /// A client under test: smtpspec plays the server with this script.
    Client(Arc<ClientCase>),
    /// A sender under test: what to deliver through the fake DNS, and to expect.
    Sender(Arc<DeliveryDef>),
}

impl Case {
    /// `MUST`, `SHOULD` or `MAY`.
    pub fn level(&self) -> Level {
        self.meta.spec.level
    }

    /// The steps of a server case; none for the other kinds.
    pub fn steps(&self) -> &[LocatedAction] {
        match &self.kind {
            CaseKind::Server(steps) => steps,
            _ => &[],
        }
    }

    /// The script of a client case.
    pub fn client(&self) -> Option<&ClientCase> {
        match &self.kind {
            CaseKind::Client(c) => Some(c),
            _ => None,
        }
    }

    /// The delivery of a sender case.
    pub fn delivery(&self) -> Option<&DeliveryDef> {
        match &self.kind {
            CaseKind::Sender(d) => Some(d),
            _ => None,
        }
    }
}

/// Load and check every suite under `paths`. All problems are reported, not just the
/// first.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Case>, Vec<LoadError>> {
    let files = collect_files(paths).map_err(|e| vec![e])?;
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    let mut ids = BTreeSet::new();
    for file in files {
        match load_file(&file) {
            Ok(found) => {
                for c in found {
                    if !ids.insert(c.meta.id.clone()) {
                        errors.push(LoadError::file(
                            &file,
                            format!("case id {} is used twice", c.meta.id),
                        ));
                    }
                    cases.push(c);
                }
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

/// Load one file.
pub fn load_file(file: &Path) -> Result<Vec<Case>, Vec<LoadError>> {
    let text =
        std::fs::read_to_string(file).map_err(|e| vec![LoadError::file(file, e.to_string())])?;
    parse(&text, file)
}

/// Parse and check a suite's text; `file` names it in errors.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Case>, Vec<LoadError>> {
    let suite: SuiteFile = from_yaml(text, file).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut cases = Vec::new();
    if !valid_id(&suite.suite, true) {
        errors.push(LoadError::at(
            file,
            1,
            Some(1),
            format!(
                "suite name {:?} must be lower-case letters, digits, '-', '.'",
                suite.suite
            ),
        ));
    }
    for def in suite.cases {
        match check_case(&suite.suite, def, file) {
            Ok(c) => cases.push(c),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

fn check_case(suite: &str, def: CaseDef, file: &Path) -> Result<Case, Vec<LoadError>> {
    let mut errors = Vec::new();
    let first_line = def.steps.first().map_or(1, |s| s.referenced.line());
    let at = |line: u64, col: u64, msg: String| {
        LoadError::at(file, line, Some(col), format!("case {}: {msg}", def.id))
    };
    if !valid_id(&def.id, false) {
        errors.push(at(
            first_line,
            1,
            "id must be lower-case letters, digits and '-'".into(),
        ));
    }
    let (delivery, client) = roles::check(&def, first_line, &mut |line, col, msg| {
        errors.push(at(line, col, msg));
    });
    let mut steps = Vec::new();
    let mut captured = BTreeSet::new();
    for spanned in &def.steps {
        let (line, col) = (spanned.referenced.line(), spanned.referenced.column());
        match check_step(&spanned.value, &mut captured) {
            Ok(action) => steps.push(LocatedAction {
                action,
                line,
                name: spanned.value.name(),
            }),
            Err(msg) => errors.push(at(line, col, format!("{}: {msg}", spanned.value.name()))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    replies::assign(&mut steps);
    let mut uses =
        steps
            .iter()
            .flat_map(|s| texts(&s.action))
            .fold(BTreeSet::new(), |mut set, t| {
                set.extend(
                    template::names(t)
                        .unwrap_or_default()
                        .into_iter()
                        .map(str::to_owned),
                );
                set
            });
    // Captured values come from the target during the case, not from the profile.
    uses.retain(|n| !captured.contains(n));
    Ok(Case {
        meta: CaseMeta {
            requires_greeting: def.requires_greeting,
            requires_policy: def.requires_policy,
            proxy_port: def.proxy_port,
            uses,
            id: format!("{suite}/{}", def.id),
            suite: suite.to_owned(),
            title: def.title,
            spec: def.spec,
            requires: def
                .requires
                .iter()
                .map(|k| k.to_ascii_uppercase())
                .collect(),
            requires_after_tls: def
                .requires_after_tls
                .iter()
                .map(|k| k.to_ascii_uppercase())
                .collect(),
            tags: def.tags,
            file: file.to_path_buf(),
        },
        kind: match (delivery, client) {
            (Some(d), _) => CaseKind::Sender(d),
            (None, Some(c)) => CaseKind::Client(c),
            (None, None) => CaseKind::Server(steps),
        },
    })
}

pub mod replies;
mod roles;
#[cfg(test)]
mod tests;
