//! `smtpspec fuzz --client` against clients over real sockets: a client that breaks
//! the rules the oracles judge is caught, each finding replays as a client case that
//! fails on it, and smtpspec's own client comes out clean.

mod common;

use std::path::Path;

/// A client that breaks four rules: SMTPUTF8 on MAIL though never offered, the
/// content after any reply to DATA, bare LFs in it, and a crash (SIGSEGV) when a reply
/// line is longer than RFC 5321 §4.5.3.1.5 allows.
const BAD_CLIENT: &str = r#"
import os, signal, socket, sys
s = socket.create_connection((os.environ["SMTPSPEC_HOST"], int(os.environ["SMTPSPEC_PORT"])), 5)
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline()
        if not line:
            sys.exit(3)
        if len(line) > 512:
            os.kill(os.getpid(), signal.SIGSEGV)
        if len(line) < 4 or line[3:4] != b"-":
            return line
reply()
for cmd in [b"EHLO bad.test", b"MAIL FROM:<a@bad.test> SMTPUTF8", b"RCPT TO:<b@bad.test>", b"DATA"]:
    s.sendall(cmd + b"\r\n")
    reply()
s.sendall(b"Subject: x\n\nbody\r\n.\r\n")
reply()
s.sendall(b"QUIT\r\n")
"#;

fn profile(dir: &Path) -> String {
    let script = dir.join("bad_client.py");
    std::fs::write(&script, BAD_CLIENT).unwrap();
    let profile = dir.join("bad.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: bad\ncommands:\n  plain: [python3, {}]\ntimeout: 5s\n",
            script.display()
        ),
    )
    .unwrap();
    profile.display().to_string()
}

fn findings(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("findings"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yaml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_client_that_breaks_the_rules_is_caught_and_its_findings_replay() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile(dir.path());
    let out = dir.path().join("out");
    let run = common::smtpspec(&[
        "fuzz",
        "--client",
        &profile,
        "--runs",
        "200",
        "--seed",
        "5",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{text}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let found = findings(&out);
    for class in [
        "unadvertised-",
        "bare-line-end-",
        "data-after-refusal-",
        "crash-",
    ] {
        assert!(
            found.iter().any(|f| f.starts_with(class)),
            "no {class} finding in {found:?}\n{text}"
        );
    }
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("stats.json")).unwrap()).unwrap();
    assert!(stats["sessions"].as_u64().unwrap() >= 200, "{stats}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(report["cases"].as_array().unwrap().len() >= 4, "{report}");
    // Each finding is told in the words of its smallest session: the faults its
    // headline names are the ones the reproducer replays.
    for f in &found {
        let text = std::fs::read_to_string(out.join("findings").join(f)).unwrap();
        let header: Vec<&str> = text.lines().take(3).collect();
        let faults = header[2]
            .strip_prefix("# Faults: ")
            .and_then(|l| l.split(" (minimised from").next())
            .unwrap_or_else(|| panic!("{f}: {header:?}"));
        assert!(
            !header[1].contains("(mode ") || header[1].contains(&format!("({faults})")),
            "{f}: {header:?}"
        );
    }
    // Each reproducer is a client case that fails on the client that showed it.
    for f in found
        .iter()
        .filter(|f| !f.starts_with("crash-") && !f.starts_with("hang-"))
    {
        let path = out.join("findings").join(f);
        let replay = common::smtpspec(&["client", "--client", &profile, path.to_str().unwrap()]);
        assert_eq!(
            replay.status.code(),
            Some(1),
            "{f} did not fail on replay:\n{}\n{}",
            std::fs::read_to_string(&path).unwrap(),
            String::from_utf8_lossy(&replay.stdout)
        );
    }
}

#[test]
fn the_reference_client_holds_under_client_fuzzing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = common::smtpspec(&[
        "fuzz",
        "--client",
        "reference",
        "--runs",
        "100",
        "--seed",
        "9",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{text}");
    assert!(text.contains("no finding"), "{text}");
    assert!(findings(&out).is_empty());
}

#[test]
fn client_fuzzing_refuses_a_mode_the_profile_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile(dir.path());
    let run = common::smtpspec(&["fuzz", "--client", &profile, "--client-mode", "auth"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("no command for it"));
}
