//! The sender-profile path of delivery cases (`run --sender`), end to end without root:
//! the "MTA" is `smtpspec send` itself, pointed at the fixed resolver address and SMTP
//! port the profile names. It must be judged like the in-process reference client,
//! minus what a profile cannot do (many runs, retry rounds). `send` delivers at once
//! and exits 1 on a bounce; an MTA's injection would not, so its status is ignored.

use std::net::{TcpListener, UdpSocket};
use std::process::Command;

/// A port free for TCP and UDP on 127.0.0.1, and one free on 127.0.0.2..=9.
fn ports() -> (u16, u16) {
    let dns = loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            break p;
        }
    };
    let smtp = loop {
        let t = TcpListener::bind("127.0.0.2:0").unwrap();
        let p = t.local_addr().unwrap().port();
        if (3..=9).all(|n| TcpListener::bind((format!("127.0.0.{n}").as_str(), p)).is_ok()) {
            break p;
        }
    };
    (dns, smtp)
}

#[test]
fn smtpspec_send_as_the_mta_of_a_sender_profile() {
    let bin = env!("CARGO_BIN_EXE_smtpspec");
    let (dns, smtp) = ports();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("sender.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: smtpspec-send\ndns: 127.0.0.1:{dns}\nport: {smtp}\nfrom: sender@client.test\n\
             helo: relay.example.test\n\
             inject: [sh, -c, \"{bin} send --dns 127.0.0.1:{dns} --port {smtp} --helo relay.example.test \
             --from {{from}} --to {{to}} --message {{message}} --timeout-scale 0.005 --connect-timeout 1s \
             --dns-timeout 1s >/dev/null; exit 0\"]\nsettle: 300ms\nmax_runs: 3\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("r.json");
    let status = Command::new(bin)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["run", "scenarios/dns", "--sender"])
        .arg(&profile)
        .args(["--format", "json", "--output"])
        .arg(&out)
        .status()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let verdict = |id: &str| {
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| format!("{} {}", c["verdict"].as_str().unwrap(), c["reason"]))
            .unwrap_or_else(|| panic!("no case {id}"))
    };
    for id in [
        "dns.mx/preference-order",
        "dns.mx/fallback-in-preference-order",
        "dns.mx/null-mx-no-connection",
        "dns.mx/self-mx-best-bounces",
        "dns.mx/servfail-defers",
    ] {
        assert!(verdict(id).starts_with("pass"), "{id}: {}", verdict(id));
    }
    assert!(verdict("dns.mx/equal-preferences-spread").starts_with("skip"));
    assert!(verdict("dns.mx/retried-in-a-later-round").starts_with("skip"));
    assert_eq!(status.code(), Some(0), "{}", report["summary"]);
    assert_eq!(report["target"]["name"], "smtpspec-send (sender)");
}
