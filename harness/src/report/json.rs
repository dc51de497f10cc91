//! The JSON report (DESIGN.md, "Command line"): schema version 1. The field names are a
//! contract; new fields may be added, none renamed.

use serde_json::{Value, json};
use smtp_protocol::server::received::rfc3339;

use super::{Run, escape};
use crate::runner::conn::Dir;

/// Version of the report schema.
pub const SCHEMA_VERSION: u32 = 1;

/// The report as a JSON value.
pub fn report(run: &Run) -> Value {
    let s = run.summary();
    let cases: Vec<Value> = run
        .cases
        .iter()
        .map(|c| {
            let transcript: Vec<Value> = c
                .transcript
                .iter()
                .map(|e| {
                    let dir = match e.dir {
                        Dir::Send => "send",
                        Dir::Recv => "recv",
                        Dir::Tls => "tls",
                        Dir::Note => "note",
                    };
                    json!({"dir": dir, "data": escape(&e.data)})
                })
                .collect();
            json!({
                "id": c.id,
                "suite": c.suite,
                "title": c.title,
                "spec": {"rfc": c.spec.rfc, "section": c.spec.section, "level": c.spec.level.as_str()},
                "verdict": c.verdict.as_str(),
                "reason": c.reason,
                "duration_ms": c.duration.as_millis() as u64,
                "transcript": transcript,
            })
        })
        .collect();
    json!({
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "smtpspec", "version": env!("CARGO_PKG_VERSION")},
        "target": {
            "address": run.target.addr.to_string(),
            "banner": run.target.banner,
            "ehlo": run.target.ehlo,
            "ehlo_after_tls": run.target.tls_keywords.as_ref().map(|_| &run.target.tls_ehlo),
            "tls_problem": run.target.tls_problem,
        },
        "started": rfc3339(run.started),
        "finished": rfc3339(run.finished),
        "summary": {"pass": s.pass, "fail": s.fail, "warn": s.warn, "skip": s.skip, "error": s.error},
        "cases": cases,
    })
}
