//! `smtpspec report`: render saved JSON reports again, or merge several into a matrix
//! across implementations.

use smtpspec::report::{html, junit, markdown};

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
    let body = match (args.format, reports.as_slice()) {
        (Format::Html, [one]) => html::render(one),
        (Format::Html, many) => html::matrix(many),
        (Format::Markdown, [one]) => markdown::render(one),
        (Format::Markdown, many) => markdown::matrix(many),
        (Format::Junit, [one]) => junit::render(one),
        (Format::Json, [one]) => one.to_json(),
        (f, _) => {
            return Err(CliError::usage(format!(
                "{f:?} takes one report; html and markdown merge several"
            )));
        }
    };
    match &args.output {
        Some(path) => save(path, &body)?,
        None => out!("{body}"),
    }
    Ok(Exit::Conformant)
}
