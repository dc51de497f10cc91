//! A fuzz campaign's findings in the report model: `OUT/report.json` (the JSON
//! contract of `smtpspec run`, so `smtpspec report` and every tool that reads run
//! reports read it) and `OUT/report.html`. Each finding is a case that did not pass:
//! its reproducer's id, the rule it broke, what happened, and the session that showed
//! it.

use std::path::Path;
use std::time::Duration;

use smtpspec::outcome::Level;
use smtpspec::report::model::{Context, Report, Settings};
use smtpspec::report::{Run, Tested, html};
use smtpspec::runner::{CaseResult, PacerStats};
use smtpspec::scenario::Spec;
use smtpspec::wire::Event;

use super::CliError;

/// One finding, as a case of the report.
pub(super) struct Entry {
    /// The reproducer's id (`<class>-<key>`).
    pub(super) stem: String,
    /// The reproducer's suite.
    pub(super) suite: &'static str,
    /// What happened, in words.
    pub(super) what: String,
    /// The RFC and section of the rule.
    pub(super) spec: (u16, &'static str),
    /// Its level: an unmet MUST fails, anything else warns.
    pub(super) level: Level,
    /// The class and the campaign's kind.
    pub(super) tags: Vec<String>,
    /// The session that showed it.
    pub(super) transcript: Vec<Event>,
}

/// Write `report.json` and `report.html` under `out`.
pub(super) fn write(
    out: &Path,
    target: Tested,
    name: &str,
    seed: u64,
    started: u64,
    entries: Vec<Entry>,
) -> Result<(), CliError> {
    let cases = entries
        .into_iter()
        .map(|e| CaseResult {
            id: format!("{}/{}", e.suite, e.stem),
            suite: e.suite.into(),
            title: e.what.clone(),
            spec: Spec {
                rfc: u32::from(e.spec.0),
                section: e.spec.1.into(),
                level: e.level,
                quote: None,
            },
            tags: e.tags,
            verdict: e.level.unmet(),
            reason: e.what,
            duration: Duration::ZERO,
            transcript: e.transcript,
            retries: Vec::new(),
            harness_serves: false,
            scenario_error: false,
            mismatch: None,
            relayed: None,
        })
        .collect();
    let run = Run {
        target,
        started,
        finished: super::unix_now(),
        cases,
        pacing: PacerStats::default(),
    };
    let context = Context {
        requirements: Vec::new(),
        settings: Settings {
            seed: Some(seed),
            ..Settings::default()
        },
        suite_digest: String::new(),
        target_name: name.into(),
    };
    let report = Report::from_run(&run, &context);
    let io = |path: &Path, e: std::io::Error| CliError::usage(format!("{}: {e}", path.display()));
    let json = out.join("report.json");
    std::fs::write(&json, report.to_json()).map_err(|e| io(&json, e))?;
    let page = out.join("report.html");
    std::fs::write(&page, html::render(&report)).map_err(|e| io(&page, e))?;
    Ok(())
}
