//! Reading and checking scenario files. Everything that can be known before a target
//! is contacted is checked here, so a run never stops halfway on a typo: unknown keys,
//! wrong types, unknown steps and variables, bad escapes, durations, classes and
//! patterns all come back as `file:line:column: message`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

pub use matcher::Matcher;
use matcher::matcher;

pub use crate::yaml::{LoadError, collect_files, from_yaml, read_yaml};

use super::serving::ClientCase;
use super::template::{self, KNOWN};
use super::{CaseDef, ExpectEhlo, Level, Spec, Split, Step, SuiteFile};

/// A checked step.
#[derive(Debug, Clone)]
pub enum Action {
    /// A line to send; CRLF added after expansion.
    Send(String),
    /// Octets to send, after expansion and unescaping.
    SendRaw(String),
    /// A pipelined batch: lines (CRLF added after expansion) and where to cut it.
    SendBatch {
        /// The command lines.
        lines: Vec<String>,
        /// Write boundaries.
        cuts: Cuts,
    },
    /// A body; `stuff` dot-stuffs and terminates it.
    SendBody {
        /// Text with escapes.
        text: String,
        /// Dot-stuff and terminate.
        stuff: bool,
        /// Pad past the advertised SIZE.
        exceed_size: bool,
    },
    /// Run the TLS handshake.
    Handshake,
    /// Check the stored message.
    ExpectStored(StoredCheck),
    /// Wait for a reply and match it.
    Expect(Matcher),
    /// Check the last EHLO reply.
    ExpectEhlo(ExpectEhlo),
    /// Wait for the server to close.
    ExpectClose,
    /// Nothing may arrive for this long.
    Silence(Duration),
    /// Whatever arrives in this window must not show an end taken; then the real end
    /// (unescaped octets), if given, gets one reply and no more.
    NotEnded {
        /// The window.
        wait: Duration,
        /// The real end, as a template with escapes.
        end: Option<String>,
    },
    /// STARTTLS and the handshake.
    Starttls,
    /// Wait.
    Pause(Duration),
}

/// An `expect_stored` step with its patterns compiled.
#[derive(Debug, Clone)]
pub struct StoredCheck {
    /// The step as written.
    pub spec: super::ExpectStored,
    /// `matches`, compiled.
    pub patterns: Vec<Regex>,
    /// `headers`, with their patterns compiled.
    pub headers: Vec<HeaderMatch>,
}

/// One header check of `expect_stored`.
#[derive(Debug, Clone)]
pub struct HeaderMatch {
    /// Field name (compared without case).
    pub name: String,
    /// Exact value (a template).
    pub value: Option<String>,
    /// Pattern the value must match.
    pub matches: Option<Regex>,
}

/// Where a batch is cut into writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cuts {
    /// One write.
    None,
    /// Before each of these octet offsets (ascending, non-zero).
    At(Vec<usize>),
    /// After every octet.
    Each,
}

/// A step with where it was written.
#[derive(Debug, Clone)]
pub struct LocatedAction {
    /// The step.
    pub action: Action,
    /// Line in the file (1-based).
    pub line: u64,
    /// The step's name as written.
    pub name: &'static str,
}

/// A checked case, ready to run.
#[derive(Debug, Clone)]
pub struct Case {
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
    /// Variables the steps use; the case is skipped when the target lacks one (AUTH
    /// credentials, above all).
    pub uses: BTreeSet<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// The steps.
    pub steps: Vec<LocatedAction>,
    /// Or, for a delivery case, what to deliver and expect.
    pub delivery: Option<std::sync::Arc<super::delivery::DeliveryDef>>,
    /// Or, for a client case, the server's script.
    pub client: Option<std::sync::Arc<ClientCase>>,
    /// Source file.
    pub file: PathBuf,
}

