//! The terminal report: cases grouped by RFC and section (the way people read a
//! conformance result: "what does this server do with §4.1.4?"), failures with their
//! reasons, then the totals. Colour only when asked for; everything the target sent
//! is escaped before it reaches the terminal, so a hostile banner cannot move the
//! cursor or recolour the screen.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::model::{CaseReport, Report};
use super::{neutral, section_key, transcript_lines};
use crate::outcome::Verdict;

/// Cases by (RFC, numeric section), with the section as written.
type Groups<'a> = BTreeMap<(u32, Vec<u32>), (String, Vec<&'a CaseReport>)>;

/// ANSI styles, or nothing when colour is off.
#[derive(Debug, Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn verdict(self, v: Verdict) -> String {
        let (code, word) = match v {
            Verdict::Pass => ("32", "PASS "),
            Verdict::Fail => ("1;31", "FAIL "),
            Verdict::Warn => ("33", "WARN "),
            Verdict::Skip => ("2", "SKIP "),
            Verdict::Error => ("1;35", "ERROR"),
        };
        self.wrap(code, word)
    }
}

/// The report for people, from the report model (so a saved JSON report renders
/// the same: `smtpspec report r.json --format text`). With `verbose`, what did not
/// pass carries its transcript; with `color`, verdicts are coloured (ANSI).
pub fn render(report: &Report, verbose: bool, color: bool) -> String {
    let paint = Paint(color);
    let mut out = String::new();
    let t = &report.target;
    if report.settings.no_mail {
        out.push_str("no mail sent (--no-mail): the cases that send a message were skipped\n");
    }
    if report.of_a_client() {
        let _ = writeln!(out, "{}", neutral(&t.banner));
    } else {
        let _ = writeln!(
            out,
            "target {} — {}",
            neutral(t.place()),
            neutral(&t.banner)
        );
    }
    if !t.variables.is_empty() {
        let vars: Vec<String> = t
            .variables
            .iter()
            .map(|(k, v)| format!("{k}={}", neutral(v)))
            .collect();
        let _ = writeln!(out, "variables {}", vars.join(" "));
    }
    let certification = report.certified();
    for line in certification.lines() {
        let _ = writeln!(out, "{line}");
    }
    if let Some(s) = certification.not_tested.sentence() {
        let _ = writeln!(out, "{s}");
    }
    let mut groups: Groups<'_> = BTreeMap::new();
    for c in &report.cases {
        groups
            .entry((c.spec.rfc, section_key(&c.spec.section)))
            .or_insert_with(|| (c.spec.section.clone(), Vec::new()))
            .1
            .push(c);
    }
    for ((rfc, _), (section, cases)) in &groups {
        let _ = writeln!(
            out,
            "\n{}",
            paint.wrap("1", &format!("RFC {rfc} §{section}"))
        );
        for c in cases {
            let _ = writeln!(
                out,
                "  {} {:<6} {}  {}",
                paint.verdict(c.verdict),
                c.spec.level.as_str(),
                c.id,
                paint.wrap("2", &c.title)
            );
            if c.verdict == Verdict::Pass {
                continue;
            }
            let _ = writeln!(out, "         {}", neutral(&c.reason));
            if verbose && matches!(c.verdict, Verdict::Fail | Verdict::Error | Verdict::Warn) {
                for line in transcript_lines(c).lines() {
                    let _ = writeln!(out, "           {line}");
                }
            }
        }
    }
    let s = &report.summary.counts;
    let _ = writeln!(
        out,
        "\n{} cases: {} pass, {} fail, {} warn, {} skip, {} error",
        report.cases.len(),
        paint.wrap("32", &s.pass.to_string()),
        paint.wrap(if s.fail > 0 { "1;31" } else { "0" }, &s.fail.to_string()),
        s.warn,
        s.skip,
        s.error
    );
    let _ = writeln!(
        out,
        "{}",
        report.standing().sentence(&report.settings.fail_on)
    );
    let _ = writeln!(
        out,
        "Grades: conformance {}, security {} (scoring version {})",
        certification.conformance.grade,
        certification.security.grade,
        certification.scoring_version
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_sort_as_numbers() {
        let mut s = vec![
            "4.1.1.10",
            "F.5",
            "4.1.1.2",
            "2.3.8",
            "4.5.3.1.10",
            "4.5.3.1.4",
        ];
        s.sort_by_key(|x| section_key(x));
        assert_eq!(
            s,
            [
                "2.3.8",
                "4.1.1.2",
                "4.1.1.10",
                "4.5.3.1.4",
                "4.5.3.1.10",
                "F.5"
            ]
        );
    }

    #[test]
    fn target_text_cannot_drive_the_terminal() {
        assert_eq!(neutral("a\x1b[31mb\r\n"), "a\\x1b[31mb\\r\\n");
    }

    #[test]
    fn colour_is_only_added_when_asked() {
        assert_eq!(Paint(false).verdict(Verdict::Fail), "FAIL ");
        assert_eq!(Paint(true).verdict(Verdict::Fail), "\x1b[1;31mFAIL \x1b[0m");
    }
}
