//! HTML: one self-contained file (inline style, no script, no external asset, so it
//! opens offline and from a CI artifact). One report gives the summary, a table per
//! RFC section and each case's transcript folded in a `<details>`; several reports
//! give a matrix, one column per implementation.
//!
//! Every string goes through [`esc`]: what a target sent is data, never markup.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::model::{CaseReport, Report, SpecInfo};
use super::standing::Standing;
use super::{neutral, rfc_link, section_key, transcript_lines};
use crate::outcome::Verdict;

/// HTML-escaped text, control characters neutralised first.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in neutral(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1d1d1f}\
h1{font-size:1.5em}td.grade{font-weight:700;font-size:1.2em;text-align:center}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;\
text-align:left;vertical-align:top}th{background:#f3f3f3}\
.v{font-weight:600;border-radius:3px;padding:0 .4em;white-space:nowrap}\
.pass{background:#d8f3dc;color:#1b4332}.fail{background:#ffccd5;color:#7a0016}\
.warn{background:#fff3bf;color:#6b4f00}.skip{background:#eee;color:#555}\
.error{background:#e5dbff;color:#3b1f7a}.none{color:#999}\
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;white-space:pre-wrap;\
word-break:break-all;max-height:30em}code{font-size:.95em}\
summary{cursor:pointer;color:#444}.meta{color:#555}\
.verdict{font-size:1.2em;font-weight:600;padding:.4em .8em;border-radius:4px;display:inline-block}\
tr:target{outline:2px solid #888}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        esc(title)
    )
}

fn badge(verdict: Verdict, tip: &str) -> String {
    let v = verdict.as_str();
    format!("<span class=\"v {v}\" title=\"{}\">{v}</span>", esc(tip))
}

fn section_link(spec: &SpecInfo) -> String {
    format!(
        "<a href=\"{}\">RFC {} §{}</a>",
        esc(&rfc_link(spec.rfc, &spec.section)),
        spec.rfc,
        esc(&spec.section)
    )
}

/// A case's transcript folded away, one event per line (`C:` and `S:` for the two
/// sides, `==` where TLS began), opened when the case did not pass.
fn transcript(c: &CaseReport) -> String {
    if c.transcript.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = transcript_lines(c).lines().map(esc).collect();
    let open = if matches!(c.verdict, Verdict::Fail | Verdict::Error | Verdict::Warn) {
        " open"
    } else {
        ""
    };
    format!(
        "<details{open}><summary>transcript</summary><pre>{}</pre></details>",
        lines.join("\n")
    )
}

/// The anchor of a case (`#case-suite/id`), stable across runs.
fn case_anchor(id: &str) -> String {
    format!("case-{}", esc(id))
}

/// The anchor of an RFC section (`#rfc5321-4.1.1`).
fn section_anchor(spec: &SpecInfo) -> String {
    format!("rfc{}-{}", spec.rfc, esc(&spec.section))
}

/// The HTML report of one run.
pub fn render(report: &Report) -> String {
    let mut body = String::new();
    header(&mut body, report);
    counts(&mut body, report);
    did_not_pass(&mut body, report);
    by_section(&mut body, report);
    page(&format!("smtpspec: {}", report.target.name), &body)
}

/// Who was tested, the verdict, by which smtpspec, when, and what it advertised.
fn header(body: &mut String, report: &Report) {
    let t = &report.target;
    let standing = report.standing();
    let class = match standing {
        Standing::Conformant => "pass",
        Standing::NonConformant(_) => "fail",
        Standing::Untestable => "error",
    };
    let _ = writeln!(
        body,
        "<h1>smtpspec: {}</h1><p class=\"verdict {class}\">{}</p>",
        esc(&t.name),
        esc(&standing.sentence(&report.settings.fail_on)),
    );
    grades(body, report);
    let client = report.of_a_client();
    let who = if client {
        format!("Client under test <code>{}</code>", esc(&t.banner))
    } else {
        format!(
            "Server <code>{}</code> — <code>{}</code>",
            esc(t.place()),
            esc(&t.banner)
        )
    };
    let _ = writeln!(
        body,
        "<p class=\"meta\">{who}<br>smtpspec {} · {} → {} · suite {}{}</p>",
        esc(&report.tool.version),
        esc(&report.started),
        esc(&report.finished),
        esc(report.tool.suite_digest.get(..12).unwrap_or("")),
        if report.settings.no_mail {
            " · no mail sent (--no-mail)"
        } else {
            ""
        },
    );
    if !client {
        let _ = writeln!(
            body,
            "<p class=\"meta\">EHLO: <code>{}</code></p>",
            esc(&t.ehlo.join(" · "))
        );
    }
}

/// The grades and their caps, and what was not tested.
fn grades(body: &mut String, report: &Report) {
    let c = report.certified();
    body.push_str(
        "<table class=\"grades\"><tr><th></th><th>grade</th><th>score</th>\
         <th>held down by</th></tr>\n",
    );
    for (name, s) in [("conformance", &c.conformance), ("security", &c.security)] {
        let _ = writeln!(
            body,
            "<tr><td>{name}</td><td class=\"grade\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.grade),
            s.points(),
            s.caps_in(esc).join("<br>")
        );
    }
    let not_tested = c.not_tested.sentence();
    let _ = writeln!(
        body,
        "</table><p class=\"meta\">scoring version {}{}</p>",
        c.scoring_version,
        not_tested.map_or_else(String::new, |s| format!(" · {}", esc(&s)))
    );
}

/// Verdicts per level, and the requirements of the index as the run shows them.
fn counts(body: &mut String, report: &Report) {
    body.push_str("<table><tr><th></th><th>pass</th><th>fail</th><th>warn</th><th>skip</th><th>error</th></tr>\n");
    let rows = std::iter::once(("all".to_owned(), report.summary.counts)).chain(
        report
            .by_level
            .iter()
            .map(|l| (l.level.to_string(), l.counts)),
    );
    for (label, c) in rows {
        let _ = writeln!(
            body,
            "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&label),
            c.pass,
            c.fail,
            c.warn,
            c.skip,
            c.error
        );
    }
    body.push_str("</table>\n");
    if !report.requirements.is_empty() {
        body.push_str(
            "<p class=\"meta\">Requirements of the index, as this run shows them:</p>\
             <table><tr><th>level</th><th>verified</th><th>violated</th><th>untested</th></tr>\n",
        );
        for r in &report.requirements {
            let _ = writeln!(
                body,
                "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.level, r.verified, r.violated, r.untested
            );
        }
        body.push_str("</table>\n");
    }
}

/// What did not pass comes first: it is what a reader is looking for.
fn did_not_pass(body: &mut String, report: &Report) {
    let mut open: Vec<&CaseReport> = report
        .cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error | Verdict::Warn))
        .collect();
    open.sort_by_key(|c| match c.verdict {
        Verdict::Fail => 0,
        Verdict::Error => 1,
        _ => 2,
    });
    if !open.is_empty() {
        let _ = writeln!(body, "<h2>Did not pass ({})</h2><table>", open.len());
        for c in open {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"#{}\"><code>{}</code></a>\
                 <br>{}</td><td>{}{}</td></tr>",
                badge(c.verdict, &c.reason),
                section_link(&c.spec),
                c.spec.level,
                case_anchor(&c.id),
                esc(&c.id),
                esc(&c.title),
                esc(&c.reason),
                wanted_got(c),
            );
        }
        body.push_str("</table>\n");
    }
}

