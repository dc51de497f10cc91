//! MTA-STS delivery cases (scenarios/dns/mta-sts.yaml) as the reference client runs
//! them: the verdicts rest on what the policy host saw, not only on where the message
//! went. A sender that never asked for the policy must show it in the transcript.

use std::process::Command;

fn run(extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .args(["run", "scenarios/dns/mta-sts.yaml", "--format", "json"])
        .args(extra)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("smtpspec runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The notes of case `id`, one string.
fn notes(report: &serde_json::Value, id: &str) -> (String, String) {
    let case = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == format!("dns.mta-sts/{id}"))
        .unwrap_or_else(|| panic!("no case {id}"));
    let text = case["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["dir"] == "note")
        .map(|e| e["data"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    (case["verdict"].as_str().unwrap().to_string(), text)
}

#[test]
fn the_policy_host_is_asked_and_its_certificate_checked() {
    let report = run(&[]);
    for id in [
        "mta-sts-enforce-valid",
        "mta-sts-enforce-wrong-name",
        "mta-sts-enforce-unlisted-mx",
        "mta-sts-testing-delivers",
    ] {
        let (verdict, text) = notes(&report, id);
        assert_eq!(verdict, "pass", "{id}: {text}");
        assert!(
            text.contains("GET /.well-known/mta-sts.txt (Host: mta-sts.")
                && text.contains("-> 200"),
            "{id}: the policy was not fetched: {text}"
        );
    }
    let (verdict, text) = notes(&report, "mta-sts-enforce-wrong-name");
    assert_eq!(verdict, "pass");
    assert!(text.contains("misnamed.smtpspec.test"), "{text}");
    // The policy host's own certificate is misnamed: the sender gives up the fetch.
    let (verdict, text) = notes(&report, "mta-sts-unfetchable-policy");
    assert_eq!(verdict, "pass", "{text}");
    assert!(text.contains("the TLS handshake failed"), "{text}");
    assert!(text.contains("no MTA-STS policy"), "{text}");
    // The sender's cache: the first delivery fetched the policy, the second finds the
    // TXT record gone and keeps to the cached one (RFC 8461 §3.3)...
    let (verdict, text) = notes(&report, "mta-sts-cached-policy-survives-stripping");
    assert_eq!(verdict, "pass", "{text}");
    assert!(text.contains("fetched (id 20261206strip)"), "{text}");
    assert!(
        text.contains("cached (id 20261206strip), which still applies"),
        "{text}"
    );
    // ...and a new id is fetched.
    let (verdict, text) = notes(&report, "mta-sts-new-policy-id-refetched");
    assert_eq!(verdict, "pass", "{text}");
    assert!(text.contains("fetched (id 20261206second)"), "{text}");
}

#[test]
fn a_sender_that_ignores_mta_sts_is_seen_not_asking() {
    let report = run(&["--deviate", "sender-no-mta-sts"]);
    let (verdict, text) = notes(&report, "mta-sts-enforce-no-starttls");
    assert_eq!(verdict, "fail", "{text}");
    assert!(
        text.contains("MTA-STS policy host: nobody connected"),
        "{text}"
    );
}