impl Case {
    /// `MUST`, `SHOULD` or `MAY`.
    pub fn level(&self) -> Level {
        self.spec.level
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
                    if !ids.insert(c.id.clone()) {
                        errors.push(LoadError::file(
                            &file,
                            format!("case id {} is used twice", c.id),
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

fn valid_id(id: &str, dots: bool) -> bool {
    !id.is_empty()
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
        })
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
        requires_greeting: def.requires_greeting,
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
        steps,
        delivery,
        client,
        file: file.to_path_buf(),
    })
}

/// The template texts of a step.
fn texts(action: &Action) -> Vec<&str> {
    match action {
        Action::Send(t) | Action::SendRaw(t) => vec![t],
        Action::SendBatch { lines, .. } => lines.iter().map(String::as_str).collect(),
        Action::SendBody { text, .. } => vec![text],
        Action::ExpectStored(StoredCheck { spec: e, .. }) => e
            .contains
            .iter()
            .chain(&e.lacks)
            .chain(e.headers.iter().filter_map(|h| h.value.as_ref()))
            .map(String::as_str)
            .collect(),
        _ => Vec::new(),
    }
}

fn check_text(text: &str, escapes: bool, captured: &BTreeSet<String>) -> Result<(), String> {
    let names = template::names(text).map_err(|at| format!("unclosed '{{{{' at offset {at}"))?;
    if let Some(unknown) = names
        .iter()
        .find(|n| !KNOWN.contains(n) && !captured.contains(**n))
    {
        return Err(format!(
            "unknown variable {{{{{unknown}}}}} (known: {})",
            KNOWN.join(", ")
        ));
    }
    if escapes {
        template::unescape(text)
            .map_err(|at| format!("bad escape at offset {at} (use \\r \\n \\t \\0 \\\\ \\xHH)"))?;
    }
    Ok(())
}

fn duration(s: &str) -> Result<Duration, String> {
    super::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration like 500ms or 2s"))
}

/// Check one step; `captured` holds the variables earlier steps of the case capture,
/// and grows with this step's capture.
fn check_step(step: &Step, captured: &mut BTreeSet<String>) -> Result<Action, String> {
    Ok(match step {
        Step::Send(t) => {
            check_text(t, false, captured)?;
            if t.contains(['\r', '\n']) {
                return Err("a line cannot hold CR or LF; use send_raw".into());
            }
            Action::Send(t.clone())
        }
        Step::SendRaw(t) => {
            check_text(t, true, captured)?;
            Action::SendRaw(t.clone())
        }
        Step::SendBatch(b) => {
            if b.lines.is_empty() {
                return Err("a batch needs at least one line".into());
            }
            for t in &b.lines {
                check_text(t, false, captured)?;
                if t.contains(['\r', '\n']) {
                    return Err("a line cannot hold CR or LF; use send_raw".into());
                }
            }
            let cuts = match &b.split {
                None => Cuts::None,
                Some(Split::Every(_)) => Cuts::Each,
                Some(Split::At(at)) => {
                    if at.first() == Some(&0) || at.windows(2).any(|w| w[0] >= w[1]) {
                        return Err("split offsets must be ascending and above 0".into());
                    }
                    Cuts::At(at.clone())
                }
            };
            Action::SendBatch {
                lines: b.lines.clone(),
                cuts,
            }
        }
        Step::SendBody(b) => {
            check_text(&b.text, true, captured)?;
            Action::SendBody {
                text: b.text.clone(),
                stuff: b.stuff,
                exceed_size: b.exceed_size,
            }
        }
        Step::Expect(spec) => {
            let m = matcher(spec)?;
            if let Some(name) = &m.capture {
                if KNOWN.contains(&name.as_str()) {
                    return Err(format!("capture {name:?} would hide a profile variable"));
                }
                captured.insert(name.clone());
            }
            Action::Expect(m)
        }
        Step::ExpectEhlo(e) => {
            if e.keyword.is_empty()
                || !e
                    .keyword
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(format!("{:?} is not an EHLO keyword", e.keyword));
            }
            Action::ExpectEhlo(e.clone())
        }
        Step::ExpectClose => Action::ExpectClose,
        Step::ExpectSilence(d) => Action::Silence(duration(d)?),
        Step::ExpectNotEnded(n) => {
            let (wait, end) = match n {
                super::NotEnded::Wait(w) => (w, None),
                super::NotEnded::Full { wait, end } => (wait, end.clone()),
            };
            if let Some(e) = &end {
                check_text(e, true, captured)?;
            }
            Action::NotEnded {
                wait: duration(wait)?,
                end,
            }
        }
        Step::Starttls => Action::Starttls,
        Step::Handshake => Action::Handshake,
        Step::ExpectStored(e) => {
            for t in e.contains.iter().chain(&e.lacks) {
                check_text(t, true, captured)?;
            }
            if e.absent && !(e.contains.is_empty() && e.lacks.is_empty() && e.matches.is_empty()) {
                return Err("absent: true cannot go with contains, lacks or matches".into());
            }
            if e.absent && !e.headers.is_empty() {
                return Err("absent: true cannot go with headers".into());
            }
            let patterns = e
                .matches
                .iter()
                .map(|p| Regex::new(p).map_err(|err| format!("bad pattern in matches: {err}")))
                .collect::<Result<Vec<_>, _>>()?;
            let mut headers = Vec::new();
            for h in &e.headers {
                if h.name.is_empty()
                    || !h.name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
                {
                    return Err(format!("{:?} is not a header field name", h.name));
                }
                if let Some(v) = &h.value {
                    check_text(v, false, captured)?;
                }
                headers.push(HeaderMatch {
                    name: h.name.clone(),
                    value: h.value.clone(),
                    matches: h
                        .matches
                        .as_deref()
                        .map(Regex::new)
                        .transpose()
                        .map_err(|err| format!("bad pattern in headers: {err}"))?,
                });
            }
            Action::ExpectStored(StoredCheck {
                spec: e.clone(),
                patterns,
                headers,
            })
        }
        Step::Pause(d) => Action::Pause(duration(d)?),
    })
}

mod matcher;
pub mod replies;
mod roles;
#[cfg(test)]
mod tests;
