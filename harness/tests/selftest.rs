//! The catalogue's own mutation test (README.md, "Deviations"): against the reference
//! server nothing fails or errors; with any one deviation switched on, at least one case
//! fails. Deviations are enumerated from the server, so a new deviation without a
//! catching case breaks this test.

use std::time::Duration;

use reference_server::Variant;
use smtp_protocol::server::Deviation;
use smtpspec::profile::embedded;
use smtpspec::runner::main_job::Setup;
use smtpspec::runner::{self, CaseResult, Options, Verdict};
use smtpspec::scenario::load;
use smtpspec::send::ClientVariant;
use smtpspec::send::SenderDeviation;

async fn run_catalogue(deviations: &[Deviation]) -> Vec<CaseResult> {
    run_with(deviations, Vec::new(), |_| true).await
}

/// Run the catalogue's cases that `keep` selects against the reference server with
/// `deviations`, and the reference client with `sender` as the sender of delivery cases.
async fn run_with(
    deviations: &[Deviation],
    sender: Vec<SenderDeviation>,
    keep: impl Fn(&load::Case) -> bool,
) -> Vec<CaseResult> {
    let setup = Setup {
        deviations: deviations.to_vec(),
        sender,
        ..Setup::default()
    };
    run_setup(&setup, 8, keep).await
}

/// The catalogue's cases that `keep` selects, run as `smtpspec run` runs them.
async fn run_setup(
    setup: &Setup,
    jobs: usize,
    keep: impl Fn(&load::Case) -> bool,
) -> Vec<CaseResult> {
    let mut cases = load::load(&[embedded::catalogue()]).expect("the catalogue loads");
    cases.retain(|c| keep(c));
    let (_, results, _) =
        runner::main_job::run_cases(&cases, setup, Options::new(jobs, Duration::from_secs(5)))
            .await
            .expect("embedded run");
    results
}

/// Verdicts that a permitted variant must never get, with their reasons.
fn false_verdicts(results: &[CaseResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Error))
        .map(|r| format!("{} {}: {}", r.verdict.as_str(), r.id, r.reason))
        .collect()
}

/// The negative control, the mirror of the deviations: every permitted variant of the
/// reference server, at the default `--jobs`, gives no fail and no error. A case that
/// fails one would give a false verdict on some real server that chose the same way.
/// Variants are enumerated from the server, so a new one is checked as it is added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_permitted_server_variant_fails_or_errors() {
    let mut bad = Vec::new();
    for v in Variant::ALL {
        let setup = Setup {
            variants: vec![v],
            ..Setup::default()
        };
        // Server variants touch servers only: the sender and client cases are the
        // client variants' business.
        let results = run_setup(&setup, 32, |c| {
            c.delivery().is_none() && c.client().is_none()
        })
        .await;
        assert!(results.len() > 150, "{v}: {} cases", results.len());
        let wrong = false_verdicts(&results);
        let warned = results
            .iter()
            .filter(|r| r.verdict == Verdict::Warn)
            .count();
        eprintln!(
            "{:<26} {} warn, {} fail or error",
            v.name(),
            warned,
            wrong.len()
        );
        bad.extend(wrong.into_iter().map(|w| format!("{v}: {w}")));
    }
    assert!(bad.is_empty(), "false verdicts:\n{}", bad.join("\n"));
}

