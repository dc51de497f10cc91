//! Verdicts a certifier can trust, on the classes of false verdict seen on real servers:
//! a target that refuses service (421, a full connection table) is retried and its
//! verdicts are those of a target that served; a check that could observe nothing is a
//! skip with the reason, never a pass; a recipient a catch-all accepts skips the cases
//! that need a refused one.

use std::time::Duration;

use reference_server::Variant;
use smtpspec::profile::embedded;
use smtpspec::runner::main_job::Setup;
use smtpspec::runner::{self, Options, Verdict};
use smtpspec::scenario::load;

fn cases(file: &str) -> Vec<load::Case> {
    load::load(&[embedded::catalogue().join(file)]).expect("load")
}

async fn discover(
    e: &embedded::Embedded,
    store: Option<smtpspec::profile::store::MailStore>,
    step: Duration,
) -> runner::Target {
    runner::discover(
        e.server.addr(),
        e.vars.clone(),
        store,
        smtpspec::wire::TlsSettings::default(),
        step,
    )
    .await
    .expect("discover")
}

/// A server that takes one connection at a time, run 4 at once without the discovery
/// probe: the surplus attempts get 421, are retried, and no verdict is the 421's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_attempts_are_retried_and_recorded() {
    let e = embedded::start_configured(&[], |f| f.max_connections = Some(1))
        .await
        .expect("server");
    let step = Duration::from_secs(5);
    let target = discover(&e, Some(e.store()), step).await;
    let cases = cases("rfc5321/session.yaml");
    let (results, pacing) = runner::run_paced(
        &cases,
        &runner::Subjects::server(target.clone()),
        Options::new(4, step),
        None,
    )
    .await;
    let _ = e.server.stop().await;
    let bad: Vec<String> = results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Error))
        .map(|r| format!("{} {}: {}", r.verdict.as_str(), r.id, r.reason))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert!(
        pacing.refusals > 0,
        "the server refused nothing: {pacing:?}"
    );
    assert!(pacing.lowest < 4, "the limit never came down: {pacing:?}");
    let retried: Vec<&runner::CaseResult> =
        results.iter().filter(|r| !r.retries.is_empty()).collect();
    assert!(!retried.is_empty(), "no case records a retry");
    assert!(
        retried
            .iter()
            .all(|r| r.retries.iter().all(|why| why.contains("421"))),
        "{:?}",
        retried.iter().map(|r| &r.retries).collect::<Vec<_>>()
    );
}

/// The discovery probe finds the connection limit, so the run starts at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_finds_a_connection_limit() {
    let setup = Setup {
        variants: vec![Variant::MaxConnections4],
        ..Setup::default()
    };
    let (_, results, pacing) = runner::main_job::run_cases(
        &cases("rfc5321/state.yaml"),
        &setup,
        Options::new(32, Duration::from_secs(5)),
    )
    .await
    .expect("run");
    assert!(
        (1..=4).contains(&pacing.initial),
        "started at {}: {pacing:?}",
        pacing.initial
    );
    assert!(results.iter().all(|r| r.verdict != Verdict::Error));
}

/// A target whose store smtpspec cannot read gives no verdict on what it stored: every
/// case that checks the stored message is skipped, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_stored_to_read_is_a_skip_never_a_pass() {
    let e = embedded::start(&[]).await.expect("server");
    let step = Duration::from_secs(5);
    let target = discover(&e, None, step).await;
    let cases = cases("rfc5321/trace.yaml");
    let stored: Vec<&str> = cases
        .iter()
        .filter(|c| {
            c.steps()
                .iter()
                .any(|s| matches!(s.action, load::Action::ExpectStored(_)))
        })
        .map(|c| c.meta.id.as_str())
        .collect();
    assert!(stored.len() >= 5);
    let results = runner::run(
        &cases,
        &runner::Subjects::server(target.clone()),
        Options::new(8, step),
        None,
    )
    .await;
    let _ = e.server.stop().await;
    for r in results.iter().filter(|r| stored.contains(&r.id.as_str())) {
        assert_eq!(r.verdict, Verdict::Skip, "{}: {}", r.id, r.reason);
        assert!(r.reason.contains("store"), "{}: {}", r.id, r.reason);
    }
}

