//! `smtpspec coverage`: how much of the requirements index the catalogue covers, and
//! what is left, so that the next case to write is the most important missing one.

use smtpspec::requirements::{self, Coverage, Requirement, Role};
use smtpspec::scenario::Level;

use super::catalogue::Catalogue;
use super::out::{out, outln};
use super::{CliError, CmdResult, Exit};
use crate::cli::{CoverageArgs, CoverageFormat};

const ROLES: [Role; 4] = [Role::Server, Role::Client, Role::Relay, Role::None];
const LEVELS: [Level; 3] = [Level::Must, Level::Should, Level::May];

pub(crate) fn main(args: CoverageArgs) -> CmdResult {
    let cases = Catalogue::load(args.paths, &args.scenarios)?.cases;
    let dir = args.requirements.unwrap_or_else(requirements::default_dir);
    let mut index = requirements::load(&dir, &cases).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        CliError::usage(format!(
            "{} error(s) in the requirements index",
            errors.len()
        ))
    })?;
    if let Some(f) = &args.filter {
        index.retain(|r| r.id.starts_with(f.as_str()) || r.section.starts_with(f.as_str()));
    }
    let cov = requirements::coverage(&index, &cases);
    let advisories = advisories(&cases);
    match args.format {
        CoverageFormat::Text => out!(
            "{}{}",
            text(&index, &cov, args.all),
            advisories_text(&advisories)
        ),
        CoverageFormat::Json => {
            let mut json = json(&index, &cov);
            json["advisories"] = serde_json::json!(advisories);
            let json = serde_json::to_string_pretty(&json)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            outln!("{json}");
        }
    }
    Ok(Exit::Conformant)
}

/// The advisories the catalogue has cases for, each with its cases: a tag that is a
/// CVE id (`CVE-2023-51764`), or `advisory:NAME` for one published without a CVE (a
/// vendor's changelog entry, a paper), as security people look a tool up by them.
fn advisories(
    cases: &[smtpspec::scenario::load::Case],
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for case in cases {
        for tag in &case.meta.tags {
            let cve = tag.strip_prefix("CVE-").is_some_and(|rest| {
                let mut parts = rest.split('-');
                let year = parts.next().unwrap_or_default();
                let number = parts.next().unwrap_or_default();
                year.len() == 4
                    && number.len() >= 4
                    && parts.next().is_none()
                    && (year.bytes().chain(number.bytes())).all(|b| b.is_ascii_digit())
            });
            if cve || tag.starts_with("advisory:") {
                map.entry(tag.clone())
                    .or_default()
                    .push(case.meta.id.clone());
            }
        }
    }
    map
}

fn advisories_text(map: &std::collections::BTreeMap<String, Vec<String>>) -> String {
    use std::fmt::Write as _;
    let mut out = format!("\nAdvisories covered ({}):\n", map.len());
    for (tag, cases) in map {
        let _ = writeln!(out, "  {tag:<42} {} case(s)", cases.len());
    }
    out
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

fn text(index: &[Requirement], cov: &Coverage<'_>, all: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let rfcs: std::collections::BTreeSet<u32> = index.iter().map(|r| r.rfc).collect();
    let _ = writeln!(
        out,
        "Requirements index: {} requirements from RFC {}",
        index.len(),
        rfcs.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "\n{:<8} {:<7} {:>8} {:>10} {:>11} {:>9}",
        "role", "level", "covered", "uncovered", "untestable", "coverage"
    );
    for role in ROLES {
        for level in LEVELS {
            let Some(t) = cov.tallies.get(&(role, level)) else {
                continue;
            };
            let _ = writeln!(
                out,
                "{:<8} {:<7} {:>8} {:>10} {:>11} {:>9}",
                role.as_str(),
                level.as_str(),
                t.covered,
                t.uncovered,
                t.untestable,
                percent(t.covered, t.covered + t.uncovered)
            );
        }
    }
    let server = cov.total(Some(Role::Server), false);
    let every = cov.total(None, false);
    let _ = writeln!(
        out,
        "\nServer-side MUST/SHOULD: {} of {} testable covered ({}). All roles: {} of {} ({}).",
        server.covered,
        server.covered + server.uncovered,
        percent(server.covered, server.covered + server.uncovered),
        every.covered,
        every.covered + every.uncovered,
        percent(every.covered, every.covered + every.uncovered),
    );
    let _ = writeln!(
        out,
        "\nUncovered MUST/SHOULD ({}), server first:",
        cov.uncovered.len()
    );
    let mut uncovered = cov.uncovered.clone();
    uncovered.sort_by_key(|r| (r.role, r.level));
    for r in uncovered {
        let _ = writeln!(out, "  {}", line(r));
    }
    if all {
        let _ = writeln!(out, "\nNot black-box observable:");
        for r in index.iter().filter(|r| !r.testable()) {
            let why = r.untestable.as_deref().unwrap_or("role none");
            let _ = writeln!(out, "  {:<16} {:<6} {why}", r.id, r.level.as_str());
        }
        let _ = writeln!(out, "\nUncovered MAY:");
        for r in index
            .iter()
            .filter(|r| r.testable() && r.cases.is_empty() && r.level == Level::May)
        {
            let _ = writeln!(out, "  {}", line(r));
        }
    }
    if !cov.orphans.is_empty() {
        let _ = writeln!(
            out,
            "\nCases linked to no requirement ({}):",
            cov.orphans.len()
        );
        for id in &cov.orphans {
            let _ = writeln!(out, "  {id}");
        }
    }
    out
}

fn line(r: &Requirement) -> String {
    let mut text: String = r.text.chars().take(90).collect();
    if text.len() < r.text.len() {
        text.push('…');
    }
    format!(
        "{:<16} {:<6} {:<6} {text}",
        r.id,
        r.role.as_str(),
        r.level.as_str()
    )
}

fn json(index: &[Requirement], cov: &Coverage<'_>) -> serde_json::Value {
    use serde_json::json;
    let tallies: Vec<_> = cov
        .tallies
        .iter()
        .map(|((role, level), t)| {
            json!({"role": role.as_str(), "level": level.as_str(), "covered": t.covered,
                   "uncovered": t.uncovered, "untestable": t.untestable})
        })
        .collect();
    let requirements: Vec<_> = index
        .iter()
        .map(|r| {
            json!({"id": r.id, "rfc": r.rfc, "section": r.section, "level": r.level.as_str(),
                   "role": r.role.as_str(), "cases": r.cases, "untestable": r.untestable})
        })
        .collect();
    json!({
        "tallies": tallies,
        "uncovered": cov.uncovered.iter().map(|r| &r.id).collect::<Vec<_>>(),
        "orphan_cases": cov.orphans,
        "requirements": requirements,
    })
}
