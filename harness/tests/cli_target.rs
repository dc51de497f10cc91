//! `run --target HOST:PORT` without a profile, against a reference server started as a
//! separate process: the domain is read from the greeting, the command line's
//! variables win over it and are shown (secrets hidden), and `--no-mail` certifies
//! without a single message reaching the store.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `smtpspec serve` on a free port, greeting as `hostname`, storing into a Maildir.
struct Served {
    child: Child,
    addr: String,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(hostname: &str) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .args(["serve", "--listen", "127.0.0.1:0", "--hostname", hostname])
        .arg("--maildir")
        .arg(&maildir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start smtpspec serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Served {
        child,
        addr,
        maildir,
        _dir: dir,
    }
}

/// A run against `addr` with `args`; its exit status and JSON report.
fn run(addr: &str, args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .args([
            "run",
            "--target",
            addr,
            "--timeout",
            "2s",
            "--format",
            "json",
        ])
        .args(args)
        .output()
        .expect("run smtpspec");
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stored(maildir: &Path) -> usize {
    std::fs::read_dir(maildir.join("new")).map_or(0, |d| d.count())
}

#[test]
fn the_greeting_names_the_domain_and_the_command_line_wins() {
    let server = serve("mx.example.test");
    let (code, report, err) = run(&server.addr, &["--filter", "noop-250"]);
    assert_eq!(code, Some(0), "{err}");
    let vars = &report["target"]["variables"];
    assert_eq!(vars["target.domain"], "mx.example.test", "{vars}");
    assert_eq!(vars["target.rcpt"], "postmaster@mx.example.test", "{vars}");

    let (code, report, err) = run(
        &server.addr,
        &[
            "--filter",
            "noop-250",
            "--domain",
            "other.test",
            "--from",
            "me@sender.test",
            "--var",
            "client.helo=box.sender.test",
            "--user",
            "u",
            "--password",
            "hunter2",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let vars = &report["target"]["variables"];
    assert_eq!(vars["target.domain"], "other.test", "{vars}");
    assert_eq!(vars["target.rcpt"], "postmaster@other.test", "{vars}");
    assert_eq!(vars["client.from"], "me@sender.test", "{vars}");
    assert_eq!(vars["client.helo"], "box.sender.test", "{vars}");
    assert_eq!(vars["target.password"], "(secret)", "{vars}");
    assert!(
        !report.to_string().contains("hunter2"),
        "the password leaked"
    );
}

#[test]
fn no_mail_certifies_without_storing_anything() {
    let server = serve("mx.example.test");
    // The control: the same cases without --no-mail store messages.
    let (code, _, err) = run(&server.addr, &["--filter", "4.1.1"]);
    assert!(matches!(code, Some(0 | 1)), "{err}");
    let delivered = stored(&server.maildir);
    assert!(delivered > 0, "the DATA cases stored nothing");

    let fresh = serve("mx.example.test");
    let (code, report, err) = run(&fresh.addr, &["--filter", "4.1.1", "--no-mail"]);
    assert!(matches!(code, Some(0 | 1)), "{err}");
    assert_eq!(stored(&fresh.maildir), 0, "--no-mail stored a message");
    assert_eq!(report["settings"]["no_mail"], true);
    let cases = report["cases"].as_array().expect("cases");
    let skipped = cases
        .iter()
        .filter(|c| {
            c["verdict"] == "skip"
                && c["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("--no-mail"))
        })
        .count();
    assert!(skipped > 0, "no case skipped for --no-mail");
    assert!(
        cases.iter().any(|c| c["verdict"] == "pass"),
        "the cases that send no message still run"
    );
}

#[test]
fn tls_none_skips_the_cases_that_start_tls() {
    let server = serve("mx.example.test");
    let (code, report, err) = run(&server.addr, &["--filter", "starttls", "--tls", "none"]);
    assert!(matches!(code, Some(0 | 1)), "{err}");
    let cases = report["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    assert!(
        cases.iter().any(|c| c["reason"]
            .as_str()
            .is_some_and(|r| r.contains("--tls none"))),
        "{report}"
    );
    assert!(
        cases.iter().all(|c| c["verdict"] != "fail"),
        "a case failed for TLS it was told not to use: {report}"
    );
}
