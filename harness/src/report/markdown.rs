//! Markdown, for a CI job summary (e.g. `$GITHUB_STEP_SUMMARY`): the totals per level,
//! then what did not pass with a link to its RFC section, transcripts folded away.
//! Several reports make a matrix: one column per target.
//!
//! Target-supplied text only ever appears inside code spans or fenced blocks (fenced
//! with more backticks than it contains), after control characters are neutralised:
//! there it is inert, so `<script>`, `|` or `*` in a banner cannot change the page.

use std::fmt::Write as _;

use super::model::{CaseReport, Counts, Report};
use super::{neutral, rfc_link, transcript_lines};
use crate::outcome::Verdict;

/// Inline code holding `s` safely, whatever backticks it contains.
fn code(s: &str) -> String {
    let s = neutral(s);
    let longest = longest_run(&s, '`');
    let fence = "`".repeat(longest + 1);
    // A space keeps a leading or trailing backtick from joining the fence; `|` would
    // end a table cell even in code, so it is escaped.
    format!("{fence} {} {fence}", s.replace('|', "\\|"))
}

/// A fenced block holding `s` (several lines).
fn block(s: &str) -> String {
    let fence = "`".repeat(longest_run(s, '`').max(2) + 1);
    format!("{fence}text\n{s}\n{fence}\n")
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        run = if c == ch { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// Our own text (titles, ids) in Markdown: escape what Markdown or HTML would read.
fn text(s: &str) -> String {
    let mut out = String::new();
    for c in neutral(s).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn transcript(c: &CaseReport) -> String {
    block(transcript_lines(c).trim_end())
}

fn counts_row(label: &str, c: &Counts) -> String {
    format!(
        "| {label} | {} | {} | {} | {} | {} |\n",
        c.pass, c.fail, c.warn, c.skip, c.error
    )
}

/// The grades, each cap under its score, and what was not tested.
fn certification(out: &mut String, report: &Report) {
    let c = report.certified();
    out.push_str("| | grade | score | held down by |\n|---|---|---|---|\n");
    for (name, s) in [("conformance", &c.conformance), ("security", &c.security)] {
        let _ = writeln!(
            out,
            "| {name} | **{}** | {} | {} |",
            s.grade,
            s.points(),
            s.caps_in(text).join("; ")
        );
    }
    let _ = writeln!(out, "\nScoring version {}.", c.scoring_version);
    if let Some(s) = c.not_tested.sentence() {
        let _ = writeln!(out, "{}.", text(&s));
    }
    out.push('\n');
}

/// The Markdown report of one run.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# smtpspec: {}\n\n**{}**\n\n{}  \nsmtpspec {} · {} → {}\n",
        text(&report.target.name),
        text(&report.standing().sentence(&report.settings.fail_on)),
        if report.of_a_client() {
            format!("Client under test {}", code(&report.target.banner))
        } else {
            format!(
                "Target {} — {}",
                code(report.target.place()),
                code(&report.target.banner)
            )
        },
        text(&report.tool.version),
        text(&report.started),
        text(&report.finished),
    );
    certification(&mut out, report);
    out.push_str("| | pass | fail | warn | skip | error |\n|---|---|---|---|---|---|\n");
    out.push_str(&counts_row("**all**", &report.summary.counts));
    for l in &report.by_level {
        out.push_str(&counts_row(l.level.as_str(), &l.counts));
    }
    if !report.requirements.is_empty() {
        out.push_str(
            "\nRequirements of the index (`smtpspec coverage`), as this run shows them:\n\n\
             | level | verified | violated | untested |\n|---|---|---|---|\n",
        );
        for r in &report.requirements {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                r.level, r.verified, r.violated, r.untested
            );
        }
    }
    for (verdict, heading) in [
        (Verdict::Fail, "Failures"),
        (Verdict::Error, "Errors (not decided)"),
        (Verdict::Warn, "Warnings"),
    ] {
        let cases: Vec<&CaseReport> = report
            .cases
            .iter()
            .filter(|c| c.verdict == verdict)
            .collect();
        if cases.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## {heading} ({})\n", cases.len());
        for c in cases {
            let _ = writeln!(
                out,
                "- [RFC {} §{}]({}) **{}** {} — {}  \n  {}",
                c.spec.rfc,
                text(&c.spec.section),
                rfc_link(c.spec.rfc, &c.spec.section),
                c.spec.level,
                code(&c.id),
                text(&c.title),
                code(&c.reason),
            );
            let _ = writeln!(
                out,
                "  <details><summary>transcript</summary>\n\n{}\n  </details>",
                transcript(c)
            );
        }
    }
    let skipped = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Skip)
        .count();
    if skipped > 0 {
        let _ = writeln!(out, "\n<details><summary>Skipped ({skipped})</summary>\n");
        for c in report.cases.iter().filter(|c| c.verdict == Verdict::Skip) {
            let _ = writeln!(out, "- {}: {}", code(&c.id), code(&c.reason));
        }
        out.push_str("\n</details>\n");
    }
    out
}

/// One Markdown table: a row per case, a column per report.
pub fn matrix(reports: &[Report]) -> String {
    let mut out = String::from("# smtpspec: matrix\n\n| case | level |");
    for r in reports {
        let _ = write!(out, " {} |", text(&r.target.name));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(reports.len()));
    out.push('\n');
    let _ = write!(out, "| **totals** (pass/fail/warn/skip/error) | |");
    for r in reports {
        let s = &r.summary.counts;
        let _ = write!(
            out,
            " {}/{}/{}/{}/{} |",
            s.pass, s.fail, s.warn, s.skip, s.error
        );
    }
    out.push_str("\n| **grades** (conformance/security) | |");
    for r in reports {
        let c = r.certified();
        let _ = write!(out, " {}/{} |", c.conformance.grade, c.security.grade);
    }
    out.push('\n');
    for (id, spec) in super::html::case_rows(reports) {
        let _ = write!(
            out,
            "| [{}]({}) {} | {} |",
            text(&format!("§{}", spec.section)),
            rfc_link(spec.rfc, &spec.section),
            code(&id),
            spec.level
        );
        for r in reports {
            let cell = r
                .cases
                .iter()
                .find(|c| c.id == id)
                .map_or("—", |c| c.verdict.as_str());
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_text_stays_inside_code() {
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("<script>|x"), "` <script>\\|x `");
        assert_eq!(code("\x1b[31m"), "` \\x1b[31m `");
        assert_eq!(text("<b>*x*</b>"), "&lt;b&gt;\\*x\\*&lt;/b&gt;");
    }

    #[test]
    fn fences_outgrow_the_content() {
        assert!(block("```\nnot the end").starts_with("````text\n"));
    }
}
