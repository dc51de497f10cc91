//! `smtpspec send` through the fake DNS: it reaches the right reference server, and a
//! null MX makes no connection at all (RFC 7505 §4).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use smtpspec::dns::{self, NameSpec, Zones};
use smtpspec::profile::embedded::{self, Embedded};
use tokio::net::TcpListener;

fn zone(names: &[(&str, &str)]) -> BTreeMap<String, NameSpec> {
    names
        .iter()
        .map(|(name, yaml)| {
            let spec: NameSpec = serde_saphyr::from_str(yaml).expect("name spec");
            ((*name).to_string(), spec)
        })
        .collect()
}

/// Two reference servers on one port: 127.0.0.2 greets with 521 (RFC 7504), 127.0.0.3
/// is an ordinary one.
async fn servers() -> (Embedded, Embedded, u16) {
    for _ in 0..8 {
        let refusing = embedded::start_configured(&[], |s| {
            s.listen = "127.0.0.2:0".into();
            s.greeting = "does-not-accept-mail".into();
        })
        .await
        .expect("first server");
        let port = refusing.server.addr().port();
        if let Ok(ok) = embedded::start_configured(&[], |s| {
            s.listen = format!("127.0.0.3:{port}");
        })
        .await
        {
            return (refusing, ok, port);
        }
    }
    panic!("no common port for the two servers");
}

fn stored(e: &Embedded) -> usize {
    std::fs::read_dir(e.mailbox.join("new")).map_or(0, |d| d.count())
}

fn send(dns: SocketAddr, port: u16, to: &str) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .args([
            "send",
            "--from",
            "sender@client.test",
            "--to",
            to,
            "--format",
            "json",
        ])
        .args(["--dns", &dns.to_string(), "--port", &port.to_string()])
        .args([
            "--timeout-scale",
            "0.01",
            "--connect-timeout",
            "1s",
            "--dns-timeout",
            "1s",
        ])
        .output()
        .expect("smtpspec send");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_falls_back_to_the_server_that_takes_mail() {
    let (refusing, ok, port) = servers().await;
    let zones: Zones = BTreeMap::from([(
        "smtpspec.test".to_string(),
        zone(&[
            ("@", "{ MX: [\"10 mx1\", \"20 mx2\"] }"),
            ("mx1", "{ A: [127.0.0.2] }"),
            ("mx2", "{ A: [127.0.0.3] }"),
        ]),
    )]);
    let dns = dns::serve(&zones, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("dns");
    let (code, json) =
        tokio::task::spawn_blocking(move || send(dns.addr, port, "alice@smtpspec.test"))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "{json:#}");
    let attempts = &json["rounds"][0]["attempts"];
    assert_eq!(
        attempts[0]["address"],
        format!("127.0.0.2:{port}"),
        "{json:#}"
    );
    assert_eq!(attempts[0]["result"], "deferred");
    assert_eq!(attempts[1]["address"], format!("127.0.0.3:{port}"));
    assert_eq!(attempts[1]["result"], "delivered");
    assert_eq!(json["recipients"][0]["disposition"], "delivered");
    assert_eq!(stored(&refusing), 0);
    assert_eq!(
        stored(&ok),
        1,
        "the message is in the second server's Maildir"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_mx_makes_no_connection() {
    // Something listens on the domain's A record: it must never hear from the sender.
    let listener = TcpListener::bind("127.0.0.4:0").await.expect("listener");
    let port = listener.local_addr().unwrap().port();
    let zones: Zones = BTreeMap::from([(
        "nomail.test".to_string(),
        zone(&[("@", "{ MX: [\"0 .\"], A: [127.0.0.4] }")]),
    )]);
    let dns = dns::serve(&zones, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("dns");
    let (code, json) =
        tokio::task::spawn_blocking(move || send(dns.addr, port, "user@nomail.test"))
            .await
            .unwrap();
    assert_eq!(code, Some(1), "a bounce: {json:#}");
    assert_eq!(json["recipients"][0]["disposition"], "bounced");
    assert!(
        json["recipients"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("RFC 7505"),
        "{json:#}"
    );
    assert_eq!(
        json["rounds"][0]["attempts"].as_array().map(Vec::len),
        Some(0)
    );
    let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(
        accepted.is_err(),
        "the sender connected to the A record of a null-MX domain"
    );
}
