//! The cases that judge an operator's policy (`requires_policy`): they pass against a
//! server that enforces what its profile declares, fail against one that does not,
//! and are skipped, with the reason, where the profile declares nothing.

use std::time::Duration;

use smtpspec::profile::PolicyOptions;
use smtpspec::profile::embedded;
use smtpspec::runner::{self, Options, Subjects, Verdict};
use smtpspec::scenario::load;

/// Every declarable policy.
fn all_policies() -> PolicyOptions {
    PolicyOptions {
        auth_requires_tls: true,
        tls_required: true,
        auth_required: true,
        ..PolicyOptions::default()
    }
}

/// The policy suite against the embedded server configured by `configure`, its
/// profile declaring `policy`: each case's id and verdict, with the reason.
async fn verdicts(
    configure: impl FnOnce(&mut reference_server::settings::FileSettings),
    policy: PolicyOptions,
) -> Vec<(String, Verdict, String)> {
    let e = embedded::start_configured(&[], configure)
        .await
        .expect("server");
    let step = Duration::from_secs(5);
    let mut target = runner::discover(
        e.server.addr(),
        e.vars.clone(),
        None,
        smtpspec::wire::TlsSettings::default(),
        step,
    )
    .await
    .expect("discover");
    target.policy = policy;
    let cases = load::load(&[embedded::catalogue().join("security/policy.yaml")]).expect("load");
    let results = runner::run(
        &cases,
        &Subjects::server(target),
        Options::new(4, step),
        None,
    )
    .await;
    let _ = e.server.stop().await;
    results
        .into_iter()
        .map(|r| (r.id, r.verdict, r.reason))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_enforces_its_declared_policy_passes_every_case() {
    let v = verdicts(
        |f| {
            f.require_tls = true;
            f.require_auth = true;
        },
        all_policies(),
    )
    .await;
    assert!(v.len() >= 6, "{v:?}");
    let bad: Vec<_> = v.iter().filter(|(_, v, _)| *v != Verdict::Pass).collect();
    assert!(bad.is_empty(), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_enforce_a_declared_policy_fails_its_cases() {
    // The plain reference server takes mail in the clear and without AUTH: a profile
    // that says otherwise makes that a finding. It never offers AUTH in the clear, so
    // the AUTH cases still pass.
    let v = verdicts(|_| {}, all_policies()).await;
    let verdict = |id: &str| {
        v.iter()
            .find(|(i, _, _)| i.ends_with(id))
            .map(|(_, v, why)| (*v, why.clone()))
            .unwrap_or_else(|| panic!("no case {id}"))
    };
    for id in [
        "/mail-before-tls-refused",
        "/mail-without-auth-refused",
        "/mail-after-failed-auth-refused",
        "/mail-after-cancelled-auth-refused",
    ] {
        let (v, why) = verdict(id);
        assert_eq!(v, Verdict::Fail, "{id}: {why}");
    }
    for id in [
        "/auth-plain-before-tls-refused",
        "/auth-login-before-tls-refused",
    ] {
        let (v, why) = verdict(id);
        assert_eq!(v, Verdict::Pass, "{id}: {why}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_declared_policy_the_cases_are_skipped_with_the_reason() {
    let v = verdicts(|_| {}, PolicyOptions::default()).await;
    for (id, verdict, why) in &v {
        assert_eq!(*verdict, Verdict::Skip, "{id}: {why}");
        assert!(why.contains("does not declare the policy"), "{id}: {why}");
    }
}
