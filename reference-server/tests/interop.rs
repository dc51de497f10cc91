//! Real clients deliver through STARTTLS and AUTH to the reference server, and the
//! Maildir holds exactly what they sent, with the Received line in front: swaks, msmtp,
//! curl and Python's smtplib run as processes; lettre in-process.
//!
//! A client that is not installed is reported loudly; under CI (`CI` set) that is a
//! failure, since `.ci/run` installs them all (scripts/peers/install.sh).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::Fixture;

const USERS: &str = "users: {alice: s3cret}\nrecipients: [bob@mx.test]\n";

/// The message every client sends, headers included so that no client adds its own.
const MESSAGE: &str = "From: alice@client.test\r\nTo: bob@mx.test\r\nDate: Sun, 29 Nov 2026 21:00:00 +0000\r\nMessage-ID: <interop@client.test>\r\nSubject: interop\r\n\r\nHello from a real client.\r\n";

fn available(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let msg = format!(
            "\n*** interop: `{program}` is not installed; this test did NOT run. \
             Install the peers with scripts/peers/install.sh ***\n"
        );
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        // Straight to the process's stderr: the test harness captures `eprintln!`
        // and would show a missing peer as a plain `ok`.
        let _ = writeln!(std::io::stderr(), "{msg}");
    }
    found
}

/// The stored message, split into its Received field and the rest, after checking the
/// Return-Path line of final delivery (RFC 5321 §4.4).
fn stored(fx: &Fixture) -> (String, Vec<u8>) {
    let mut all = fx.maildir_messages();
    assert_eq!(all.len(), 1, "exactly one message stored");
    let return_path = b"Return-Path: <alice@client.test>\r\n";
    let whole = all.remove(0);
    assert!(
        whole.starts_with(return_path),
        "{}",
        String::from_utf8_lossy(&whole)
    );
    let m = whole[return_path.len()..].to_vec();
    let mut end = 0;
    while let Some(pos) = m[end..].windows(2).position(|w| w == b"\r\n") {
        end += pos + 2;
        if m.get(end) != Some(&b'\t') {
            break;
        }
    }
    let (header, rest) = m.split_at(end);
    (String::from_utf8_lossy(header).into_owned(), rest.to_vec())
}

fn cert_path(fx: &Fixture) -> std::path::PathBuf {
    fx.dir.path().join("cert.pem")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run client");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run a client process to completion off the async runtime (the server runs on it).
async fn run_client(mut cmd: Command) {
    tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .expect("join");
}

/// Exactly one message was stored: a Received line saying ESMTPSA (STARTTLS and AUTH
/// were used), then precisely `content`.
fn assert_delivered(fx: &Fixture, content: &[u8]) {
    let (received, body) = stored(fx);
    assert!(received.contains("with ESMTPSA"), "{received}");
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(content)
    );
}

fn write_message(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("message.eml");
    std::fs::write(&p, MESSAGE).expect("write message");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_starttls_auth() {
    if !available("swaks") {
        return;
    }
    let fx = common::start(USERS).await;
    let msg = write_message(fx.dir.path());
    let port = fx.server.addr().port().to_string();
    let mut cmd = Command::new("swaks");
    cmd.args([
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--helo",
        "client.test",
    ])
    .args(["--from", "alice@client.test", "--to", "bob@mx.test"])
    .args([
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice",
        "--auth-password",
        "s3cret",
    ])
    .arg("--data")
    .arg(&msg);
    run_client(cmd).await;
    // swaks always sends <CRLF>.<CRLF> after the data, even when the data already ends
    // with CRLF, so the content it transmits ends with an empty line.
    assert_delivered(&fx, format!("{MESSAGE}\r\n").as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_starttls_auth() {
    if !available("python3") {
        return;
    }
    let fx = common::start(USERS).await;
    let msg = write_message(fx.dir.path());
    let script = format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context(cafile={cert:?})
ctx.check_hostname = False
with smtplib.SMTP("127.0.0.1", {port}, local_hostname="client.test") as s:
    s.starttls(context=ctx)
    s.login("alice", "s3cret")
    s.sendmail("alice@client.test", ["bob@mx.test"], open({msg:?}, "rb").read())
"#,
        cert = cert_path(&fx).display().to_string(),
        port = fx.server.addr().port(),
        msg = msg.display().to_string(),
    );
    let mut cmd = Command::new("python3");
    cmd.args(["-c", &script]);
    run_client(cmd).await;
    assert_delivered(&fx, MESSAGE.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msmtp_starttls_auth() {
    if !available("msmtp") {
        return;
    }
    let fx = common::start(USERS).await;
    let port = fx.server.addr().port().to_string();
    let cert = cert_path(&fx);
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "printf '%s' \"$MSG\" | msmtp --host=127.0.0.1 --port={port} --domain=client.test \
         --from=alice@client.test --auth=plain --user=alice --passwordeval='echo s3cret' \
         --tls=on --tls-starttls=on --tls-trust-file={} --tls-host-override=localhost bob@mx.test",
        cert.display()
    ));
    cmd.env("MSG", MESSAGE);
    run_client(cmd).await;
    assert_delivered(&fx, MESSAGE.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_starttls_auth() {
    if !available("curl") {
        return;
    }
    let fx = common::start(USERS).await;
    let msg = write_message(fx.dir.path());
    let port = fx.server.addr().port();
    let mut cmd = Command::new("curl");
    cmd.args(["--silent", "--show-error", "--ssl-reqd"])
        .arg(format!("smtp://localhost:{port}/client.test"))
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg("--cacert")
        .arg(cert_path(&fx))
        .args(["--user", "alice:s3cret", "--mail-from", "alice@client.test"])
        .args(["--mail-rcpt", "bob@mx.test", "--upload-file"])
        .arg(&msg);
    run_client(cmd).await;
    assert_delivered(&fx, MESSAGE.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lettre_starttls_auth() {
    use lettre::transport::smtp::authentication::{Credentials, Mechanism};
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{Message, SmtpTransport, Transport};

    let fx = common::start(USERS).await;
    let pem = std::fs::read(cert_path(&fx)).expect("cert");
    let port = fx.server.addr().port();
    let formatted = tokio::task::spawn_blocking(move || {
        let tls = TlsParameters::builder("localhost".to_owned())
            .add_root_certificate(Certificate::from_pem(&pem).expect("pem"))
            .build_rustls()
            .expect("tls parameters");
        let mailer = SmtpTransport::builder_dangerous("127.0.0.1")
            .port(port)
            .tls(Tls::Required(tls))
            .credentials(Credentials::new("alice".into(), "s3cret".into()))
            .authentication(vec![Mechanism::Plain])
            .build();
        let msg = Message::builder()
            .from("alice@client.test".parse().expect("from"))
            .to("bob@mx.test".parse().expect("to"))
            .subject("lettre")
            .body(String::from("Hello from lettre.\r\n"))
            .expect("message");
        mailer.send(&msg).expect("send");
        msg.formatted()
    })
    .await
    .expect("join");
    // lettre, like swaks, ends the data with <CRLF>.<CRLF> after content that already
    // ends in CRLF: the transmitted content ends with an empty line.
    let mut sent = formatted;
    sent.extend_from_slice(b"\r\n");
    assert_delivered(&fx, &sent);
}
