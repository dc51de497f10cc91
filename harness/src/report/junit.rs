//! JUnit XML (quick-junit), for CI systems that show test results: one testsuite per
//! RFC section, one testcase per case. `fail` is a failure and `error` an error, each
//! with the reason as message and the transcript as description; `skip` is skipped
//! with its reason; `warn` passes (JUnit has no such state) and says so in its output,
//! with a `verdict` property that tools can read.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::model::{CaseReport, Report};
use super::{neutral, section_key, transcript_lines};
use crate::outcome::Verdict;

/// Cases by (RFC, numeric section), with the suite name.
type Sections<'a> = BTreeMap<(u32, Vec<u32>), (String, Vec<&'a CaseReport>)>;

/// The JUnit document of `report`.
pub fn render(report: &Report) -> String {
    let mut doc = quick_junit::Report::new(format!("smtpspec {}", neutral(&report.target.name)));
    let mut sections: Sections<'_> = BTreeMap::new();
    for c in &report.cases {
        sections
            .entry((c.spec.rfc, section_key(&c.spec.section)))
            .or_insert_with(|| {
                (
                    format!("RFC {} §{}", c.spec.rfc, c.spec.section),
                    Vec::new(),
                )
            })
            .1
            .push(c);
    }
    let mut total = Duration::ZERO;
    for (name, cases) in sections.into_values() {
        let mut suite = TestSuite::new(name);
        let mut time = Duration::ZERO;
        for c in cases {
            let took = Duration::from_millis(c.duration_ms);
            time += took;
            suite.add_test_case(case(c, took));
        }
        suite.set_time(time);
        total += time;
        doc.add_test_suite(suite);
    }
    doc.set_time(total);
    doc.to_string()
        .unwrap_or_else(|e| format!("<!-- smtpspec: JUnit serialisation failed: {e} -->\n"))
}

fn case(c: &CaseReport, took: Duration) -> TestCase {
    let level = &c.spec.level;
    let reason = neutral(&c.reason);
    let status = match c.verdict {
        Verdict::Pass | Verdict::Warn => TestCaseStatus::success(),
        Verdict::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(reason.clone());
            s
        }
        verdict @ (Verdict::Fail | Verdict::Error) => {
            let kind = if verdict == Verdict::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(reason.clone())
                .set_type(format!("{verdict} ({level})"))
                .set_description(transcript_lines(c));
            s
        }
    };
    let mut t = TestCase::new(format!("{} — {}", c.id, neutral(&c.title)), status);
    t.set_classname(c.suite.clone())
        .set_time(took)
        .add_property(Property::new("verdict", c.verdict.as_str()))
        .add_property(Property::new("level", level.as_str()));
    if c.verdict == Verdict::Warn {
        t.set_system_out(format!("warn ({level}): {reason}\n{}", transcript_lines(c)));
    }
    t
}
