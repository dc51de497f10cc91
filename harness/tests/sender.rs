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

/// How the fake relay of the relay cases treats what it is handed.
#[derive(Clone, Copy)]
enum Relay {
    /// Passes the content on octet for octet, bare line ends and all: the relay half
    /// of a smuggling chain.
    Verbatim,
    /// Refuses every message at the end of data.
    Refuse,
}

/// Read one SMTP reply (its last line) from `r`.
fn reply(r: &mut impl std::io::BufRead) -> String {
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return line;
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return line;
        }
    }
}

/// A relay on 127.0.0.1 that takes one message per connection over SMTP and, unless
/// it refuses, hands it to the MX on 127.0.0.2:`mx` the way `mode` says.
fn fake_relay(mx: u16, mode: Relay) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let _ = s.write_all(b"220 relay.test\r\n");
            let mut content = Vec::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                if verb == "DATA" {
                    let _ = s.write_all(b"354 go on\r\n");
                    while !content.ends_with(b"\r\n.\r\n") {
                        let mut b = [0u8; 1];
                        if r.read(&mut b).unwrap_or(0) == 0 {
                            return;
                        }
                        content.push(b[0]);
                    }
                    let answer: &[u8] = match mode {
                        Relay::Verbatim => b"250 queued\r\n",
                        Relay::Refuse => b"550 not taken\r\n",
                    };
                    let _ = s.write_all(answer);
                } else if verb == "QUIT" {
                    let _ = s.write_all(b"221 bye\r\n");
                    break;
                } else {
                    let _ = s.write_all(b"250 ok\r\n");
                }
            }
            if matches!(mode, Relay::Verbatim) && !content.is_empty() {
                // A case may have no MX listening: the relay then keeps the message.
                let Ok(mut out) = std::net::TcpStream::connect(("127.0.0.2", mx)) else {
                    continue;
                };
                let mut r = BufReader::new(out.try_clone().unwrap());
                reply(&mut r);
                for command in [
                    "EHLO relay.test\r\n",
                    "MAIL FROM:<root@relay.test>\r\n",
                    "RCPT TO:<user@example.test>\r\n",
                    "DATA\r\n",
                ] {
                    out.write_all(command.as_bytes()).unwrap();
                    reply(&mut r);
                }
                out.write_all(&content).unwrap();
                reply(&mut r);
                out.write_all(b"QUIT\r\n").unwrap();
                reply(&mut r);
            }
        }
    });
    port
}

/// Run the relay cases with a profile whose MTA is `submit` (none: no submit address)
/// and return each case's verdict, `relayed` fact and reason.
fn relay_cases(
    submit: Option<u16>,
    smtp: u16,
    dns: u16,
    filter: &str,
) -> Vec<(String, String, String)> {
    cases_of(
        "scenarios/dns/relay-smuggling.yaml",
        submit,
        smtp,
        dns,
        filter,
    )
}

/// The same for the cases of `file`.
fn cases_of(
    file: &str,
    submit: Option<u16>,
    smtp: u16,
    dns: u16,
    filter: &str,
) -> Vec<(String, String, String)> {
    let bin = env!("CARGO_BIN_EXE_smtpspec");
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("relay.yaml");
    let submit = submit.map_or_else(String::new, |p| format!("submit: 127.0.0.1:{p}\n"));
    std::fs::write(
        &profile,
        format!(
            "name: fake-relay\ndns: 127.0.0.1:{dns}\nport: {smtp}\n{submit}\
             inject: [\"true\"]\nsettle: 2s\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("r.json");
    Command::new(bin)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["run", file, "--sender"])
        .arg(&profile)
        .args(["--filter", filter, "--format", "json", "--output"])
        .arg(&out)
        .status()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (
                format!("{} {}", s("id"), s("verdict")),
                s("relayed"),
                s("reason"),
            )
        })
        .collect()
}

