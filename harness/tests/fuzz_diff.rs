//! Differential fuzzing on the real binary: two `smtpspec serve` processes, one of
//! which ends message content on LF "." LF (the smuggling class), compared with the
//! reference server. The deviant one must stand apart in a critical message-count
//! disagreement whose reproducer passes on the plain server and fails on the deviant
//! one; the plain one must never be counted in that class.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::smtpspec;

struct Serve(Child, String);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(deviations: &[&str]) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smtpspec"));
    cmd.args(["serve", "--listen", &addr, "--store", "discard"]);
    for d in deviations {
        cmd.args(["--deviate", d]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start smtpspec serve");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "serve did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Serve(child, addr)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_server_that_ends_data_on_lf_dot_lf_stands_apart_in_a_critical_disagreement() {
    let plain = serve(&[]);
    let deviant = serve(&["data-end-lf-dot-lf"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let o = smtpspec(&[
        "fuzz",
        "--target",
        &plain.1,
        "--target",
        &deviant.1,
        "--duration",
        "40s",
        "--seed",
        "3",
        "--output-dir",
        out.to_str().expect("utf-8"),
    ]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).expect("stats"))
            .expect("json");
    let m = &stats["differential"];
    assert_eq!(m["classes"][0], "message-count", "{stats}");
    assert_eq!(m["targets"][1], deviant.1.as_str(), "{stats}");
    // The plain server never stands apart on message boundaries; the deviant does.
    assert_eq!(m["cells"][0][0], 0, "{stats}");
    assert!(m["cells"][1][0].as_u64().expect("count") >= 1, "{stats}");
    let md = std::fs::read_to_string(out.join("disagreements.md")).expect("markdown");
    assert!(md.contains("| target | message-count |"), "{md}");
    let html = std::fs::read_to_string(out.join("disagreements.html")).expect("html");
    assert!(html.contains("<th>message-count</th>"), "{html}");
    // The findings in the report model: `smtpspec report` reads them back.
    let report = out.join("report.json");
    let md = smtpspec(&[
        "report",
        report.to_str().expect("utf-8"),
        "--format",
        "markdown",
    ]);
    assert_eq!(md.status.code(), Some(0), "{}", text(&md));
    assert!(
        text(&md).contains("fuzz.disagreements/message-count-"),
        "{}",
        text(&md)
    );
    assert!(out.join("report.html").exists());

    // Each message-count reproducer expects the reference's reading: the plain
    // server passes it, the deviant one fails it.
    let findings = out.join("findings");
    let counts: Vec<_> = std::fs::read_dir(&findings)
        .expect("findings")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("message-count-") && n.ends_with(".yaml")
        })
        .collect();
    assert!(!counts.is_empty(), "{all}");
    for suite in &counts {
        let s = suite.to_str().expect("utf-8");
        let on_plain = smtpspec(&["run", "--target", &plain.1, s]);
        assert_eq!(on_plain.status.code(), Some(0), "{}", text(&on_plain));
        let on_deviant = smtpspec(&["run", "--target", &deviant.1, s]);
        assert_eq!(on_deviant.status.code(), Some(1), "{}", text(&on_deviant));
        assert!(
            Path::new(&suite.with_extension("transcript.txt")).exists(),
            "{}",
            suite.display()
        );
    }
}

#[test]
fn differential_flags_are_checked() {
    let o = smtpspec(&["fuzz", "--differential"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--differential"), "{}", text(&o));
    let o = smtpspec(&[
        "fuzz",
        "--target",
        "127.0.0.1:1",
        "--target",
        "127.0.0.1:2",
        "--shard",
        "1/2",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
