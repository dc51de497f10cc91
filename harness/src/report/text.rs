//! The terminal report: one line per case, grouped by suite, then the totals.

use std::fmt::Write as _;

use super::Run;
use crate::runner::Verdict;

/// The report for people. With `verbose`, failures carry their transcripts.
pub fn report(run: &Run, verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "target {} — {}", run.target.addr, run.target.banner);
    let mut suite = "";
    for c in &run.cases {
        if c.suite != suite {
            suite = &c.suite;
            let _ = writeln!(out, "\n{suite}");
        }
        let mark = match c.verdict {
            Verdict::Pass => "PASS ",
            Verdict::Fail => "FAIL ",
            Verdict::Warn => "WARN ",
            Verdict::Skip => "SKIP ",
            Verdict::Error => "ERROR",
        };
        let id = c.id.rsplit('/').next().unwrap_or(&c.id);
        let _ = writeln!(
            out,
            "  {mark} {id:<44} RFC {} §{} {}",
            c.spec.rfc,
            c.spec.section,
            c.level().as_str()
        );
        if c.verdict != Verdict::Pass {
            let _ = writeln!(out, "         {}", c.reason);
            if verbose && matches!(c.verdict, Verdict::Fail | Verdict::Error | Verdict::Warn) {
                for e in &c.transcript {
                    let arrow = match e.dir {
                        crate::runner::conn::Dir::Send => "C:",
                        crate::runner::conn::Dir::Recv => "S:",
                        crate::runner::conn::Dir::Tls => "==",
                    };
                    let _ = writeln!(out, "           {arrow} {:?}", super::escape(&e.data));
                }
            }
        }
    }
    let s = run.summary();
    let _ = writeln!(
        out,
        "\n{} cases: {} pass, {} fail, {} warn, {} skip, {} error",
        run.cases.len(),
        s.pass,
        s.fail,
        s.warn,
        s.skip,
        s.error
    );
    out
}