#[test]
fn relay_cases_judge_what_a_relay_passes_on_octet_for_octet() {
    let (dns, smtp) = ports();
    let find = |all: &[(String, String, String)], id: &str| {
        all.iter()
            .find(|(k, ..)| k.starts_with(&format!("relay.smuggling/{id} ")))
            .cloned()
            .unwrap_or_else(|| panic!("no case {id}: {all:?}"))
    };
    // Verbatim: every bare line end reaches the MX (fail, and the sequence passed);
    // the NUL forms carry no bare line end (pass), one of them as sent.
    let verbatim = relay_cases(
        Some(fake_relay(smtp, Relay::Verbatim)),
        smtp,
        dns,
        "relay.smuggling/",
    );
    let (k, fact, why) = find(&verbatim, "lf-dot-lf");
    assert_eq!(
        (k.as_str(), fact.as_str()),
        ("relay.smuggling/lf-dot-lf fail", "passed"),
        "{why}"
    );
    assert!(why.contains("2.3.8") && why.contains("bare LF"), "{why}");
    let (k, fact, why) = find(&verbatim, "nul-before-dot");
    assert_eq!(
        (k.as_str(), fact.as_str()),
        ("relay.smuggling/nul-before-dot pass", "passed"),
        "{why}"
    );
    let fails = verbatim
        .iter()
        .filter(|(k, ..)| k.ends_with(" fail"))
        .count();
    assert_eq!(fails, verbatim.len() - 2, "{verbatim:?}");
    // A refusal is a lawful answer to a bare line end.
    let refused = relay_cases(
        Some(fake_relay(smtp, Relay::Refuse)),
        smtp,
        dns,
        "lf-dot-lf",
    );
    assert_eq!(refused.len(), 3, "{refused:?}");
    for (k, fact, why) in &refused {
        assert!(
            k.ends_with(" pass") && fact == "refused",
            "{k} {fact} {why}"
        );
        assert!(why.contains("550 not taken"), "{why}");
    }
    // Without a submit address the content cannot be handed over as it is.
    for (k, _, why) in relay_cases(None, smtp, dns, "lf-dot-lf") {
        assert!(k.ends_with(" skip") && why.contains("submit"), "{k} {why}");
    }
}

#[test]
fn a_relay_that_takes_requiretls_and_relays_in_the_clear_fails_and_one_that_refuses_is_not_judged()
{
    let (dns, smtp) = ports();
    let file = "scenarios/dns/requiretls.yaml";
    // The fake relay says 250 to MAIL ... REQUIRETLS, then relays in the clear,
    // flag dropped: a downgrade of every hop after it.
    let downgrading = cases_of(
        file,
        Some(fake_relay(smtp, Relay::Verbatim)),
        smtp,
        dns,
        "requiretls",
    );
    let verdict = |all: &[(String, String, String)], id: &str| {
        all.iter()
            .find(|(k, ..)| k.starts_with(&format!("dns.requiretls/{id} ")))
            .map(|(k, _, why)| {
                (
                    k.rsplit(' ').next().unwrap_or_default().to_owned(),
                    why.clone(),
                )
            })
            .unwrap_or_else(|| panic!("no case {id}: {all:?}"))
    };
    let (v, why) = verdict(&downgrading, "requiretls-next-hop-without-it");
    assert_eq!(v, "fail", "{why}");
    let (v, why) = verdict(&downgrading, "requiretls-passed-on");
    assert_eq!(v, "fail", "{why}");
    assert!(why.contains("without REQUIRETLS on MAIL"), "{why}");
    // A relay that refuses the message: nothing it could pass on, nothing judged.
    let refusing = cases_of(
        file,
        Some(fake_relay(smtp, Relay::Refuse)),
        smtp,
        dns,
        "requiretls",
    );
    assert_eq!(refusing.len(), 7, "{refusing:?}");
    for (k, _, why) in &refusing {
        assert!(k.ends_with(" skip"), "{k}: {why}");
        assert!(why.contains("550 not taken"), "{why}");
    }
}

/// What the fake receiving MTA of the hostile-lookup test does with a sender domain.
#[derive(Clone, Copy, PartialEq)]
enum Looker {
    /// Asks the DNS for the domain's TXT record, then answers on.
    Survives,
    /// Asks, then drops the connection: a process that crashed on the answer.
    Dies,
    /// Never asks.
    Blind,
}

