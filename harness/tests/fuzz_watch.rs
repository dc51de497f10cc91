//! The fuzzer's oracles off the wire, on the real binary: `smtpspec serve` launched by
//! a profile with a planted bug that only its process shows — a session panic the
//! server survives (its log), a leak per RSET (its memory), an abort (its exit) —
//! found and tied to one input; and the plain server, watched the same way, gives no
//! finding.

use std::path::Path;
use std::process::{Command, Output};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("port")
        .port()
}

/// A profile that launches `smtpspec serve` with `flags` (`--deviate NAME`,
/// `--variant NAME`), in `dir`.
fn profile(dir: &Path, flags: &[&str]) -> String {
    let port = free_port();
    let mut command = format!(
        "[{bin:?}, serve, --listen, \"127.0.0.1:{port}\", --store, discard, --hostname, \
         watched.test",
        bin = env!("CARGO_BIN_EXE_smtpspec")
    );
    for f in flags {
        command.push_str(&format!(", {f}"));
    }
    command.push(']');
    let path = dir.join("watched.yaml");
    std::fs::write(
        &path,
        format!(
            "address: 127.0.0.1:{port}\ndomain: watched.test\nrcpt: postmaster@watched.test\n\
             bad_rcpt: nobody@watched.test\nlaunch:\n  command: {command}\n  \
             ready_timeout: 10s\n  log: server.log\n"
        ),
    )
    .expect("write profile");
    path.to_str().expect("utf-8").to_owned()
}

fn fuzz(profile: &str, out: &Path, duration: &str, stop: bool) -> Output {
    let mut args = vec![
        "fuzz",
        "--target",
        profile,
        "--duration",
        duration,
        "--seed",
        "7",
        "--output-dir",
        out.to_str().expect("utf-8"),
    ];
    if stop {
        args.push("--stop-on-finding");
    }
    Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .args(&args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run smtpspec fuzz")
}

fn stats(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("stats.json")).expect("stats.json");
    serde_json::from_str(&text).expect("json")
}

/// The reproducers of class `class` under `out/findings`.
fn findings(out: &Path, class: &str) -> Vec<String> {
    std::fs::read_dir(out.join("findings"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{class}-")) && n.ends_with(".yaml"))
                .collect()
        })
        .unwrap_or_default()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Fuzz the server launched with `deviation` until the first finding: it must be one
/// finding of `class`, reported with exit 1. The reproducer's text, and `stats.json`.
fn found(deviation: &str, class: &str) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let p = profile(dir.path(), &["--deviate", deviation]);
    let o = fuzz(&p, &out, "120s", true);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("watching process "), "{all}");
    let of_class = findings(&out, class);
    assert_eq!(of_class.len(), 1, "{all}");
    let suite = std::fs::read_to_string(out.join("findings").join(&of_class[0])).expect("read");
    (suite, stats(&out))
}

#[test]
fn a_panic_only_the_log_shows_is_a_log_finding_tied_to_one_input() {
    let (suite, _) = found("planted-vrfy-8bit-panic", "log");
    assert!(suite.contains("panicked at"), "{suite}");
    // Tied to one input: the one that sends a VRFY or EXPN with an 8-bit octet.
    let upper = suite.to_ascii_uppercase();
    assert!(upper.contains("VRFY") || upper.contains("EXPN"), "{suite}");
    assert!(!suite.contains("no input sent alone"), "{suite}");
    // Minimised as a finding on the wire is: one command makes the panic.
    let to = suite
        .lines()
        .find_map(|l| l.strip_prefix("# Minimised from "))
        .and_then(|l| l.split(" to ").nth(1))
        .and_then(|n| n.split('.').next())
        .and_then(|n| n.parse::<usize>().ok());
    assert_eq!(to, Some(1), "{suite}");
}

#[test]
fn a_leak_per_rset_is_resource_growth() {
    let (_, s) = found("planted-rset-leak", "resource-growth");
    let start = s["target"]["rss_start_kib"].as_u64().expect("rss start");
    let peak = s["target"]["rss_peak_kib"].as_u64().expect("rss peak");
    assert!(peak >= start * 2 && peak >= start + 64 * 1024, "{s}");
}

#[test]
fn an_abort_is_a_death_that_says_how() {
    let (suite, _) = found("planted-etrn-abort", "target-death");
    assert!(suite.contains("SIGABRT"), "{suite}");
    assert!(suite.to_ascii_uppercase().contains("ETRN"), "{suite}");
}

#[test]
fn the_plain_server_watched_gives_no_finding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let p = profile(dir.path(), &[]);
    let o = fuzz(&p, &out, "15s", false);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let s = stats(&out);
    assert!(s["sessions"].as_u64().expect("sessions") > 1000, "{s}");
    assert!(
        s["target"]["rss_peak_kib"].as_u64().expect("rss") > 0,
        "{s}"
    );
    assert!(s["target"]["fds_peak"].as_u64().expect("fds") > 0, "{s}");
}

/// A target that refuses connections over its limit is throttling, not a finding; the
/// campaign says which reply refused and which settings lift such a limit.
#[test]
fn a_connection_limit_is_throttling_with_its_reply_and_the_settings_that_lift_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let p = profile(dir.path(), &["--variant", "max-connections-4"]);
    let o = fuzz(&p, &out, "10s", false);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let s = stats(&out);
    let throttled = s["throttled"].as_u64().expect("throttled");
    assert!(throttled > 0, "{s}");
    let why = "421 Too many connections, try again later";
    assert_eq!(s["throttled_by"][why].as_u64(), Some(throttled), "{s}");
    assert!(
        all.contains(&format!(
            "throttled most often by: {why} ({throttled} sessions)"
        )),
        "{all}"
    );
    assert!(all.contains("smtp_accept_max"), "{all}");
    let by_feature = s["signature_bits_by_feature"]
        .as_object()
        .expect("by feature");
    let bits: u64 = by_feature
        .values()
        .filter_map(serde_json::Value::as_u64)
        .sum();
    assert_eq!(Some(bits), s["signature_bits"].as_u64(), "{s}");
}
