//! The scoring rules of README.md's "Certification summary", on reports built by
//! hand: the weights, the grades, every cap and what was not tested.

use super::{Certification, SCORING_VERSION, class_of};
use crate::report::model::Report;

/// A case: (suite, level, verdict, tags, reason).
type Case<'a> = (&'a str, &'a str, &'a str, &'a [&'a str], &'a str);

fn report(cases: &[Case]) -> Report {
    let cases: Vec<serde_json::Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (suite, level, verdict, tags, reason))| {
            serde_json::json!({
                "id": format!("{suite}/c{i}"), "suite": suite, "title": "t",
                "spec": { "rfc": 5321, "section": "4.1.1", "level": level },
                "verdict": verdict, "reason": reason, "duration_ms": 1,
                "tags": tags, "transcript": []
            })
        })
        .collect();
    let json = serde_json::json!({
        "schema_version": 1,
        "tool": { "name": "smtpspec", "version": "0" },
        "target": { "address": "127.0.0.1:25", "banner": "220 x", "ehlo": [], "name": "x" },
        "started": "", "finished": "",
        "settings": { "fail_on": "must" },
        "summary": { "pass": 0, "fail": 0, "warn": 0, "skip": 0, "error": 0 },
        "cases": cases
    });
    Report::from_json(&json.to_string()).expect("a report")
}

fn certify(cases: &[Case]) -> Certification {
    report(cases).certification()
}

const SMUGGLING: &[&str] = &["smuggling", "CVE-2023-51764"];

#[test]
fn points_are_weighted_by_level_and_a_warn_earns_half() {
    // MUST pass 6, SHOULD warn 2 of 4, MAY fail 0 of 2: 8 of 12.
    let c = certify(&[
        ("rfc5321.commands", "MUST", "pass", &[], "ok"),
        ("rfc5321.commands", "SHOULD", "warn", &[], "meh"),
        ("rfc5321.commands", "MAY", "fail", &[], "no"),
        (
            "rfc5321.commands",
            "MUST",
            "skip",
            &[],
            "the target does not advertise DSN",
        ),
    ]);
    assert_eq!(c.scoring_version, SCORING_VERSION);
    assert_eq!(c.conformance.score, Some(66));
    assert_eq!(c.conformance.grade, "D");
    assert!(c.conformance.caps.is_empty());
    let must = &c.conformance.parts[0];
    assert_eq!(
        (must.name.as_str(), must.pass, must.not_tested),
        ("MUST", 1, 1)
    );
}

#[test]
fn a_must_failure_caps_conformance_at_c() {
    let mut cases = vec![("rfc5321.commands", "SHOULD", "pass", &[][..], "ok"); 40];
    cases.push(("rfc5321.commands", "MUST", "fail", &[], "bad"));
    let c = certify(&cases);
    assert_eq!(c.conformance.score, Some(96)); // 160 of 166
    assert_eq!(c.conformance.grade, "C");
    assert!(
        c.conformance.caps[0]
            .reason
            .contains("1 case(s) failed at MUST")
    );
    assert!(
        c.lines()[0].starts_with("Conformance: C (96/100); at most C:"),
        "{:?}",
        c.lines()
    );
}

#[test]
fn a_smuggling_failure_at_must_level_is_an_f_whatever_the_score() {
    let mut cases = vec![("security.smuggling", "MUST", "pass", SMUGGLING, "ok"); 30];
    cases.push((
        "security.smuggling",
        "MUST",
        "fail",
        SMUGGLING,
        "ended early",
    ));
    let c = certify(&cases);
    assert_eq!(c.security.score, Some(96));
    assert_eq!(c.security.grade, "F");
    assert!(c.security.caps[0].reason.contains("smuggling"));
    let smuggling = &c.security.parts[0];
    assert_eq!((smuggling.pass, smuggling.fail), (30, 1));
}

#[test]
fn starttls_not_offered_and_smuggling_untested_cap_security_at_b() {
    let c = certify(&[
        (
            "security.injection",
            "MUST",
            "pass",
            &["CVE-2020-7247"],
            "ok",
        ),
        (
            "extensions.starttls",
            "MUST",
            "skip",
            &[],
            "the target does not advertise STARTTLS",
        ),
        (
            "security.smuggling",
            "MUST",
            "skip",
            SMUGGLING,
            "--no-mail: the case sends a message (DATA or BDAT)",
        ),
    ]);
    assert_eq!(c.security.score, Some(100));
    assert_eq!(c.security.grade, "B");
    let reasons: Vec<&str> = c.security.caps.iter().map(|c| c.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("STARTTLS is not offered")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("not tested")),
        "{reasons:?}"
    );
    assert_eq!(
        (c.not_tested.not_applicable, c.not_tested.held_back),
        (1, 1)
    );
}

#[test]
fn nothing_tested_is_no_grade() {
    let c = certify(&[("rfc5321.commands", "MUST", "error", &[], "refused")]);
    assert_eq!(
        (c.conformance.score, c.conformance.grade.as_str()),
        (None, "-")
    );
    assert_eq!(c.security.grade, "-");
    assert!(c.lines()[1].contains("nothing of it was tested"));
}

#[test]
fn what_was_not_tested_is_told_by_why_with_the_variables_to_define() {
    let c = certify(&[
        (
            "extensions.auth",
            "MUST",
            "skip",
            &[],
            "the target profile does not define {{target.auth_plain}}",
        ),
        (
            "extensions.auth",
            "MUST",
            "skip",
            &[],
            "the target profile does not define {{target.auth_plain}}",
        ),
        (
            "extensions.auth",
            "MUST",
            "skip",
            &[],
            "the target profile does not define {{target.user}}",
        ),
        (
            "rfc5321.greeting",
            "MUST",
            "skip",
            &[],
            "the target greets with 220; the case is for 554",
        ),
        (
            "rfc5321.commands",
            "MUST",
            "skip",
            &[],
            "step 3: a precondition was not met",
        ),
        ("rfc5321.commands", "MUST", "pass", &[], "ok"),
    ]);
    let n = &c.not_tested;
    assert_eq!(
        (n.needs_profile, n.not_applicable, n.inconclusive),
        (3, 1, 1)
    );
    assert_eq!(
        n.missing_variables,
        vec!["target.auth_plain", "target.user"]
    );
    let s = n.sentence().expect("a sentence");
    assert!(s.contains("define target.auth_plain, target.user"), "{s}");
}

#[test]
fn security_classes_follow_tags_then_suites() {
    let r = report(&[
        ("security.smuggling", "MUST", "pass", SMUGGLING, ""),
        (
            "extensions.starttls",
            "MUST",
            "pass",
            &["starttls-injection"],
            "",
        ),
        ("extensions.starttls", "MUST", "pass", &[], ""),
        (
            "security.injection",
            "SHOULD",
            "pass",
            &["CVE-2020-28022"],
            "",
        ),
        ("rfc5321.limits", "MUST", "pass", &["integer-overflow"], ""),
        ("rfc5321.commands", "MUST", "pass", &[], ""),
    ]);
    let classes: Vec<Option<&str>> = r.cases.iter().map(class_of).collect();
    assert_eq!(
        classes,
        vec![
            Some("smuggling"),
            Some("injection"),
            Some("tls"),
            Some("parsing"),
            Some("parsing"),
            None
        ]
    );
}

#[test]
fn a_report_without_a_summary_certification_is_certified_when_read() {
    let r = report(&[("rfc5321.commands", "MUST", "pass", &[], "ok")]);
    assert!(r.summary.certification.is_none(), "read as written");
    assert_eq!(r.certified().conformance.grade, "A");
}
