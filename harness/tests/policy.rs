//! The cases that judge an operator's policy (`requires_policy`): they pass against a
//! server that enforces what its profile declares, fail against one that does not,
//! and are skipped, with the reason, where the profile declares nothing. And the rest
//! of the catalogue on such a port (TLS and AUTH required, a submission server): each
//! session starts TLS and logs in first, so no case fails on the port's 530.

use std::time::Duration;

use smtpspec::profile::PolicyOptions;
use smtpspec::profile::embedded;
use smtpspec::runner::{self, Options, Subjects, Verdict};
use smtpspec::scenario::load;
use smtpspec::wire::Prelude;

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
    let path = embedded::catalogue().join("security/policy.yaml");
    catalogue_verdicts(&path, configure, policy, None).await
}

/// The server cases under `path` against the embedded server configured by
/// `configure`, its profile declaring `policy`, each session opened with `prelude`.
async fn catalogue_verdicts(
    path: &std::path::Path,
    configure: impl FnOnce(&mut reference_server::settings::FileSettings),
    policy: PolicyOptions,
    prelude: Option<fn(&smtpspec::scenario::template::Vars) -> Prelude>,
) -> Vec<(String, Verdict, String)> {
    let e = embedded::start_configured(&[], configure)
        .await
        .expect("server");
    let step = Duration::from_secs(5);
    let tls = smtpspec::wire::TlsSettings {
        prelude: prelude.map(|p| p(&e.vars)),
        ..Default::default()
    };
    let mut target = runner::discover(e.server.addr(), e.vars.clone(), Some(e.store()), tls, step)
        .await
        .expect("discover");
    target.policy = policy;
    let mut cases = load::load(&[path.to_path_buf()]).expect("load");
    cases.retain(|c| matches!(c.kind, load::CaseKind::Server(_)));
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

/// The prelude `smtpspec run` gives a port whose profile says `tls_required` and
/// `auth_required`.
fn tls_and_auth(vars: &smtpspec::scenario::template::Vars) -> Prelude {
    Prelude {
        ehlo: runner::ehlo_name(vars),
        starttls: true,
        auth_plain: vars.get("target.auth_plain").cloned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_on_a_submission_port_fails_nothing_on_its_530s() {
    // RFC 3207 §4 and RFC 4954 §6: such a port answers 530 to MAIL until TLS and
    // AUTH. Without the prelude 40 cases failed here on that 530 alone.
    let v = catalogue_verdicts(
        &embedded::catalogue(),
        |f| {
            f.require_tls = true;
            f.require_auth = true;
        },
        all_policies(),
        Some(tls_and_auth),
    )
    .await;
    let bad: Vec<_> = v
        .iter()
        .filter(|(_, v, _)| matches!(v, Verdict::Fail | Verdict::Error | Verdict::Warn))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    let passed = v.iter().filter(|(_, v, _)| *v == Verdict::Pass).count();
    assert!(passed > 200, "{passed} passed of {}", v.len());
    // The cases about the clear side ran in the clear, and passed.
    for id in ["/mail-before-tls-refused", "/auth-plain-before-tls-refused"] {
        assert!(
            v.iter()
                .any(|(i, v, _)| i.ends_with(id) && *v == Verdict::Pass),
            "{id}: {v:?}"
        );
    }
    // A case that cannot be judged behind the login says why.
    let why = v
        .iter()
        .find(|(i, _, _)| i.ends_with("/mail-before-ehlo"))
        .map(|(_, _, why)| why.clone())
        .unwrap_or_default();
    assert!(why.contains("requires AUTH first"), "{why}");
}

#[test]
fn auth_required_without_credentials_is_untestable_with_the_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let profile = dir.path().join("p.yaml");
    std::fs::write(
        &profile,
        "address: 127.0.0.1:9\ndomain: x.test\nrcpt: a@x.test\nbad_rcpt: b@x.test\n\
         policy: { auth_required: true }\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .arg("run")
        .arg("--target")
        .arg(&profile)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("auth_required"), "{stderr}");
    assert!(stderr.contains("no user and password"), "{stderr}");
}
