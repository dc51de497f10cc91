//! `smtpspec report`: render saved JSON reports again, merge several into a matrix
//! across implementations, or (`--merge`) the shards of one run into one report.

use smtpspec::report::model::Report;
use smtpspec::report::{badge, chain, html, junit, markdown, merge, text};
use smtpspec::requirements;

use super::finish::{read_report, save};
use super::out::out;
use super::{CliError, CmdResult, Exit};
use crate::cli::{Format, ReportArgs};

pub(crate) fn main(args: ReportArgs) -> CmdResult {
    let mut reports = Vec::new();
    for path in &args.reports {
        let mut r = read_report(path)?;
        if r.target.name.is_empty() {
            r.target.name = path
                .file_stem()
                .map_or_else(|| r.target.address.clone(), |s| s.to_string_lossy().into());
        }
        reports.push(r);
    }
    let body = if args.chains {
        let chains = chain::chains(&reports);
        match args.format.unwrap_or(Format::Markdown) {
            Format::Markdown | Format::Text => chains.markdown(),
            Format::Html => chains.html(),
            Format::Json => {
                serde_json::to_string_pretty(&chains).map_err(|e| CliError::usage(e.to_string()))?
            }
            f => {
                return Err(CliError::usage(format!(
                    "--chains writes markdown, html or json, not {f:?}"
                )));
            }
        }
    } else if args.merge {
        let index = requirements::read(&requirements::default_dir()).unwrap_or_default();
        let merged = merge::merge(reports, &index).map_err(|e| CliError::usage(e.0))?;
        render(args.format.unwrap_or(Format::Json), &[merged])?
    } else {
        render(args.format.unwrap_or(Format::Html), &reports)?
    };
    match &args.output {
        Some(path) => save(path, &body)?,
        None => out!("{body}"),
    }
    Ok(Exit::Conformant)
}

fn render(format: Format, reports: &[Report]) -> Result<String, CliError> {
    Ok(match (format, reports) {
        (Format::Html, [one]) => html::render(one),
        (Format::Html, many) => html::matrix(many),
        (Format::Markdown, [one]) => markdown::render(one),
        (Format::Markdown, many) => markdown::matrix(many),
        (Format::Junit, [one]) => junit::render(one),
        (Format::Json, [one]) => one.to_json(),
        (Format::Text, [one]) => text::render(one, true, false),
        (Format::Badge, [one]) => badge::render(one),
        (f, _) => {
            return Err(CliError::usage(format!(
                "{f:?} takes one report; html and markdown make a matrix of several, \
                 --merge makes one report of a run's shards"
            )));
        }
    })
}
