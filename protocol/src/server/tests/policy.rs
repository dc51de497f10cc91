//! The choices RFC 5321 and its extensions leave to a server (the reference server's
//! variants set them): each one behaves as named, and only when asked.

use std::time::Duration;

use super::{Harness, config};
use crate::server::{AuthMechanism, BareLineEnds, ErrorLimits, ServerConfig};

fn with(f: impl FnOnce(&mut ServerConfig)) -> Harness {
    let mut c = config();
    f(&mut c);
    Harness::new(c)
}

#[test]
fn bare_line_ends_can_close_at_once() {
    let mut h = with(|c| c.bare_line_ends = BareLineEnds::Close);
    h.send("EHLO c.test\r\n");
    assert_eq!(h.codes("NOOP\n"), vec![421]);
    assert!(h.closed, "closed after the 421");
    // In the content: refused where the bare LF is seen, before any end.
    let mut h = with(|c| c.bare_line_ends = BareLineEnds::Close);
    h.send("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\nDATA\r\n");
    assert_eq!(
        h.codes("Subject: x\r\n\r\nbody\n.\nMAIL FROM:<s@b.test>\r\n"),
        vec![421]
    );
    assert!(h.closed && h.stored.is_empty());
}

#[test]
fn bare_lf_in_content_can_be_refused_with_550() {
    let mut h = with(|c| c.bare_line_ends = BareLineEnds::RefuseWith550);
    h.send("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\nDATA\r\n");
    assert_eq!(h.codes("x\ny\r\n.\r\n"), vec![550]);
    assert_eq!(h.codes("NOOP\r\n"), vec![250], "the session goes on");
    assert!(!h.closed && h.stored.is_empty());
}

#[test]
fn size_refusal_code_and_bare_size_keyword() {
    let mut h = with(|c| {
        c.max_message_size = 10;
        c.size_refusal = crate::reply::ReplyCode::MAILBOX_UNAVAILABLE;
        c.size_number = false;
    });
    let ehlo = h.send("EHLO c.test\r\n");
    assert!(ehlo.contains("250-SIZE\r\n"), "{ehlo}");
    h.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\nDATA\r\n");
    assert_eq!(h.codes("0123456789abcdef\r\n.\r\n"), vec![550]);
}

#[test]
fn auth_offers_the_configured_mechanisms_only() {
    let mut users = std::collections::BTreeMap::new();
    users.insert("tim".to_owned(), "tanstaaftanstaaf".to_owned());
    let mut h = with(|c| {
        c.users = users;
        c.auth_without_tls = true;
        c.auth_mechanisms = vec![AuthMechanism::CramMd5];
    });
    let ehlo = h.send("EHLO c.test\r\n");
    assert!(ehlo.contains("250-AUTH CRAM-MD5\r\n"), "{ehlo}");
    assert_eq!(
        h.codes("AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"),
        vec![504]
    );
    let challenge = h.send("AUTH CRAM-MD5\r\n");
    assert!(challenge.starts_with("334 "), "{challenge}");
}

#[test]
fn cram_md5_checks_the_keyed_digest() {
    // RFC 2195 §2's example, with the challenge the example uses.
    let mut users = std::collections::BTreeMap::new();
    users.insert("tim".to_owned(), "tanstaaftanstaaf".to_owned());
    let mut h = with(|c| {
        c.users = users;
        c.auth_without_tls = true;
        c.auth_mechanisms = vec![AuthMechanism::CramMd5];
    });
    h.send("EHLO c.test\r\n");
    h.s.cram_challenge_for_test("<1896.697170952@postoffice.reston.mci.net>");
    let answer = crate::base64::encode(b"tim b913a602c7eda7a495b4e6e7334d3890");
    assert_eq!(h.codes(&format!("{answer}\r\n")), vec![235]);
    let mut h = with(|c| {
        c.users = [("tim".to_owned(), "wrong".to_owned())].into();
        c.auth_without_tls = true;
        c.auth_mechanisms = vec![AuthMechanism::CramMd5];
    });
    h.send("EHLO c.test\r\n");
    h.s.cram_challenge_for_test("<1896.697170952@postoffice.reston.mci.net>");
    assert_eq!(h.codes(&format!("{answer}\r\n")), vec![535]);
}

#[test]
fn literal_senders_can_be_refused() {
    let mut h = with(|c| c.refuse_literal_senders = true);
    h.send("EHLO c.test\r\n");
    assert_eq!(h.codes("MAIL FROM:<a@[192.0.2.1]>\r\n"), vec![550]);
    assert_eq!(h.codes("MAIL FROM:<a@b.test>\r\n"), vec![250]);
}

#[test]
fn error_limits_slow_down_then_hang_up() {
    let mut h = with(|c| {
        c.error_limits = Some(ErrorLimits {
            sleep_after: 3,
            sleep_ms: 1000,
            close_after: 10,
        })
    });
    for n in 1..=10 {
        assert_eq!(h.codes("BOGUS\r\n"), vec![500], "error {n}");
    }
    assert_eq!(h.paused, Duration::from_secs(7), "errors 4 to 10 wait");
    assert_eq!(h.codes("BOGUS\r\n"), vec![421]);
    assert!(h.closed);
}

#[test]
fn nonmail_commands_are_limited_and_mail_starts_over() {
    let mut h = with(|c| c.nonmail_limit = Some(3));
    assert_eq!(
        h.codes("EHLO c.test\r\nNOOP\r\nRSET\r\n"),
        vec![250, 250, 250]
    );
    assert_eq!(h.codes("MAIL FROM:<a@b.test>\r\n"), vec![250]);
    assert_eq!(h.codes("RSET\r\nNOOP\r\nNOOP\r\n"), vec![250, 250, 250]);
    assert_eq!(h.codes("VRFY bob\r\n"), vec![421]);
    assert!(h.closed);
}

#[test]
fn recipient_and_data_refusal_codes() {
    let mut h = with(|c| {
        c.unknown_recipient = crate::reply::ReplyCode::MAILBOX_BUSY;
        c.no_valid_recipients = crate::reply::ReplyCode::TRANSACTION_FAILED;
    });
    h.send("EHLO c.test\r\n");
    assert_eq!(
        h.codes("MAIL FROM:<a@b.test>\r\nRCPT TO:<eve@mx.test>\r\nDATA\r\n"),
        vec![250, 450, 554]
    );
}

#[test]
fn greeting_and_reply_texts() {
    let mut h = Harness::new(ServerConfig {
        terse_replies: true,
        ..config()
    });
    assert_eq!(h.send("NOOP\r\n"), "250 2.0.0\r\n");
    let c = ServerConfig {
        multiline_greeting: true,
        ..config()
    };
    let mut s =
        crate::server::ServerSession::new(std::sync::Arc::new(c), "[127.0.0.1]", 1, false, 0);
    let Some(crate::server::Output::Send(g)) = s.poll_output() else {
        panic!("a greeting")
    };
    let g = String::from_utf8_lossy(&g);
    assert!(
        g.starts_with("220-mx.test ") && g.contains("\r\n220 "),
        "{g}"
    );
}
