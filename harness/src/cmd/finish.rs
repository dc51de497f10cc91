//! The end of a run (`run` and `client`): the report in every format asked for, the
//! comparison with a baseline or known failures, and the exit status.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use smtpspec::report::baseline::{self, Comparison, Expectations};
use smtpspec::report::model::{Context, Report, Settings};
use smtpspec::report::standing::Standing;
use smtpspec::report::{Run, badge, html, junit, markdown, text};
use smtpspec::requirements;

use super::{CliError, CmdResult, Exit};
use crate::cli::{CaseArgs, ColorArg, Format};

/// The names `--deviate` and `--variant` gave the embedded server or the reference
/// client, recorded in the report (none for `client`).
#[derive(Default)]
pub(crate) struct ReferenceNames {
    /// `--deviate`.
    pub(crate) deviations: Vec<String>,
    /// `--variant`.
    pub(crate) variants: Vec<String>,
    /// `--no-mail`: no message was sent.
    pub(crate) no_mail: bool,
}

/// Report a finished run as the arguments ask and pick the exit status (shared by
/// `run` and `client`).
pub(crate) fn finish(
    run: &Run,
    args: &CaseArgs,
    files: &[PathBuf],
    target_name: String,
    reference: &ReferenceNames,
) -> CmdResult {
    let context = Context {
        // The index is optional here: without it the report just has no requirement
        // counts.
        requirements: requirements::read(&requirements::default_dir()).unwrap_or_default(),
        settings: Settings {
            filter: args.filter.clone(),
            fail_on: format!("{:?}", args.fail_on).to_lowercase(),
            jobs: args.jobs,
            timeout_ms: u64::try_from(args.timeout.as_millis()).unwrap_or(u64::MAX),
            deviations: reference.deviations.clone(),
            variants: reference.variants.clone(),
            no_mail: reference.no_mail,
            seed: None,
        },
        suite_digest: suite_digest(files),
        target_name,
    };
    let report = Report::from_run(run, &context);
    write(&report, args, use_color(args))?;
    let judged = judge(&report, args)?;
    // A scenario found wrong while running says nothing about the target: the run is
    // a usage error, whatever the verdicts.
    let faults: Vec<&str> = run
        .cases
        .iter()
        .filter(|c| c.scenario_error)
        .map(|c| c.reason.as_str())
        .collect();
    if !faults.is_empty() {
        for f in &faults {
            eprintln!("smtpspec: {f}");
        }
        return Err(CliError::usage(format!(
            "{} case(s) stopped on a fault of the scenario itself, not of the target",
            faults.len()
        )));
    }
    let status = match report.standing() {
        Standing::Conformant => Exit::Conformant,
        Standing::NonConformant(_) => Exit::NonConformant,
        Standing::Untestable => Exit::Untestable,
    };
    Ok(match (status, judged) {
        (Exit::Untestable, _) => Exit::Untestable,
        (_, Some(true)) => Exit::NonConformant,
        (_, Some(false)) => Exit::Conformant,
        (code, None) => code,
    })
}

/// Colour for the text report: never into a file, and `auto` follows the terminal and
/// NO_COLOR (set and not empty turns it off).
fn use_color(args: &CaseArgs) -> bool {
    match args.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            args.output.is_none()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

pub(crate) fn suite_digest(files: &[PathBuf]) -> String {
    let mut h = Sha256::new();
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
        h.update(name.unwrap_or_default().as_bytes());
        h.update([0]);
        h.update(std::fs::read(f).unwrap_or_default());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn render(format: Format, report: &Report, args: &CaseArgs, color: bool) -> String {
    match format {
        Format::Text => text::render(report, args.verbose, color),
        Format::Json => report.to_json(),
        Format::Junit => junit::render(report),
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report),
        Format::Badge => badge::render(report),
    }
}

/// Write the report in every format asked for.
pub(crate) fn write(report: &Report, args: &CaseArgs, color: bool) -> Result<(), CliError> {
    let formats = match (&args.output_dir, args.formats.is_empty()) {
        (Some(_), true) => vec![
            Format::Text,
            Format::Json,
            Format::Junit,
            Format::Markdown,
            Format::Html,
            Format::Badge,
        ],
        (None, true) => vec![Format::Text],
        _ => args.formats.clone(),
    };
    if args.output.is_some() && formats.len() > 1 {
        return Err("--output takes one --format; use --output-dir for several".into());
    }
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir).map_err(|e| super::usage!("{}: {e}", dir.display()))?;
    }
    for f in formats {
        let color = color && args.output.is_none() && args.output_dir.is_none();
        let body = render(f, report, args, color);
        match (&args.output, &args.output_dir) {
            (Some(path), _) => save(path, &body)?,
            (None, Some(dir)) => save(&dir.join(f.file_name()), &body)?,
            (None, None) => super::out::out!("{body}"),
        }
    }
    Ok(())
}

pub(crate) fn save(path: &Path, body: &str) -> Result<(), CliError> {
    std::fs::write(path, body).map_err(|e| super::usage!("{}: {e}", path.display()))
}

pub(crate) fn read_report(path: &Path) -> Result<Report, CliError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| super::usage!("{}: {e}", path.display()))?;
    Report::from_json(&text).map_err(|e| super::usage!("{}: {e}", path.display()))
}

/// What the baseline and the known failures say about `report`, printed on standard
/// error; `Ok(Some(true))` when they make the run non-conformant, `Ok(None)` when
/// neither was given.
pub(crate) fn judge(report: &Report, args: &CaseArgs) -> Result<Option<bool>, CliError> {
    let mut verdict = None;
    if let Some(path) = &args.baseline {
        let old = read_report(path)?;
        let cmp = baseline::compare(&old, report);
        print_comparison(&cmp, path);
        verdict = Some(!cmp.regressions.is_empty());
    }
    if let Some(path) = &args.expect_fail {
        let known = baseline::read_known(path)?;
        let exp = baseline::expectations(report, &known);
        print_expectations(&exp, path);
        // With a baseline too, a regression already decides; otherwise any failure
        // that is not known does.
        let bad = !exp.unexpected.is_empty();
        verdict = Some(verdict.unwrap_or(false) || (args.baseline.is_none() && bad));
    }
    Ok(verdict)
}

fn print_comparison(cmp: &Comparison, path: &Path) {
    eprintln!(
        "baseline {}: {} regression(s), {} newly passing, {} new case(s)",
        path.display(),
        cmp.regressions.len(),
        cmp.newly_passing.len(),
        cmp.new_cases.len()
    );
    for c in &cmp.regressions {
        eprintln!("  regression: {} ({} → {})", c.id, c.before, c.now);
    }
    for c in &cmp.newly_passing {
        eprintln!("  now passing: {} ({} → {})", c.id, c.before, c.now);
    }
}

fn print_expectations(exp: &Expectations, path: &Path) {
    eprintln!(
        "known failures {}: {} failed as expected, {} unexpected failure(s), {} now passing",
        path.display(),
        exp.expected.len(),
        exp.unexpected.len(),
        exp.now_passing.len()
    );
    for id in &exp.unexpected {
        eprintln!("  unexpected: {id}");
    }
    for id in &exp.now_passing {
        eprintln!("  now passing, take it off the list: {id}");
    }
    for id in &exp.unknown {
        eprintln!("  listed but not in this run: {id}");
    }
}