/// An MTA on 127.0.0.1 that, at MAIL, asks the fake DNS on 127.0.0.1:`dns` for the TXT
/// record of the sender's domain (a query built by hand) as `mode` says.
fn fake_looker(dns: u16, mode: Looker) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let _ = s.write_all(b"220 looker.test\r\n");
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let upper = line.to_ascii_uppercase();
                if let Some(domain) = upper
                    .strip_prefix("MAIL FROM:<")
                    .and_then(|rest| rest.split_once('@'))
                    .and_then(|(_, d)| d.split_once('>'))
                    .map(|(d, _)| d.to_ascii_lowercase())
                    .filter(|_| mode != Looker::Blind)
                {
                    let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
                    for label in domain.split('.') {
                        q.push(u8::try_from(label.len()).unwrap());
                        q.extend_from_slice(label.as_bytes());
                    }
                    q.extend_from_slice(&[0, 0, 16, 0, 1]);
                    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
                    u.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                        .unwrap();
                    u.send_to(&q, ("127.0.0.1", dns)).unwrap();
                    let _ = u.recv(&mut [0u8; 4096]);
                    if mode == Looker::Dies {
                        break;
                    }
                }
                let verb = upper.get(..4).unwrap_or_default().to_owned();
                if verb == "DATA" {
                    let _ = s.write_all(b"354 go on\r\n");
                    let mut content = Vec::new();
                    while !content.ends_with(b"\r\n.\r\n") {
                        let mut b = [0u8; 1];
                        if r.read(&mut b).unwrap_or(0) == 0 {
                            return;
                        }
                        content.push(b[0]);
                    }
                    let _ = s.write_all(b"250 kept\r\n");
                } else if verb == "QUIT" {
                    let _ = s.write_all(b"221 bye\r\n");
                    break;
                } else {
                    let _ = s.write_all(b"250 ok\r\n");
                }
            }
        }
    });
    port
}

#[test]
fn a_hostile_lookup_case_needs_the_question_asked_and_fails_an_mta_that_dies_after_it() {
    let id = "dns.hostile-lookups/spf-macro-d1000r";
    // The SPF cases come from 192.0.2.66, which only the peer scripts' namespaces
    // hold; here they come from a loopback address instead.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("hostile-lookups.yaml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/dns/hostile-lookups.yaml"
    ))
    .unwrap();
    assert!(text.contains("source: 192.0.2.66"));
    std::fs::write(
        &copy,
        text.replace("source: 192.0.2.66", "source: 127.0.0.67"),
    )
    .unwrap();
    let file = copy.to_str().unwrap();
    for (mode, want, why) in [
        (
            Looker::Survives,
            "pass",
            "asked the DNS for TXT macro.spf.test",
        ),
        (
            Looker::Dies,
            "fail",
            "dropped the connection at the reply to MAIL",
        ),
        (
            Looker::Blind,
            "skip",
            "never asked the DNS for TXT macro.spf.test",
        ),
    ] {
        let (dns, smtp) = ports();
        let mta = fake_looker(dns, mode);
        let got = cases_of(file, Some(mta), smtp, dns, id);
        assert_eq!(got.len(), 1, "{got:?}");
        let (verdict, _, reason) = &got[0];
        assert_eq!(verdict, &format!("{id} {want}"), "{reason}");
        assert!(reason.contains(why), "{reason}");
    }
    // Without a submit address there is no handover to survive: skipped by the gate;
    // so is a case whose source address the host does not hold.
    let (dns, smtp) = ports();
    let got = cases_of(file, None, smtp, dns, id);
    assert!(got[0].0.ends_with("skip"), "{got:?}");
    let mta = fake_looker(dns, Looker::Survives);
    let original = "scenarios/dns/hostile-lookups.yaml";
    let got = cases_of(original, Some(mta), smtp, dns, id);
    assert!(
        got[0].0.ends_with("skip")
            && got[0]
                .2
                .contains("192.0.2.66, which this host does not hold"),
        "{got:?}"
    );
}
