//! Every rendering of the report model: hostile target text comes out escaped and the
//! documents stay valid; baselines and known failures decide the exit status as
//! documented; `smtpspec report` merges runs into a matrix.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Output;

mod common;
use common::{smtpspec, suite};

const HOSTILE: &str = "<script>alert(1)</script> \x1b[31mred\x1b[0m \x00nul";

/// A server whose greeting and every reply carry script, ANSI escapes and NUL.
fn hostile_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.write_all(format!("220 {HOSTILE}\r\n").as_bytes());
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let code = if line.starts_with("EHLO") { 250 } else { 554 };
                    let _ = s.write_all(format!("{code} {HOSTILE}\r\n").as_bytes());
                    line.clear();
                }
            });
        }
    });
    addr
}

#[test]
fn hostile_text_is_escaped_in_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = hostile_server().to_string();
    let out = smtpspec(&[
        "run",
        &suite("rfc5321/session.yaml"),
        "--target",
        &addr,
        "--timeout",
        "1s",
        "--output-dir",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    for name in [
        "report.txt",
        "report.json",
        "junit.xml",
        "report.md",
        "report.html",
    ] {
        let body = std::fs::read_to_string(dir.path().join(name)).expect(name);
        assert!(body.contains("alert(1)"), "{name} lost the target's text");
        assert!(!body.contains('\x1b'), "{name} carries a raw ESC");
        assert!(!body.contains('\0'), "{name} carries a raw NUL");
    }
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(!html.contains("<script>"), "raw script in HTML");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"//"),
        "external asset"
    );
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit");
    assert!(!junit.contains("<script>"), "raw script in XML");
    assert!(
        junit
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')),
        "a character XML 1.0 forbids"
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("md");
    // Target text only inside fenced blocks or code spans: no raw tag elsewhere.
    let mut fenced = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced && line.contains("<script>") {
            assert!(line.contains("` "), "script outside code: {line}");
        }
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("json"),
    )
    .expect("valid JSON");
    assert!(
        json["target"]["banner"]
            .as_str()
            .expect("banner")
            .contains("\\x1b[31m")
    );
}

fn run_json(dir: &Path, name: &str, extra: &[&str]) -> (Output, String) {
    let path = dir.join(name).to_str().expect("utf-8").to_owned();
    let mut args = vec!["run", suite_owned(), "--format", "json", "--output", &path];
    args.extend_from_slice(extra);
    (smtpspec(&args), path)
}

fn suite_owned() -> &'static str {
    // Leaked once per call: tests are short-lived processes.
    Box::leak(suite("rfc5321/transaction.yaml").into_boxed_str())
}

#[test]
fn a_baseline_fails_only_on_regressions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, good) = run_json(dir.path(), "good.json", &[]);
    assert_eq!(out.status.code(), Some(0));
    let (out, bad) = run_json(dir.path(), "bad.json", &["--deviate", "rcpt-before-mail"]);
    assert_eq!(out.status.code(), Some(1));
    // The same failures as the baseline: not a regression.
    let (out, _) = run_json(
        dir.path(),
        "again.json",
        &["--deviate", "rcpt-before-mail", "--baseline", &bad],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Worse than the good baseline: regression, exit 1, named.
    let (out, _) = run_json(
        dir.path(),
        "worse.json",
        &["--deviate", "rcpt-before-mail", "--baseline", &good],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("regression: rfc5321.transaction/rcpt-before-mail"),
        "{stderr}"
    );
    // Better than the bad baseline: exit 0, and the fixed case is listed.
    let (out, _) = run_json(dir.path(), "better.json", &["--baseline", &bad]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("now passing: rfc5321.transaction/rcpt-before-mail"),
        "{stderr}"
    );
}

#[test]
fn known_failures_do_not_fail_and_report_when_they_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let known = dir.path().join("known.yaml");
    std::fs::write(
        &known,
        "known_failures:\n  - id: rfc5321.transaction/rcpt-before-mail\n    reason: fixed in 2.0\n",
    )
    .expect("write");
    let known = known.to_str().expect("utf-8");
    let (out, _) = run_json(
        dir.path(),
        "a.json",
        &["--deviate", "rcpt-before-mail", "--expect-fail", known],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (out, _) = run_json(
        dir.path(),
        "b.json",
        &[
            "--deviate",
            "data-without-recipients",
            "--expect-fail",
            known,
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "an unlisted failure: {stderr}");
    assert!(stderr.contains("unexpected: rfc5321.transaction/data-without-recipients"));
    let (out, _) = run_json(dir.path(), "c.json", &["--expect-fail", known]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("now passing, take it off the list: rfc5321.transaction/rcpt-before-mail"),
        "{stderr}"
    );
}

#[test]
fn reports_merge_into_a_matrix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, good) = run_json(dir.path(), "reference.json", &[]);
    let (_, bad) = run_json(
        dir.path(),
        "deviant.json",
        &["--deviate", "rcpt-before-mail"],
    );
    for format in ["html", "markdown"] {
        let out = smtpspec(&["report", &good, &bad, "--format", format]);
        let body = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{format}");
        assert!(body.contains("matrix"), "{format}");
        assert!(body.contains("rcpt-before-mail"), "{format}");
        assert!(body.contains("fail") && body.contains("pass"), "{format}");
    }
    let out = smtpspec(&["report", &good, "--format", "junit"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("<?xml"));
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"schema_version\": 1}").expect("write");
    let out = smtpspec(&["report", broken.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.json"));
}

/// The certification summary on a real run: the smuggling suite against the
/// reference server grades A, and the same server ending DATA on `<LF>.<LF>` grades
/// F for security with the cap saying why, in JSON, text and the badge.
#[test]
fn smuggling_caps_the_security_grade_at_f() {
    let dir = tempfile::tempdir().expect("tempdir");
    let smuggling = suite("security/smuggling.yaml");
    let run = |name: &str, extra: &[&str]| {
        let out_dir = dir.path().join(name);
        let mut args = vec![
            "run",
            smuggling.as_str(),
            "--output-dir",
            out_dir.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        let out = smtpspec(&args);
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out_dir.join("report.json")).expect("json"),
        )
        .expect("valid JSON");
        let text = std::fs::read_to_string(out_dir.join("report.txt")).expect("text");
        let badge = std::fs::read_to_string(out_dir.join("badge.svg")).expect("badge");
        (out, json["summary"]["certification"].clone(), text, badge)
    };
    let (out, plain, text, badge) = run("plain", &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(plain["scoring_version"], 1);
    assert_eq!(plain["security"]["grade"], "A", "{plain}");
    assert_eq!(plain["security"]["score"], 100, "{plain}");
    assert!(text.contains("Security: A (100/100)"), "{text}");
    assert!(
        badge.starts_with("<svg") && badge.contains("security A"),
        "{badge}"
    );

    let (out, smuggled, text, badge) = run("smuggled", &["--deviate", "data-end-lf-dot-lf"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(smuggled["security"]["grade"], "F", "{smuggled}");
    let cap = &smuggled["security"]["caps"][0];
    assert_eq!(cap["grade"], "F");
    assert!(
        cap["reason"]
            .as_str()
            .expect("reason")
            .contains("smuggling"),
        "{cap}"
    );
    assert!(text.contains("Security: F ("), "{text}");
    assert!(text.contains(", security F (scoring version 1)"), "{text}");
    assert!(
        badge.contains("security F") && badge.contains("#c0392b"),
        "{badge}"
    );
}
