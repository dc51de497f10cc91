//! The exit-status contract of README.md, checked on the real binary: 0 conformant,
//! 1 a MUST failed, 2 a scenario or usage error, 3 the target could not be tested.
//! With `smtpspec fuzz`: sharded campaigns merge into one output, and a target that
//! never greets ends the command with exit 3, in bounded time.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Output;
use std::time::{Duration, Instant};

mod common;
use common::suite;

fn smtpspec(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = common::smtpspec(args);
    (out, start.elapsed())
}

/// A target that greets and answers EHLO on its first connection (so discovery
/// works), then closes every later connection at once.
fn greet_once_then_close() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut first = true;
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            if first {
                first = false;
                let _ = s.write_all(b"220 hostile.test ESMTP\r\n");
                let mut line = String::new();
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                let _ = r.read_line(&mut line);
                let _ = s.write_all(b"250 hostile.test\r\n");
                continue;
            }
            drop(s);
        }
    });
    addr
}

#[test]
fn every_case_in_error_exits_3() {
    let addr = greet_once_then_close().to_string();
    let (out, took) = smtpspec(&[
        "run",
        &suite("rfc5321/session.yaml"),
        "--target",
        &addr,
        "--timeout",
        "300ms",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("0 pass, 0 fail, 0 warn, 0 skip"),
        "{stdout}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn an_unreachable_target_exits_3_with_the_reason() {
    // Bind and drop: the port is (almost surely) closed now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .to_string();
    let (out, _) = smtpspec(&["run", "--target", &addr, "--timeout", "300ms"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("could not be tested"), "{stderr}");
}

#[test]
fn a_broken_scenario_file_exits_2_with_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "suite: bad\ncases:\n  - id: x\n    title: t\n    spec: { rfc: 5321, section: \"1\", level: MUST }\n    steps:\n      - sned: NOOP\n",
    )
    .expect("write");
    let (out, _) = smtpspec(&["run", file.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml:7:"), "{stderr}");
}

#[test]
fn a_deviation_that_breaks_a_must_exits_1_and_the_reference_exits_0() {
    let file = suite("rfc5321/transaction.yaml");
    let (out, _) = smtpspec(&["run", &file, "--deviate", "rcpt-before-mail"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (out, _) = smtpspec(&["run", &file]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A free loopback port (bound and released; a race is possible but harmless here).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

#[test]
fn a_profile_launches_its_server_and_stops_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let log = dir.path().join("server.log");
    let profile = dir.path().join("launched.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: Launched server 1.0\naddress: 127.0.0.1:{port}\ndomain: launched.test\n\
             rcpt: postmaster@launched.test\n\
             bad_rcpt: nobody@launched.test\nlaunch:\n  command: [{bin:?}, serve, --listen, \
             \"127.0.0.1:{port}\", --store, discard, --hostname, launched.test]\n  \
             ready_timeout: 10s\n  log: server.log\n",
            bin = env!("CARGO_BIN_EXE_smtpspec"),
        ),
    )
    .expect("write");
    let (out, _) = smtpspec(&[
        "run",
        &suite("rfc5321/session.yaml"),
        "--target",
        profile.to_str().expect("utf-8"),
        "--format",
        "markdown",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stderr.contains("launched "), "{stderr}");
    assert!(stdout.contains("220 launched.test"), "{stdout}");
    // The profile's name names the target in reports (and matrix columns).
    assert!(
        stdout.starts_with("# smtpspec: Launched server 1.0\n"),
        "{stdout}"
    );
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{stdout}{stderr}"
    );
    // The log was written where the profile said (relative to the profile).
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(logged.contains("listening on"), "{logged}");
    // And the server is gone: nothing listens on its port any more.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the launched server is still running"
    );
}

#[test]
fn a_launch_that_dies_exits_3_with_its_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let profile = dir.path().join("dies.yaml");
    std::fs::write(
        &profile,
        format!(
            "address: 127.0.0.1:{port}\ndomain: d.test\nrcpt: a@d.test\nbad_rcpt: b@d.test\n\
             launch:\n  command: [sh, -c, \"echo cannot start: no config; exit 7\"]\n"
        ),
    )
    .expect("write");
    let (out, took) = smtpspec(&["run", "--target", profile.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("exited"), "{stderr}");
    assert!(stderr.contains("cannot start: no config"), "{stderr}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_profile_with_an_unknown_key_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("typo.yaml");
    std::fs::write(
        &profile,
        "address: 127.0.0.1:1\ndomain: d.test\nrcpt: a@d.test\nbad_rcpt: b@d.test\nmaildri: /x\n",
    )
    .expect("write");
    let (out, _) = smtpspec(&["run", "--target", profile.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("typo.yaml:5"), "{stderr}");
}

/// A scenario found wrong only while running (here an `expect_ehlo` with no EHLO before
/// it) is an error of the scenario, named by file and line, and the run exits 2 —
/// whatever the target did.
#[test]
fn a_scenario_fault_found_at_run_time_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("faulty.yaml");
    std::fs::write(
        &file,
        "suite: test.faulty\ncases:\n  - id: ehlo-check-without-ehlo\n    title: t\n    \
         spec: { rfc: 5321, section: \"4.1.1.1\", level: MUST }\n    steps:\n      \
         - expect: 220\n      - expect_ehlo: { keyword: PIPELINING }\n",
    )
    .expect("write");
    let (out, _) = smtpspec(&["run", file.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("scenario error at") && stderr.contains("faulty.yaml:8"),
        "{stderr}"
    );
}

/// `smtpspec check` holds every expected code set to RFC 5321 §4.3.2: narrower than
/// the list without the sentence that narrows it is an error (exit 2), located.
#[test]
fn check_refuses_a_code_set_narrower_than_section_4_3_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let narrow = dir.path().join("narrow.yaml");
    let body = "suite: test.narrow\ncases:\n  - id: rcpt-before-mail\n    title: t\n    \
                spec: { rfc: 5321, section: \"4.1.4\", level: MUST }\n    steps:\n      \
                - expect: 220\n      - send: \"EHLO a.test\"\n      - expect: 250\n      \
                - send: \"RCPT TO:<a@b.test>\"\n      - expect: EXPECTATION\n";
    std::fs::write(&narrow, body.replace("EXPECTATION", "503")).expect("write");
    let (out, _) = smtpspec(&["check", narrow.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("narrow.yaml:11") && stderr.contains("answers RCPT"),
        "{stderr}"
    );
    let cited = body.replace(
        "EXPECTATION",
        "{ code: 503, because: \"RFC 5321 §4.1.4: ... a 503 failure reply MUST be returned\" }",
    );
    std::fs::write(&narrow, cited).expect("write");
    assert_checks_clean(&narrow);
    let wide = body.replace("EXPECTATION", "{ class: 5xx, prefer: [503] }");
    std::fs::write(&narrow, wide).expect("write");
    assert_checks_clean(&narrow);
}

fn assert_checks_clean(file: &std::path::Path) {
    let (out, _) = smtpspec(&["check", file.to_str().expect("path")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stats(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("stats.json")).expect("stats.json");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn shards_fuzz_apart_and_merge_into_one_output() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = |name: &str| tmp.path().join(name);
    let mut sessions = 0;
    for (shard, name) in [("1/2", "a"), ("2/2", "b")] {
        let out = dir(name);
        let (o, _) = smtpspec(&[
            "fuzz",
            "--runs",
            "300",
            "--seed",
            "5",
            "--shard",
            shard,
            "--output-dir",
            out.to_str().expect("utf-8"),
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&format!("shard {shard}")),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        sessions += stats(&out)["sessions"].as_u64().expect("sessions");
    }
    let merged = dir("m");
    let (a, b) = (dir("a"), dir("b"));
    let (o, _) = smtpspec(&[
        "fuzz",
        "--merge",
        a.to_str().expect("utf-8"),
        b.to_str().expect("utf-8"),
        "--output-dir",
        merged.to_str().expect("utf-8"),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let m = stats(&merged);
    assert_eq!(m["sessions"].as_u64(), Some(sessions));
    let corpus =
        |d: &std::path::Path| std::fs::read_dir(d.join("corpus")).map_or(0, Iterator::count);
    assert!(corpus(&merged) >= corpus(&a).max(corpus(&b)) && corpus(&merged) > 0);
    assert_eq!(m["corpus"].as_u64(), Some(corpus(&merged) as u64));
    let (o, _) = smtpspec(&["fuzz", "--shard", "3/2"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a shard outside 1..=N is a usage error"
    );
}

#[test]
fn a_target_that_never_greets_exits_3_in_bounded_time() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let _held = std::thread::spawn(move || {
        // Accept and hold every connection, never a byte sent.
        let mut kept = Vec::new();
        for s in l.incoming().take(64) {
            kept.push(s);
        }
    });
    let (o, took) = smtpspec(&["fuzz", "--target", &addr, "--duration", "5s"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("could not be fuzzed"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
