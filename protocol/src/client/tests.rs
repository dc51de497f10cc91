use super::*;
use crate::address::Mailbox;

fn mailbox(s: &str) -> Mailbox {
    Mailbox::parse(s).expect("test mailbox")
}

fn message(to: &[&str], content: &[u8]) -> Outgoing {
    Outgoing {
        from: ReversePath::Mailbox(mailbox("sender@client.test")),
        to: to
            .iter()
            .map(|t| ForwardPath::Mailbox(mailbox(t)))
            .collect(),
        content: content.to_vec(),
    }
}

fn config() -> ClientConfig {
    ClientConfig::new(Host::parse("client.test").expect("host"))
}

/// Feed `input` and return everything the session wants to send, plus whether it asked
/// for TLS or a close.
fn feed(s: &mut ClientSession, input: &str) -> String {
    s.handle_input(input.as_bytes());
    drain(s)
}

fn drain(s: &mut ClientSession) -> String {
    let mut sent = String::new();
    while let Some(o) = s.poll_output() {
        match o {
            Output::Send(b) => sent.push_str(&String::from_utf8_lossy(&b)),
            Output::StartTls => sent.push_str("<tls>"),
            Output::Close => sent.push_str("<close>"),
        }
    }
    sent
}

fn dispositions(s: &ClientSession) -> Vec<Disposition> {
    s.results().iter().map(|r| r.disposition).collect()
}

#[test]
fn plain_delivery_one_command_at_a_time() {
    let mut s = ClientSession::new(
        config(),
        message(&["a@x.test", "b@x.test"], b"Subject: t\n\n.hi\n"),
    );
    assert_eq!(s.waiting(), Waiting::Reply(Stage::Greeting));
    assert_eq!(feed(&mut s, "220 x.test ESMTP\r\n"), "EHLO client.test\r\n");
    assert_eq!(
        feed(&mut s, "250-x.test\r\n250 8BITMIME\r\n"),
        "MAIL FROM:<sender@client.test>\r\n"
    );
    assert_eq!(feed(&mut s, "250 ok\r\n"), "RCPT TO:<a@x.test>\r\n");
    assert_eq!(
        feed(&mut s, "550 5.1.1 no such user\r\n"),
        "RCPT TO:<b@x.test>\r\n"
    );
    assert_eq!(feed(&mut s, "250 ok\r\n"), "DATA\r\n");
    assert_eq!(s.waiting(), Waiting::Reply(Stage::Data));
    // CRLF line ends and a stuffed dot.
    assert_eq!(
        feed(&mut s, "354 go\r\n"),
        "Subject: t\r\n\r\n..hi\r\n.\r\n"
    );
    assert_eq!(feed(&mut s, "250 2.0.0 queued\r\n"), "QUIT\r\n");
    assert_eq!(feed(&mut s, "221 bye\r\n"), "<close>");
    assert!(s.is_closed());
    let r = s.results();
    assert_eq!(r[0].disposition, Disposition::Bounced);
    assert_eq!(r[0].stage, Stage::Rcpt);
    assert_eq!(r[1].disposition, Disposition::Delivered);
    assert!(r[1].reason.contains("250 2.0.0 queued"), "{}", r[1].reason);
}

#[test]
fn helo_fallback_on_500_and_502() {
    for refusal in ["500 what?\r\n", "502 not implemented\r\n"] {
        let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
        feed(&mut s, "220 old.test\r\n");
        assert_eq!(feed(&mut s, refusal), "HELO client.test\r\n");
        assert_eq!(
            feed(&mut s, "250 old.test\r\n"),
            "MAIL FROM:<sender@client.test>\r\n"
        );
    }
}

#[test]
fn greeting_refusals_defer_and_quit() {
    for greeting in ["554 no service\r\n", "450 busy\r\n"] {
        let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
        assert_eq!(feed(&mut s, greeting), "QUIT\r\n");
        assert_eq!(dispositions(&s), [Disposition::Deferred]);
        assert_eq!(s.results()[0].stage, Stage::Greeting);
    }
    // 421 closes without QUIT.
    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    assert_eq!(feed(&mut s, "421 go away\r\n"), "<close>");
    assert_eq!(dispositions(&s), [Disposition::Deferred]);
}