/// A catch-all accepts the recipient the profile calls unknown: found at discovery,
/// the cases that need a refused recipient are skipped with the reason, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_all_skips_the_cases_that_need_a_refused_recipient() {
    let setup = Setup {
        variants: vec![Variant::CatchAll],
        ..Setup::default()
    };
    let mut all = cases("rfc5321/transaction.yaml");
    all.extend(cases("extensions/pipelining.yaml"));
    let (target, results, _) =
        runner::main_job::run_cases(&all, &setup, Options::new(8, Duration::from_secs(5)))
            .await
            .expect("run");
    assert!(target.catch_all.is_some(), "the catch-all was not noticed");
    let needing: Vec<&str> = all
        .iter()
        .filter(|c| c.meta.uses.contains("target.bad_rcpt"))
        .map(|c| c.meta.id.as_str())
        .collect();
    assert!(needing.len() >= 3, "{needing:?}");
    for r in &results {
        if needing.contains(&r.id.as_str()) {
            assert_eq!(r.verdict, Verdict::Skip, "{}: {}", r.id, r.reason);
            assert!(r.reason.contains("catch-all"), "{}", r.reason);
        } else {
            assert!(
                !matches!(r.verdict, Verdict::Fail | Verdict::Error),
                "{}: {}",
                r.id,
                r.reason
            );
        }
    }
}

/// A precondition that does not hold is a skip, never a fail: `given: 5xx` on a reply
/// that accepted, `expect_stored` with `given` on a field the server did not add, and
/// `requires: ["!KEYWORD"]` against a server that offers it (and the case runs where
/// it is not offered). A refusal with the wrong code under `given: 5xx` still fails:
/// the precondition narrows what is judged, it does not excuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmet_preconditions_skip_and_the_subject_is_still_judged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let suite = dir.path().join("given.yaml");
    std::fs::write(
        &suite,
        r#"suite: given
cases:
  - id: accepted-so-skipped
    title: t
    spec: { rfc: 5321, section: "4.1.4", level: MUST }
    steps:
      - expect: 220
      - send: "NOOP"
      - expect: { code: 503, given: 5xx, because: "RFC 5321 §4.1.4: test" }
  - id: refused-with-the-wrong-code
    title: t
    spec: { rfc: 5321, section: "4.1.4", level: MUST }
    steps:
      - expect: 220
      - send: "FROB"
      - expect: { code: 503, given: 5xx, because: "RFC 5321 §4.1.4: test" }
  - id: stored-field-absent-given
    title: t
    spec: { rfc: 5321, section: "4.4", level: MUST }
    steps:
      - expect: 220
      - send: "EHLO c.test"
      - expect: 250
      - send: "MAIL FROM:<a@c.test>"
      - expect: 250
      - send: "RCPT TO:<{{target.rcpt}}>"
      - expect: 250
      - send: "DATA"
      - expect: 354
      - send_body: { text: "Subject: {{case.token}}\r\n\r\nx\r\n" }
      - expect: 250
      - expect_stored: { matches: ['(?m)^X-Nowhere:'], given: true }
  - id: for-servers-without-smtputf8
    title: t
    spec: { rfc: 5321, section: "4.1.2", level: MUST }
    requires: ["!SMTPUTF8"]
    steps:
      - expect: 220
"#,
    )
    .expect("write");
    let all = load::load(&[suite]).expect("load");
    let (_, results, _) = runner::main_job::run_cases(
        &all,
        &Setup::default(),
        Options::new(4, Duration::from_secs(5)),
    )
    .await
    .expect("run");
    let verdict = |id: &str| {
        let r = results
            .iter()
            .find(|r| r.id == format!("given/{id}"))
            .expect("case ran");
        (r.verdict, r.reason.clone())
    };
    let (v, why) = verdict("accepted-so-skipped");
    assert_eq!(v, Verdict::Skip, "{why}");
    assert!(why.contains("5xx"), "{why}");
    let (v, why) = verdict("refused-with-the-wrong-code");
    assert_eq!(v, Verdict::Fail, "{why}");
    let (v, why) = verdict("stored-field-absent-given");
    assert_eq!(v, Verdict::Skip, "{why}");
    assert!(why.contains("precondition"), "{why}");
    let (v, why) = verdict("for-servers-without-smtputf8");
    assert_eq!(v, Verdict::Skip, "{why}");
    assert!(why.contains("advertises SMTPUTF8"), "{why}");

    // Without SMTPUTF8 offered, the case for such servers runs.
    let minimal = Setup {
        variants: vec![Variant::MinimalEsmtp],
        ..Setup::default()
    };
    let (_, results, _) =
        runner::main_job::run_cases(&all, &minimal, Options::new(4, Duration::from_secs(5)))
            .await
            .expect("run");
    let r = results
        .iter()
        .find(|r| r.id == "given/for-servers-without-smtputf8")
        .expect("ran");
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
}