/// The same for the reference client: under every permitted client variant the client
/// suite gives no fail and no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_permitted_client_variant_fails_or_errors() {
    let mut bad = Vec::new();
    for v in ClientVariant::ALL {
        let setup = Setup {
            client: vec![v],
            ..Setup::default()
        };
        let results = run_setup(&setup, 32, |c| c.client().is_some()).await;
        assert!(results.len() > 20, "{v}: {} cases", results.len());
        let wrong = false_verdicts(&results);
        eprintln!("{:<28} {} fail or error", v.name(), wrong.len());
        bad.extend(wrong.into_iter().map(|w| format!("{v}: {w}")));
    }
    assert!(bad.is_empty(), "false verdicts:\n{}", bad.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_server_passes_everything() {
    let results = run_catalogue(&[]).await;
    assert!(
        results.len() >= 50,
        "catalogue too small: {}",
        results.len()
    );
    let bad: Vec<String> = results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Error | Verdict::Warn))
        .map(|r| format!("{} {}: {}", r.verdict.as_str(), r.id, r.reason))
        .collect();
    assert!(
        bad.is_empty(),
        "the reference server must pass:\n{}",
        bad.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_deviation_is_caught_by_a_failing_case() {
    let mut tasks = Vec::new();
    // Planted deviations are the fuzzer's to find (tests/fuzz.rs), not the catalogue's.
    for d in Deviation::ALL.into_iter().filter(|d| !d.is_planted()) {
        tasks.push(tokio::spawn(async move {
            // Delivery cases test the sender, which server deviations do not touch.
            let results = run_with(&[d], Vec::new(), |c| c.delivery().is_none()).await;
            let caught: Vec<String> = results
                .iter()
                .filter(|r| {
                    r.verdict == Verdict::Fail || (warns_only(d) && r.verdict == Verdict::Warn)
                })
                .map(|r| r.id.clone())
                .collect();
            (d, caught, compared(&results))
        }));
    }
    let mut missed = Vec::new();
    let mut comparisons = 0;
    for t in tasks {
        let (d, caught, n) = t.await.expect("task");
        comparisons += n;
        if caught.is_empty() {
            missed.push(d.name());
        } else {
            eprintln!("{:<32} caught by {}", d.name(), caught.join(", "));
        }
    }
    assert!(missed.is_empty(), "deviations no case catches: {missed:?}");
    assert!(comparisons > 0, "no finding carried wanted and got as data");
}

/// Deviations whose rule RFC 5321 states only as a SHOULD, so the cases that catch
/// them warn: `proxy-lenient` breaks HAProxy's PROXY specification (a receiver must
/// not guess whether a header came), which in RFC terms is the Received line's
/// source, a SHOULD of §4.4. Every other deviation must make a case fail.
fn warns_only(d: Deviation) -> bool {
    d == Deviation::ProxyLenient
}

/// How many findings carry wanted and got as data; each must be a finding, and its
/// reason must say both.
fn compared(results: &[CaseResult]) -> usize {
    let mut n = 0;
    for r in results {
        let Some(m) = &r.mismatch else { continue };
        assert!(
            r.verdict.is_finding(),
            "{}: a mismatch on a {}",
            r.id,
            r.verdict
        );
        assert!(
            r.reason.contains(&m.expected) && r.reason.contains(&m.actual),
            "{}: {m:?} not in {:?}",
            r.id,
            r.reason
        );
        n += 1;
    }
    n
}

/// The greeting cases run only against servers that refuse service, and pass against
/// the reference server in those modes; against a normal greeting they are skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusing_greetings_are_judged_by_their_own_cases() {
    let cases = load::load(&[embedded::catalogue().join("rfc5321/greeting.yaml")]).expect("load");
    for (mode, code) in [
        ("no-service", 554),
        ("does-not-accept-mail", 521),
        ("ready", 220),
    ] {
        let e = embedded::start_configured(&[], |f| f.greeting = mode.into())
            .await
            .expect("start");
        let step = Duration::from_secs(5);
        let target = runner::discover(
            e.server.addr(),
            e.vars.clone(),
            None,
            smtpspec::wire::TlsSettings::default(),
            step,
        )
        .await
        .expect("discover");
        assert_eq!(target.greeting_code, code);
        let results = runner::run(
            &cases,
            &runner::Subjects::server(target.clone()),
            Options::new(4, step),
            None,
        )
        .await;
        for r in &results {
            let applies = cases
                .iter()
                .find(|c| c.meta.id == r.id)
                .is_some_and(|c| c.meta.requires_greeting.contains(&code));
            let want = if applies {
                Verdict::Pass
            } else {
                Verdict::Skip
            };
            assert_eq!(r.verdict, want, "{mode}: {} {}", r.id, r.reason);
        }
        let _ = e.server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sender_deviation_is_caught_by_a_delivery_case() {
    let mut missed = Vec::new();
    let mut comparisons = 0;
    for d in SenderDeviation::ALL {
        let results = run_with(&[], vec![d], |c| c.delivery().is_some()).await;
        assert!(
            results.len() >= 20,
            "too few delivery cases: {}",
            results.len()
        );
        let caught: Vec<&str> = results
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Warn))
            .map(|r| r.id.as_str())
            .collect();
        if caught.is_empty() {
            missed.push(d.name());
        }
        comparisons += compared(&results);
    }
    assert!(
        missed.is_empty(),
        "sender deviations no delivery case catches: {missed:?}"
    );
    assert!(
        comparisons > 0,
        "no delivery finding carried wanted and got"
    );
}

/// A planted deviation is a bug only a fuzzer finds: no catalogue case may reach it,
/// or the fuzzer's test would prove nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_catalogue_case_reaches_a_planted_deviation() {
    for d in Deviation::ALL.into_iter().filter(|d| d.is_planted()) {
        let results = run_with(&[d], Vec::new(), |c| c.delivery().is_none()).await;
        let bad = false_verdicts(&results);
        assert!(
            bad.is_empty(),
            "{} is reached by:\n{}",
            d.name(),
            bad.join("\n")
        );
    }
}
