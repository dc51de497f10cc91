//! The HTML report reads from the top: the verdict first, each failure linked to its
//! case and transcript, one transcript event per line.

mod common;

use common::smtpspec;

#[test]
fn the_verdict_leads_and_each_failure_links_to_its_transcript() {
    let out = smtpspec(&[
        "run",
        "--deviate",
        "data-end-lf-dot-lf",
        "--filter",
        "smuggling",
        "--format",
        "html",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let html = String::from_utf8_lossy(&out.stdout);
    let verdict = html.find("Not conformant").expect("a verdict");
    let first_case = html.find("<tr id=\"case-").expect("case rows");
    assert!(verdict < first_case, "the verdict is not at the top");
    // Every failure listed at the top links to a row that exists.
    let links: Vec<&str> = html
        .split("<a href=\"#case-")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert!(!links.is_empty(), "no failure links");
    for id in links {
        assert!(
            html.contains(&format!("<tr id=\"case-{id}\">")),
            "no row for {id}"
        );
    }
    // Transcripts: one event per line, and a failing case's transcript is open.
    assert!(
        html.contains("<details open>"),
        "failures' transcripts are folded"
    );
    assert!(html.contains("\\r\\n\nS: "), "transcript events run on");
    assert!(!html.contains("\\r\\n\\nC:"), "separators printed as text");
}

#[test]
fn a_conformant_run_says_so_at_the_top_in_markdown_too() {
    let out = smtpspec(&["run", "--filter", "noop-250", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8_lossy(&out.stdout);
    let second = md.lines().nth(2).unwrap_or_default();
    assert!(second.starts_with("**Conformant"), "{md}");
}

#[test]
fn a_saved_report_renders_as_text_as_the_run_did() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let json_arg = json.display().to_string();
    let run = smtpspec(&[
        "run",
        "--filter",
        "rfc5321.session",
        "--format",
        "json",
        "--output",
        &json_arg,
    ]);
    assert_eq!(run.status.code(), Some(0));
    let text = smtpspec(&["run", "--filter", "rfc5321.session", "--format", "text"]);
    let again = smtpspec(&["report", &json_arg, "--format", "text"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let tail = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .rev()
            .take(2)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(tail(&again), tail(&text));
    assert!(String::from_utf8_lossy(&again.stdout).contains("RFC 5321 §4.1.1.1"));
}
