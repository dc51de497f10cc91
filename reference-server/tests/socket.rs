//! The reference server over real sockets on 127.0.0.1: each extension, durability,
//! limits, timeouts and shutdown.

mod common;

use std::time::Duration;

use common::start;
use smtp_protocol::base64;

#[tokio::test]
async fn a_message_lands_byte_exact_in_the_maildir_with_a_received_line() {
    let fx = start("recipients: [alice@mx.test]\n").await;
    let mut c = fx.connect().await;
    assert_eq!(c.reply().await.code.get(), 220);
    let ehlo = c.cmd("EHLO client.test").await;
    assert_eq!(ehlo.code.get(), 250);
    for kw in [
        "PIPELINING",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "STARTTLS",
    ] {
        assert!(
            ehlo.lines.iter().any(|l| l.starts_with(kw)),
            "{kw} in {ehlo:?}"
        );
    }
    assert_eq!(
        c.cmd("MAIL FROM:<sender@client.test>").await.code.get(),
        250
    );
    assert_eq!(c.cmd("RCPT TO:<nobody@mx.test>").await.code.get(), 550);
    assert_eq!(c.cmd("RCPT TO:<alice@mx.test>").await.code.get(), 250);
    assert_eq!(c.cmd("DATA").await.code.get(), 354);
    assert!(
        fx.maildir_messages().is_empty(),
        "nothing stored before the end of data"
    );
    c.send(b"Subject: t\r\n\r\n..leading dot\r\ncaf\xc3\xa9\r\n.\r\n")
        .await;
    let done = c.reply().await;
    assert_eq!(done.code.get(), 250, "{done:?}");
    let stored = fx.maildir_messages();
    assert_eq!(stored.len(), 1);
    let text = String::from_utf8(stored[0].clone()).expect("utf-8");
    assert!(
        text.starts_with(
            "Return-Path: <sender@client.test>\r\nReceived: from client.test ([127.0.0.1])\r\n"
        ),
        "{text}"
    );
    assert!(text.contains("\tby mx.test with ESMTP id "));
    assert!(text.contains("\tfor <alice@mx.test>;\r\n"));
    assert!(
        text.ends_with("+0000\r\nSubject: t\r\n\r\n.leading dot\r\ncafé\r\n"),
        "{text}"
    );
    assert_eq!(c.cmd("QUIT").await.code.get(), 221);
    assert!(c.closed_within(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let fx = start("").await;
    let mut c = fx.connect().await;
    c.reply().await;
    c.send(b"EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@mx.test>\r\nRSET\r\nRCPT TO:<b@mx.test>\r\nNOOP\r\n")
        .await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(c.reply().await.code.get());
    }
    assert_eq!(codes, vec![250, 250, 250, 250, 503, 250]);
}

#[tokio::test]
async fn starttls_then_auth_then_mail() {
    let fx = start("users: {alice: s3cret}\n").await;
    let mut c = fx.connect().await;
    c.reply().await;
    let plain = c.cmd("EHLO c.test").await;
    assert!(
        !plain.lines.iter().any(|l| l.starts_with("AUTH")),
        "no AUTH in clear"
    );
    let token = base64::encode(b"\0alice\0s3cret");
    assert_eq!(c.cmd(&format!("AUTH PLAIN {token}")).await.code.get(), 538);
    c.starttls().await;
    let ehlo = c.cmd("EHLO c.test").await;
    assert!(
        ehlo.lines.iter().any(|l| l == "AUTH PLAIN LOGIN"),
        "{ehlo:?}"
    );
    assert!(
        !ehlo.lines.iter().any(|l| l == "STARTTLS"),
        "not offered twice"
    );
    let wrong = base64::encode(b"\0alice\0nope");
    assert_eq!(c.cmd(&format!("AUTH PLAIN {wrong}")).await.code.get(), 535);
    assert_eq!(c.cmd(&format!("AUTH PLAIN {token}")).await.code.get(), 235);
    c.cmd("MAIL FROM:<alice@c.test>").await;
    c.cmd("RCPT TO:<bob@mx.test>").await;
    c.cmd("DATA").await;
    assert_eq!(c.cmd("hello\r\n.").await.code.get(), 250);
    let text = String::from_utf8(fx.maildir_messages().remove(0)).expect("utf-8");
    assert!(text.contains("with ESMTPSA"), "{text}");
}

#[tokio::test]
async fn plaintext_pipelined_after_starttls_is_not_run() {
    let fx = start("").await;
    let mut c = fx.connect().await;
    c.reply().await;
    c.cmd("EHLO c.test").await;
    // CVE-2011-0411: the injected command must not be answered inside TLS.
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
        .await;
    assert_eq!(c.reply().await.code.get(), 220);
    c.handshake().await;
    let next = c.cmd("MAIL FROM:<a@c.test>").await;
    assert_eq!(
        next.code.get(),
        503,
        "EHLO needed again, and no stray reply: {next:?}"
    );
}

#[tokio::test]
async fn size_is_refused_at_mail_and_at_end_of_data() {
    let fx = start("max-message-size: 1000\n").await;
    let mut c = fx.connect().await;
    c.reply().await;
    let ehlo = c.cmd("EHLO c.test").await;
    assert!(ehlo.lines.iter().any(|l| l == "SIZE 1000"));
    assert_eq!(
        c.cmd("MAIL FROM:<a@c.test> SIZE=5000").await.code.get(),
        552
    );
    c.cmd("MAIL FROM:<a@c.test> SIZE=10").await;
    c.cmd("RCPT TO:<b@mx.test>").await;
    c.cmd("DATA").await;
    let body = format!("{}\r\n.", "x".repeat(3000));
    let r = c.cmd(&body).await;
    assert_eq!(
        (r.code.get(), r.enhanced.map(|e| e.to_string())),
        (552, Some("5.3.4".into()))
    );
    assert!(fx.maildir_messages().is_empty());
}

#[tokio::test]
async fn bdat_chunks_make_one_message() {
    let fx = start("").await;
    let mut c = fx.connect().await;
    c.reply().await;
    c.cmd("EHLO c.test").await;
    c.cmd("MAIL FROM:<a@c.test> BODY=BINARYMIME").await;
    c.cmd("RCPT TO:<b@mx.test>").await;
    c.send(b"BDAT 6\r\nab\0\r\ncBDAT 3 LAST\r\nxyz").await;
    assert_eq!(c.reply().await.code.get(), 250);
    assert_eq!(c.reply().await.code.get(), 250);
    let m = fx.maildir_messages().remove(0);
    assert!(m.ends_with(b"ab\0\r\ncxyz"));
}

#[tokio::test]
async fn disconnect_in_the_middle_of_data_stores_nothing() {
    let fx = start("").await;
    let mut c = fx.connect().await;
    c.reply().await;
    c.cmd("EHLO c.test").await;
    c.cmd("MAIL FROM:<a@c.test>").await;
    c.cmd("RCPT TO:<b@mx.test>").await;
    c.cmd("DATA").await;
    c.send(b"Subject: half\r\n\r\nhalf a body\r\n").await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(fx.maildir_messages().is_empty());
}

#[tokio::test]
async fn greeting_521_refuses_everything_but_quit() {
    let fx = start("greeting: does-not-accept-mail\n").await;
    let mut c = fx.connect().await;
    assert_eq!(c.reply().await.code.get(), 521);
    assert_eq!(c.cmd("EHLO c.test").await.code.get(), 521);
    assert_eq!(c.cmd("QUIT").await.code.get(), 221);
}

#[tokio::test]
async fn connections_past_the_limit_get_421() {
    let fx = start("max-connections: 1\n").await;
    let mut first = fx.connect().await;
    assert_eq!(first.reply().await.code.get(), 220);
    let mut second = fx.connect().await;
    assert_eq!(second.reply().await.code.get(), 421);
    assert_eq!(first.cmd("NOOP").await.code.get(), 250);
}

#[tokio::test]
async fn an_idle_client_is_timed_out_with_421() {
    let fx = start("timeouts: {command-secs: 1}\n").await;
    let mut c = fx.connect().await;
    c.reply().await;
    let r = c.reply().await;
    assert_eq!(r.code.get(), 421);
    assert!(c.closed_within(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn shutdown_tells_idle_clients_421() {
    let fx = start("").await;
    let mut c = fx.connect().await;
    c.reply().await;
    c.cmd("EHLO c.test").await;
    let common::Fixture {
        server, dir: _dir, ..
    } = fx;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(c.reply().await.code.get(), 421);
    stopping.await.expect("join").expect("stop");
}

#[tokio::test]
async fn bare_lf_and_long_lines_are_refused_over_the_wire() {
    let fx = start("").await;
    let mut c = fx.connect().await;
    c.reply().await;
    c.send(b"NOOP\nNOOP\r\n").await;
    assert_eq!(c.reply().await.code.get(), 500);
    let long = format!("NOOP {}", "y".repeat(600));
    assert_eq!(c.cmd(&long).await.code.get(), 500);
    assert_eq!(c.cmd("NOOP").await.code.get(), 250, "still in step");
}

#[tokio::test]
async fn utf8_addresses_need_smtputf8() {
    let fx = start("").await;
    let mut c = fx.connect().await;
    c.reply().await;
    c.cmd("EHLO c.test").await;
    // RFC 6531 §3.5: 550 at MAIL (553 is for RCPT), with X.6.7.
    let r = c.cmd("MAIL FROM:<jos\u{e9}@c.test>").await;
    assert_eq!(
        (r.code.get(), r.enhanced.map(|e| e.to_string())),
        (550, Some("5.6.7".into()))
    );
    assert_eq!(
        c.cmd("MAIL FROM:<jos\u{e9}@c.test> SMTPUTF8")
            .await
            .code
            .get(),
        250
    );
    assert_eq!(
        c.cmd("RCPT TO:<\u{7528}\u{6237}@\u{4f8b}\u{5b50}.test>")
            .await
            .code
            .get(),
        250
    );
    c.cmd("DATA").await;
    assert_eq!(
        c.cmd("Subject: caf\u{e9}\r\n\r\n8-bit body \u{e9}\r\n.")
            .await
            .code
            .get(),
        250
    );
    let text = String::from_utf8(fx.maildir_messages().remove(0)).expect("utf-8 kept");
    assert!(text.contains("with UTF8SMTP"), "{text}");
    assert!(text.ends_with("8-bit body \u{e9}\r\n"));
}

#[tokio::test]
async fn dsn_parameters_are_accepted_only_when_advertised() {
    let fx = start("").await;
    let mut c = fx.connect().await;
    c.reply().await;
    c.cmd("EHLO c.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:<a@c.test> RET=HDRS ENVID=QQ314159")
            .await
            .code
            .get(),
        250
    );
    assert_eq!(
        c.cmd("RCPT TO:<b@mx.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@mx.test")
            .await
            .code
            .get(),
        250
    );
    assert_eq!(
        c.cmd("RCPT TO:<c@mx.test> NOTIFY=NEVER,DELAY")
            .await
            .code
            .get(),
        501
    );
    assert_eq!(
        c.cmd("RCPT TO:<c@mx.test> ORCPT=rfc822;a+0D+0Ab")
            .await
            .code
            .get(),
        501,
        "encoded CR/LF"
    );
    let off = start("extensions: {dsn: false}\n").await;
    let mut c = off.connect().await;
    c.reply().await;
    let ehlo = c.cmd("EHLO c.test").await;
    assert!(!ehlo.lines.iter().any(|l| l == "DSN"));
    assert_eq!(c.cmd("MAIL FROM:<a@c.test> RET=HDRS").await.code.get(), 555);
}

#[tokio::test]
async fn vrfy_expn_help_etrn() {
    let fx = start("recipients: [alice@mx.test]\nverify: cannot-verify\n").await;
    let mut c = fx.connect().await;
    c.reply().await;
    c.cmd("EHLO c.test").await;
    assert_eq!(
        c.cmd("VRFY alice@mx.test").await.code.get(),
        252,
        "cannot verify"
    );
    assert_eq!(c.cmd("HELP").await.code.get(), 214);
    let etrn = c.cmd("ETRN mx.test").await;
    assert_eq!(etrn.code.get(), 251, "RFC 1985: no messages waiting");
    let answer = start("recipients: [alice@mx.test]\nverify: answer\n").await;
    let mut c = answer.connect().await;
    c.reply().await;
    assert_eq!(c.cmd("VRFY <alice@mx.test>").await.code.get(), 250);
    assert_eq!(c.cmd("VRFY <eve@mx.test>").await.code.get(), 550);
    assert_eq!(c.cmd("EXPN staff").await.code.get(), 550);
    let off = start("verify: disabled\nextensions: {etrn: false}\n").await;
    let mut c = off.connect().await;
    c.reply().await;
    assert_eq!(c.cmd("VRFY alice").await.code.get(), 502);
    assert_eq!(c.cmd("ETRN mx.test").await.code.get(), 502);
}

#[tokio::test]
async fn auth_login_over_tls() {
    let fx = start("users: {alice: s3cret}\nrequire-auth: true\n").await;
    let mut c = fx.connect().await;
    c.reply().await;
    c.cmd("EHLO c.test").await;
    c.starttls().await;
    c.cmd("EHLO c.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:<a@c.test>").await.code.get(),
        530,
        "submission needs AUTH"
    );
    assert_eq!(c.cmd("AUTH LOGIN").await.code.get(), 334);
    assert_eq!(c.cmd(&base64::encode(b"alice")).await.code.get(), 334);
    assert_eq!(c.cmd(&base64::encode(b"s3cret")).await.code.get(), 235);
    assert_eq!(c.cmd("MAIL FROM:<a@c.test>").await.code.get(), 250);
}

#[tokio::test]
async fn require_tls_refuses_mail_in_clear() {
    let fx = start("require-tls: true\nusers: {alice: s3cret}\nauth-without-tls: true\n").await;
    let mut c = fx.connect().await;
    c.reply().await;
    assert_eq!(c.cmd("EHLO c.test").await.code.get(), 250);
    assert_eq!(c.cmd("NOOP").await.code.get(), 250);
    // RFC 3207 §4: 530 to every command but NOOP, EHLO, STARTTLS and QUIT.
    for line in [
        "MAIL FROM:<a@c.test>",
        "RCPT TO:<b@c.test>",
        "DATA",
        "RSET",
        "VRFY alice",
        "HELP",
        "HELO c.test",
        "AUTH PLAIN AGFsaWNlAHMzY3JldA==",
    ] {
        let r = c.cmd(line).await;
        assert_eq!(r.code.get(), 530, "{line}: {r:?}");
    }
    // A refused BDAT's chunk is data, never a command.
    c.send(b"BDAT 6\r\nNOOP\r\n").await;
    assert_eq!(c.reply().await.code.get(), 530);
    assert_eq!(c.cmd("NOOP").await.code.get(), 250);
    assert_eq!(c.drain(Duration::from_millis(200)).await, "");
    c.starttls().await;
    c.cmd("EHLO c.test").await;
    assert_eq!(c.cmd("MAIL FROM:<a@c.test>").await.code.get(), 250);
}

#[tokio::test]
async fn a_client_that_never_handshakes_is_dropped() {
    let fx = start("timeouts: {command-secs: 1}\n").await;
    let mut c = fx.connect().await;
    c.reply().await;
    c.cmd("EHLO c.test").await;
    assert_eq!(c.cmd("STARTTLS").await.code.get(), 220);
    // No ClientHello: the handshake must time out rather than hold the slot.
    assert!(c.closed_within(Duration::from_secs(3)).await);
}