/// Wanted and got side by side, when the finding is a comparison.
fn wanted_got(c: &CaseReport) -> String {
    c.mismatch
        .as_ref()
        .map(|m| {
            format!(
                "<br><small>wanted <code>{}</code> · got <code>{}</code></small>",
                esc(&m.expected),
                esc(&m.actual)
            )
        })
        .unwrap_or_default()
}

/// Every case, by RFC section, with its transcript.
fn by_section(body: &mut String, report: &Report) {
    let mut sections: BTreeMap<(u32, Vec<u32>), Vec<&CaseReport>> = BTreeMap::new();
    for c in &report.cases {
        sections
            .entry((c.spec.rfc, section_key(&c.spec.section)))
            .or_default()
            .push(c);
    }
    for cases in sections.values() {
        let _ = writeln!(
            body,
            "<h2 id=\"{}\">{}</h2><table>",
            section_anchor(&cases[0].spec),
            section_link(&cases[0].spec)
        );
        for c in cases {
            let _ = writeln!(
                body,
                "<tr id=\"{}\"><td>{}</td><td>{}</td><td><code>{}</code><br>{}</td><td>{}{}</td></tr>",
                case_anchor(&c.id),
                badge(c.verdict, &c.reason),
                c.spec.level,
                esc(&c.id),
                esc(&c.title),
                esc(&c.reason),
                transcript(c),
            );
        }
        body.push_str("</table>\n");
    }
}

/// Every case id of `reports` with its requirement, in the order first seen.
pub fn case_rows(reports: &[Report]) -> Vec<(String, SpecInfo)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut rows = Vec::new();
    for r in reports {
        for c in &r.cases {
            if seen.insert(c.id.clone()) {
                rows.push((c.id.clone(), c.spec.clone()));
            }
        }
    }
    rows.sort_by_key(|(_, s)| (s.rfc, section_key(&s.section)));
    rows
}

/// A matrix across implementations: a row per case, a column per report.
pub fn matrix(reports: &[Report]) -> String {
    let mut body = String::from(
        "<h1>smtpspec: matrix</h1>\n<table><tr><th>requirement</th><th>level</th><th>case</th>",
    );
    for r in reports {
        let _ = write!(
            body,
            "<th title=\"{}\">{}</th>",
            esc(&r.target.banner),
            esc(&r.target.name)
        );
    }
    body.push_str("</tr>\n<tr><th colspan=\"3\">pass / fail / warn / skip / error</th>");
    for r in reports {
        let s = &r.summary.counts;
        let _ = write!(
            body,
            "<td>{} / {} / {} / {} / {}</td>",
            s.pass, s.fail, s.warn, s.skip, s.error
        );
    }
    body.push_str("</tr>\n<tr><th colspan=\"3\">grades: conformance / security</th>");
    for r in reports {
        let c = r.certified();
        let _ = write!(
            body,
            "<td class=\"grade\" title=\"{}\">{} / {}</td>",
            esc(&c.lines().join("\n")),
            esc(&c.conformance.grade),
            esc(&c.security.grade)
        );
    }
    body.push_str("</tr>\n");
    for (id, spec) in case_rows(reports) {
        let title = reports
            .iter()
            .flat_map(|r| &r.cases)
            .find(|c| c.id == id)
            .map_or(String::new(), |c| c.title.clone());
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td title=\"{}\"><code>{}</code></td>",
            section_link(&spec),
            spec.level,
            esc(&title),
            esc(&id)
        );
        for r in reports {
            match r.cases.iter().find(|c| c.id == id) {
                Some(c) => {
                    let _ = write!(body, "<td>{}</td>", badge(c.verdict, &c.reason));
                }
                None => body.push_str("<td class=\"none\">—</td>"),
            }
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</table>\n");
    page("smtpspec: matrix", &body)
}
