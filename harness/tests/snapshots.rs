//! Golden reports: the reference server's session suite in every format, with what
//! changes from run to run (port, times, message ids, tokens, dates) redacted. A
//! change of verdict, reason or rendering changes a snapshot and fails here; review
//! with `cargo insta review`, or accept with `INSTA_UPDATE=always cargo test`.

use std::time::Duration;

use smtpspec::profile::embedded;
use smtpspec::report::model::{Context, Report, Settings};
use smtpspec::report::{Run, html, junit, markdown};
use smtpspec::runner::{self, Options};
use smtpspec::scenario::load;
use smtpspec::wire::TlsSettings;

async fn reference_report() -> (Report, String) {
    let path = embedded::catalogue().join("rfc5321/session.yaml");
    let cases = load::load(std::slice::from_ref(&path)).expect("load");
    let e = embedded::start(&[]).await.expect("server");
    let step = Duration::from_secs(5);
    let target = runner::discover(
        e.server.addr(),
        e.vars.clone(),
        Some(e.store()),
        TlsSettings::default(),
        step,
    )
    .await
    .expect("discover");
    let results = runner::run(
        &cases,
        &runner::Subjects::server(target.clone()),
        Options::new(4, step),
        None,
    )
    .await;
    let _ = e.server.stop().await;
    let run = Run {
        target: (&target).into(),
        started: 0,
        finished: 0,
        cases: results,
        pacing: Default::default(),
    };
    let context = Context {
        settings: Settings {
            filter: None,
            fail_on: "must".into(),
            jobs: 4,
            timeout_ms: 5000,
            deviations: Vec::new(),
            variants: Vec::new(),
            seed: None,
            no_mail: false,
        },
        requirements: smtpspec::requirements::read(&smtpspec::requirements::default_dir())
            .expect("index"),
        suite_digest: "digest".into(),
        target_name: "reference".into(),
    };
    let report = Report::from_run(&run, &context);
    let text = smtpspec::report::text::render(&report, true, false);
    (report, text)
}

fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r#""duration_ms": \d+"#, r#""duration_ms": 0"#),
        (r#"time="[0-9.]+""#, r#"time="[t]""#),
        (r"queued as [A-Za-z0-9.-]+", "queued as [id]"),
        (r"smtpspec-[a-z0-9-]+-[0-9a-f]{8,}", "[token]"),
        (
            r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}",
            "[date]",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_reports_in_every_format() {
    let (report, text) = reference_report().await;
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!("reference.txt", text);
        insta::assert_snapshot!("reference.json", report.to_json());
        insta::assert_snapshot!("reference.junit.xml", junit::render(&report));
        insta::assert_snapshot!("reference.md", markdown::render(&report));
        insta::assert_snapshot!("reference.html", html::render(&report));
    });
    // A round trip through JSON changes nothing: `smtpspec report` sees what `run` saw.
    let again = Report::from_json(&report.to_json()).expect("read back");
    assert_eq!(again, report);
}
