//! Writing reports (`--format`, `--output`, `--output-dir`), judging them against a
//! baseline or a list of known failures, and `smtpspec report` (render saved JSON
//! reports again, or merge several into a matrix).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sha2::{Digest, Sha256};
use smtpspec::report::baseline::{self, Comparison, Expectations};
use smtpspec::report::model::Report;
use smtpspec::report::{Run, html, junit, markdown, text};

use crate::EXIT_USAGE;
use crate::cli::{Format, ReportArgs, RunArgs};

/// SHA-256 over the scenario files (name and content of each, in order).
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

fn render(format: Format, run: &Run, report: &Report, args: &RunArgs, color: bool) -> String {
    match format {
        Format::Text => text::report(run, args.verbose, color),
        Format::Json => report.to_json(),
        Format::Junit => junit::render(report),
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report),
    }
}

/// Write the report in every format asked for.
pub(crate) fn write(run: &Run, report: &Report, args: &RunArgs, color: bool) -> Result<(), String> {
    let formats = match (&args.output_dir, args.formats.is_empty()) {
        (Some(_), true) => vec![
            Format::Text,
            Format::Json,
            Format::Junit,
            Format::Markdown,
            Format::Html,
        ],
        (None, true) => vec![Format::Text],
        _ => args.formats.clone(),
    };
    if args.output.is_some() && formats.len() > 1 {
        return Err("--output takes one --format; use --output-dir for several".into());
    }
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    for f in formats {
        let color = color && args.output.is_none() && args.output_dir.is_none();
        let body = render(f, run, report, args, color);
        match (&args.output, &args.output_dir) {
            (Some(path), _) => save(path, &body)?,
            (None, Some(dir)) => save(&dir.join(f.file_name()), &body)?,
            (None, None) => print!("{body}"),
        }
    }
    Ok(())
}

fn save(path: &Path, body: &str) -> Result<(), String> {
    std::fs::write(path, body).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_report(path: &Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Report::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// What the baseline and the known failures say about `report`, printed on standard
/// error; `Ok(Some(true))` when they make the run non-conformant, `Ok(None)` when
/// neither was given.
pub(crate) fn judge(report: &Report, args: &RunArgs) -> Result<Option<bool>, String> {
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

/// `smtpspec report`.
pub(crate) fn report_main(args: ReportArgs) -> ExitCode {
    let mut reports = Vec::new();
    for path in &args.reports {
        match read_report(path) {
            Ok(mut r) => {
                if r.target.name.is_empty() {
                    r.target.name = path
                        .file_stem()
                        .map_or_else(|| r.target.address.clone(), |s| s.to_string_lossy().into());
                }
                reports.push(r);
            }
            Err(e) => {
                eprintln!("smtpspec report: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    let body = match (args.format, reports.as_slice()) {
        (Format::Html, [one]) => html::render(one),
        (Format::Html, many) => html::matrix(many),
        (Format::Markdown, [one]) => markdown::render(one),
        (Format::Markdown, many) => markdown::matrix(many),
        (Format::Junit, [one]) => junit::render(one),
        (Format::Json, [one]) => one.to_json(),
        (f, _) => {
            eprintln!("smtpspec report: {f:?} takes one report; html and markdown merge several");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match &args.output {
        Some(path) => match save(path, &body) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("smtpspec report: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        None => {
            print!("{body}");
            ExitCode::SUCCESS
        }
    }
}