#[test]
fn pipelining_only_when_advertised() {
    let mut s = ClientSession::new(config(), message(&["a@x.test", "b@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    assert_eq!(
        feed(&mut s, "250-x\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"),
        "MAIL FROM:<sender@client.test> SIZE=3\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"
    );
    assert_eq!(feed(&mut s, "250 ok\r\n451 later\r\n"), "");
    assert_eq!(feed(&mut s, "250 ok\r\n354 go\r\n"), "x\r\n.\r\n");
    assert_eq!(feed(&mut s, "250 ok\r\n"), "QUIT\r\n");
    assert_eq!(
        dispositions(&s),
        [Disposition::Deferred, Disposition::Delivered]
    );
}

#[test]
fn pipelined_batch_with_every_recipient_refused() {
    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    feed(&mut s, "250-x\r\n250 PIPELINING\r\n");
    // The server wrongly takes DATA: the client ends the empty message and leaves.
    assert_eq!(feed(&mut s, "250 ok\r\n550 no\r\n354 go\r\n"), ".\r\n");
    assert_eq!(feed(&mut s, "554 no valid recipients\r\n"), "QUIT\r\n");
    assert_eq!(dispositions(&s), [Disposition::Bounced]);
    // The usual answer: 503 to DATA.
    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    feed(&mut s, "250-x\r\n250 PIPELINING\r\n");
    assert_eq!(
        feed(&mut s, "250 ok\r\n550 no\r\n503 no recipients\r\n"),
        "QUIT\r\n"
    );
    assert_eq!(dispositions(&s), [Disposition::Bounced]);
}

#[test]
fn no_data_without_an_accepted_recipient() {
    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    feed(&mut s, "250 x\r\n");
    feed(&mut s, "250 ok\r\n");
    assert_eq!(feed(&mut s, "450 mailbox busy\r\n"), "QUIT\r\n");
    assert_eq!(dispositions(&s), [Disposition::Deferred]);
}

#[test]
fn rcpt_552_is_temporary() {
    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    feed(&mut s, "250 x\r\n");
    feed(&mut s, "250 ok\r\n");
    feed(&mut s, "552 too many recipients\r\n");
    assert_eq!(dispositions(&s), [Disposition::Deferred]);
}

#[test]
fn mail_and_data_refusals_by_class() {
    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    feed(&mut s, "250 x\r\n");
    assert_eq!(feed(&mut s, "553 bad sender\r\n"), "QUIT\r\n");
    assert_eq!(dispositions(&s), [Disposition::Bounced]);

    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    feed(&mut s, "250 x\r\n");
    feed(&mut s, "250 ok\r\n");
    feed(&mut s, "250 ok\r\n");
    feed(&mut s, "354 go\r\n");
    assert_eq!(feed(&mut s, "451 4.3.0 disk full\r\n"), "QUIT\r\n");
    assert_eq!(dispositions(&s), [Disposition::Deferred]);
    assert_eq!(s.results()[0].stage, Stage::Content);
}

#[test]
fn size_limit_bounces_before_mail() {
    let mut s = ClientSession::new(config(), message(&["a@x.test"], &[b'x'; 100]));
    feed(&mut s, "220 x\r\n");
    assert_eq!(feed(&mut s, "250-x\r\n250 SIZE 10\r\n"), "QUIT\r\n");
    let r = &s.results()[0];
    assert_eq!(r.disposition, Disposition::Bounced);
    assert!(r.reason.contains("RFC 1870"), "{}", r.reason);
}

#[test]
fn eight_bit_content_declared_when_possible() {
    let mut s = ClientSession::new(config(), message(&["a@x.test"], "é\r\n".as_bytes()));
    feed(&mut s, "220 x\r\n");
    assert_eq!(
        feed(&mut s, "250-x\r\n250 8BITMIME\r\n"),
        "MAIL FROM:<sender@client.test> BODY=8BITMIME\r\n"
    );
}

#[test]
fn starttls_discards_injected_replies_and_says_ehlo_again() {
    let mut c = config();
    c.tls = TlsPolicy::Required;
    let mut s = ClientSession::new(c, message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    assert_eq!(
        feed(&mut s, "250-x\r\n250-STARTTLS\r\n250 PIPELINING\r\n"),
        "STARTTLS\r\n"
    );
    // The injection: a fake post-TLS EHLO answer in the same segment as the 220.
    assert_eq!(
        feed(&mut s, "220 go ahead\r\n250-x\r\n250 AUTH PLAIN\r\n"),
        "<tls>"
    );
    assert_eq!(s.waiting(), Waiting::Driver);
    assert_eq!(
        s.findings(),
        [ClientFinding::InjectedAfterStartTls { octets: 23 }]
    );
    s.handle_tls_established();
    assert_eq!(drain(&mut s), "EHLO client.test\r\n");
    assert!(s.is_tls());
    // Pre-TLS capabilities are gone: without PIPELINING now, MAIL goes alone.
    assert_eq!(
        feed(&mut s, "250 x\r\n"),
        "MAIL FROM:<sender@client.test>\r\n"
    );
}

#[test]
fn a_requiretls_message_goes_only_to_a_server_that_offers_it_over_tls() {
    let mut c = config();
    c.requiretls = true;
    let tls_session = |c: &ClientConfig, after_tls: &str| {
        let mut s = ClientSession::new(c.clone(), message(&["a@x.test"], b"x\r\n"));
        feed(&mut s, "220 x\r\n");
        assert_eq!(
            feed(&mut s, "250-x\r\n250-REQUIRETLS\r\n250 STARTTLS\r\n"),
            "STARTTLS\r\n"
        );
        assert_eq!(feed(&mut s, "220 go ahead\r\n"), "<tls>");
        s.handle_tls_established();
        assert_eq!(drain(&mut s), "EHLO client.test\r\n");
        let sent = feed(&mut s, after_tls);
        (s, sent)
    };
    // RFC 8689 §4.2.1: offered over TLS, MAIL carries the parameter.
    let (_, sent) = tls_session(&c, "250-x\r\n250 requiretls\r\n");
    assert_eq!(sent, "MAIL FROM:<sender@client.test> REQUIRETLS\r\n");
    // Not offered once TLS is up (before it does not count): nothing is sent.
    let (s, sent) = tls_session(&c, "250 x\r\n");
    assert_eq!(sent, "QUIT\r\n");
    assert_eq!(dispositions(&s), [Disposition::Deferred]);
    // No STARTTLS at all: no TLS, no message, whatever the TLS policy said.
    let mut s = ClientSession::new(c, message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    assert_eq!(feed(&mut s, "250-x\r\n250 REQUIRETLS\r\n"), "QUIT\r\n");
    assert_eq!(dispositions(&s), [Disposition::Deferred]);
}

#[test]
fn required_tls_never_falls_back_to_plaintext() {
    let mut c = config();
    c.tls = TlsPolicy::Required;
    c.auth = Some(Credentials {
        user: "u".into(),
        password: "p".into(),
    });
    // Not offered.
    let mut s = ClientSession::new(c.clone(), message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    assert_eq!(feed(&mut s, "250-x\r\n250 AUTH PLAIN\r\n"), "QUIT\r\n");
    assert_eq!(dispositions(&s), [Disposition::Deferred]);
    // Offered, then refused with 454 or 502.
    for refusal in ["454 TLS not available\r\n", "502 no\r\n"] {
        let mut s = ClientSession::new(c.clone(), message(&["a@x.test"], b"x\r\n"));
        feed(&mut s, "220 x\r\n");
        feed(&mut s, "250-x\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n");
        assert_eq!(feed(&mut s, refusal), "QUIT\r\n");
        assert_eq!(dispositions(&s), [Disposition::Deferred]);
    }
}

#[test]
fn opportunistic_tls_goes_on_in_plaintext_but_keeps_the_password() {
    let mut c = config();
    c.auth = Some(Credentials {
        user: "u".into(),
        password: "p".into(),
    });
    let mut s = ClientSession::new(c, message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    feed(&mut s, "250-x\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n");
    let sent = feed(&mut s, "454 later\r\n");
    assert_eq!(sent, "QUIT\r\n", "no AUTH in the clear");
}

#[test]
fn auth_plain_and_login_after_tls() {
    let mut c = config();
    c.auth = Some(Credentials {
        user: "u".into(),
        password: "p".into(),
    });
    let mut s = ClientSession::new(c.clone(), message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    feed(&mut s, "250-x\r\n250 STARTTLS\r\n");
    feed(&mut s, "220 go\r\n");
    s.handle_tls_established();
    drain(&mut s);
    assert_eq!(
        feed(&mut s, "250-x\r\n250 AUTH LOGIN PLAIN\r\n"),
        "AUTH PLAIN AHUAcA==\r\n"
    );
    assert_eq!(
        feed(&mut s, "235 ok\r\n"),
        "MAIL FROM:<sender@client.test>\r\n"
    );

    let mut s = ClientSession::new(c, message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    feed(&mut s, "250-x\r\n250 STARTTLS\r\n");
    feed(&mut s, "220 go\r\n");
    s.handle_tls_established();
    drain(&mut s);
    assert_eq!(
        feed(&mut s, "250-x\r\n250 AUTH LOGIN\r\n"),
        "AUTH LOGIN\r\n"
    );
    assert_eq!(feed(&mut s, "334 VXNlcm5hbWU6\r\n"), "dQ==\r\n");
    assert_eq!(feed(&mut s, "334 UGFzc3dvcmQ6\r\n"), "cA==\r\n");
    assert_eq!(feed(&mut s, "535 5.7.8 bad\r\n"), "QUIT\r\n");
    assert_eq!(dispositions(&s), [Disposition::Deferred]);
}

#[test]
fn bdat_when_chunking_is_offered_and_wanted() {
    let mut c = config();
    c.chunking = true;
    let mut s = ClientSession::new(c, message(&["a@x.test"], b".x\r\n"));
    feed(&mut s, "220 x\r\n");
    assert_eq!(
        feed(&mut s, "250-x\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
        "MAIL FROM:<sender@client.test>\r\nRCPT TO:<a@x.test>\r\n"
    );
    // No stuffing in BDAT.
    assert_eq!(
        feed(&mut s, "250 ok\r\n250 ok\r\n"),
        "BDAT 4 LAST\r\n.x\r\n"
    );
    assert_eq!(feed(&mut s, "250 ok\r\n"), "QUIT\r\n");
    assert_eq!(dispositions(&s), [Disposition::Delivered]);
}

#[test]
fn eof_timeout_and_garbage_defer() {
    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    s.handle_eof();
    assert_eq!(s.results()[0].stage, Stage::Ehlo);
    assert_eq!(dispositions(&s), [Disposition::Deferred]);

    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    s.handle_timeout();
    assert_eq!(drain(&mut s), "<close>");
    assert!(s.results()[0].reason.contains("timed out"));

    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    assert_eq!(feed(&mut s, "hello there\r\n"), "<close>");
    assert!(matches!(s.findings(), [ClientFinding::Malformed { .. }]));
    assert_eq!(dispositions(&s), [Disposition::Deferred]);
}

#[test]
fn a_delivered_message_stays_delivered_when_quit_goes_unanswered() {
    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    for reply in [
        "220 x\r\n",
        "250 x\r\n",
        "250 ok\r\n",
        "250 ok\r\n",
        "354 go\r\n",
        "250 ok\r\n",
    ] {
        feed(&mut s, reply);
    }
    s.handle_eof();
    assert_eq!(dispositions(&s), [Disposition::Delivered]);
}

#[test]
fn unexpected_codes_are_noted() {
    let mut s = ClientSession::new(config(), message(&["a@x.test"], b"x\r\n"));
    feed(&mut s, "220 x\r\n");
    feed(&mut s, "250 x\r\n");
    feed(&mut s, "354 odd\r\n");
    assert!(s.findings().contains(&ClientFinding::Unexpected {
        stage: Stage::Mail,
        code: 354
    }));
}
