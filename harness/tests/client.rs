//! `smtpspec client` against clients that misbehave on purpose: the client cases must
//! catch them (a case no client can fail would be a case that cannot fail).

use std::io::Write;
use std::process::Command;

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{tool} is missing in CI");
        // Straight to the process's stderr: the test harness captures `eprintln!`
        // and would show a missing tool as a plain `ok`.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {tool} is not installed; this test did NOT run"
        );
    }
    found
}

/// Run the client suites with `command` as the client; the JSON report's verdicts.
fn verdicts(command: &[&str]) -> (Option<i32>, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let status = Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["client", "--timeout", "2s", "--format", "json", "--output"])
        .arg(&out)
        .arg("--")
        .args(command)
        .status()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    // A client has no address of its own: none in the report; named by its program.
    assert_eq!(report["target"]["address"], "", "{}", report["target"]);
    assert_eq!(report["target"]["name"], command[0]);
    assert!(
        report["target"]["banner"]
            .as_str()
            .unwrap()
            .starts_with("client under test: plain: "),
        "{}",
        report["target"]
    );
    let cases = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (status.code(), cases)
}

/// A client that talks without listening: it writes a whole session at once, LF line
/// ends, no dot-stuffing, and hangs up without reading a reply.
const RUDE: &str = "import os, socket\n\
s = socket.create_connection((os.environ['SMTPSPEC_HOST'], int(os.environ['SMTPSPEC_PORT'])))\n\
s.sendall(b'EHLO rude\\r\\nMAIL FROM:<a@b.test>\\r\\nRCPT TO:<c@d.test>\\r\\nDATA\\r\\n.A\\n.\\nend\\r\\n.\\r\\nQUIT\\r\\n')\n\
s.close()\n";

#[test]
fn a_client_that_does_not_listen_fails_the_suite() {
    if !have("python3") {
        return;
    }
    let (code, cases) = verdicts(&["python3", "-c", RUDE]);
    assert_eq!(code, Some(1), "non-conformant: {cases:?}");
    let verdict = |id: &str| {
        cases
            .iter()
            .find(|(c, _)| c == id)
            .map_or_else(|| panic!("no case {id}"), |(_, v)| v.as_str())
    };
    for id in [
        "client.extensions/no-pipelining-unadvertised",
        "client.errors/mail-550",
        "client.errors/rcpt-550-no-data",
    ] {
        assert_eq!(verdict(id), "fail", "{id} should catch the rude client");
    }
    assert_eq!(verdict("client.session/waits-for-the-greeting"), "warn");
    // RFC 5321 §4.3.1 asks the client to wait for the greeting with a SHOULD.
    assert_eq!(
        verdict("client.session/waits-for-the-whole-greeting"),
        "warn"
    );
    assert_eq!(verdict("client.errors/greeting-554"), "warn");
    // Hanging up early is the client's doing, never a harness error.
    assert!(cases.iter().all(|(_, v)| v != "error"), "{cases:?}");
    // Only plain mode was given on the command line.
    assert_eq!(
        verdict("client.extensions/starttls-then-ehlo-again"),
        "skip"
    );
}

#[test]
fn a_client_that_never_connects_is_an_error_not_a_fail() {
    let (code, cases) = verdicts(&["true"]);
    assert_eq!(code, Some(3), "every tried case ended in error: {cases:?}");
    assert!(cases.iter().all(|(_, v)| v == "error" || v == "skip"));
}

/// The smtpspec binary's arguments as a client command: `smtpspec send` toward the
/// case's server, with `extra` flags.
fn send_command(extra: &[&str]) -> Vec<String> {
    let mut command: Vec<String> = [
        env!("CARGO_BIN_EXE_smtpspec"),
        "send",
        "--server",
        "{host}:{port}",
        "--from",
        "{from}",
        "--to",
        "{to}",
        "--message",
        "{message}",
        "--user",
        "{user}",
        "--password",
        "{password}",
        "--ca",
        "{ca}",
        "--timeout-scale",
        "0.01",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    command.extend(extra.iter().map(|s| (*s).to_owned()));
    command
}

/// The cases `filter` selects, with `command` as the client in `mode`: each case's id
/// and verdict.
fn mode_verdicts(mode: &str, command: &[String], filter: &str) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("client.yaml");
    let yaml = format!(
        "name: client\ncommands:\n  {mode}: {}\ntimeout: 5s\n",
        serde_json::to_string(command).unwrap()
    );
    std::fs::write(&profile, yaml).unwrap();
    let out = dir.path().join("r.json");
    Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["client", "--filter", filter, "--format", "json"])
        .arg("--client")
        .arg(&profile)
        .arg("--output")
        .arg(&out)
        .status()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["verdict"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// `smtpspec send` as the client under test in auth-tls mode, with `extra` flags, run
/// over the `client.security` suite: each case's id and verdict.
fn security_verdicts(extra: &[&str]) -> Vec<(String, String)> {
    mode_verdicts("auth-tls", &send_command(extra), "client.security")
}

/// A client that takes the 220 to STARTTLS as leave to go on in the clear: it sends
/// MAIL instead of a ClientHello, and reports success.
const NO_HANDSHAKE: &str = "import os, socket\n\
s = socket.create_connection((os.environ['SMTPSPEC_HOST'], int(os.environ['SMTPSPEC_PORT'])))\n\
f = s.makefile('rb')\n\
def reply():\n    while True:\n        l = f.readline()\n        if not l or l[3:4] != b'-':\n            return l\n\
reply()\n\
s.sendall(b'EHLO plain.test\\r\\n'); reply()\n\
s.sendall(b'STARTTLS\\r\\n'); reply()\n\
s.sendall(b'MAIL FROM:<a@b.test>\\r\\n'); reply()\n";

#[test]
fn a_refused_handshake_is_judged_on_what_the_client_does_next() {
    let filter = "tls-required-handshake-alert";
    let id = "client.extensions/tls-required-handshake-alert";
    // A client that handshakes, is refused, and reports the failure.
    let cases = mode_verdicts(
        "tls-required",
        &send_command(&["--tls", "required"]),
        filter,
    );
    assert_eq!(cases, [(id.to_owned(), "pass".to_owned())]);
    if !have("python3") {
        return;
    }
    let command = ["python3", "-c", NO_HANDSHAKE].map(str::to_owned);
    let cases = mode_verdicts("tls-required", &command, filter);
    assert_eq!(cases, [(id.to_owned(), "fail".to_owned())]);
}

#[test]
fn a_client_that_logs_in_without_tls_fails_the_security_cases() {
    // TLS when offered and credentials in the clear: what a stripped or refused
    // STARTTLS turns into a password sent in the clear.
    let cases = security_verdicts(&["--tls", "opportunistic", "--auth-without-tls"]);
    for id in [
        "client.security/no-auth-in-clear-when-starttls-refused",
        "client.security/no-auth-in-clear-when-starttls-stripped",
    ] {
        assert!(
            cases.iter().any(|(c, v)| c == id && v == "fail"),
            "{id}: {cases:?}"
        );
    }
    // Configured right, the same client passes all of them.
    let cases = security_verdicts(&["--tls", "required"]);
    assert!(cases.len() >= 3, "{cases:?}");
    assert!(cases.iter().all(|(_, v)| v == "pass"), "{cases:?}");
}
