//! The session driven in memory: replies, durability, STARTTLS, AUTH, BDAT, limits.

use std::sync::Arc;

use super::*;

mod policy;

struct Harness {
    s: ServerSession,
    stored: Vec<Message>,
    tls_requests: usize,
    closed: bool,
    /// Answer for the next Deliver.
    store_ok: bool,
    /// Pauses the session asked for.
    paused: std::time::Duration,
}

impl Harness {
    fn new(config: ServerConfig) -> Self {
        Self::with_tls(config, true)
    }

    fn with_tls(config: ServerConfig, tls: bool) -> Self {
        let mut h = Self {
            s: ServerSession::new(Arc::new(config), "[127.0.0.1]", 7, tls, 0),
            stored: Vec::new(),
            tls_requests: 0,
            closed: false,
            store_ok: true,
            paused: std::time::Duration::ZERO,
        };
        let greeting = h.drain();
        assert!(greeting.starts_with("220 "), "{greeting}");
        h
    }

    /// Send bytes; return everything the server wrote in answer.
    fn send(&mut self, bytes: &str) -> String {
        self.s.handle_input(bytes.as_bytes(), 1_795_986_000);
        self.drain()
    }

    fn drain(&mut self) -> String {
        let mut out = Vec::new();
        while let Some(o) = self.s.poll_output() {
            match o {
                Output::Send(b) => out.extend_from_slice(&b),
                Output::Deliver(m) => {
                    self.stored.push(*m);
                    let r = if self.store_ok {
                        Ok(())
                    } else {
                        Err("disk full".into())
                    };
                    if !self.store_ok {
                        self.stored.pop();
                    }
                    self.s.handle_stored(r);
                }
                Output::StartTls => self.tls_requests += 1,
                Output::Close => self.closed = true,
                Output::Pause(d) => self.paused += d,
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn codes(&mut self, bytes: &str) -> Vec<u16> {
        let text = self.send(bytes);
        let mut p = crate::reply::ReplyParser::new();
        p.push(text.as_bytes());
        std::iter::from_fn(|| p.next_reply())
            .map(|r| r.map(|r| r.reply.code.get()).unwrap_or(0))
            .collect()
    }
}

/// The credentials AUTH tests log in with: "user", "pass".
fn one_user() -> std::collections::BTreeMap<String, String> {
    [("user".to_owned(), "pass".to_owned())].into()
}

fn config() -> ServerConfig {
    ServerConfig {
        hostname: "mx.test".into(),
        recipients: Some(vec!["alice@mx.test".into(), "bob@mx.test".into()]),
        ..ServerConfig::default()
    }
}

#[test]
fn a_whole_transaction_is_stored_once_with_a_received_line() {
    let mut h = Harness::new(config());
    let ehlo = h.send("EHLO client.test\r\n");
    assert!(
        ehlo.starts_with("250-mx.test greets client.test\r\n"),
        "{ehlo}"
    );
    assert!(ehlo.contains("250-PIPELINING\r\n") && ehlo.contains("STARTTLS"));
    assert!(!ehlo.contains("AUTH"), "no users, no AUTH");
    assert_eq!(
        h.codes("MAIL FROM:<a@client.test>\r\nRCPT TO:<alice@mx.test>\r\nRCPT TO:<eve@mx.test>\r\nDATA\r\n"),
        vec![250, 250, 550, 354]
    );
    assert!(h.stored.is_empty());
    let r = h.send("Subject: hi\r\n\r\n..dot\r\n.\r\n");
    assert!(r.starts_with("250 2.0.0 Ok: queued as 7-1"), "{r}");
    assert_eq!(h.stored.len(), 1);
    let m = &h.stored[0];
    let text = String::from_utf8_lossy(&m.content);
    assert!(text.starts_with("Received: from client.test ([127.0.0.1])\r\n\tby mx.test with ESMTP id 7-1\r\n\tfor <alice@mx.test>;\r\n\tSun, 29 Nov 2026 21:00:00 +0000\r\n"), "{text}");
    assert!(text.ends_with("Subject: hi\r\n\r\n.dot\r\n"));
    assert_eq!(m.envelope.recipients.len(), 1);
    assert_eq!(h.codes("QUIT\r\n"), vec![221]);
    assert!(h.closed);
}

#[test]
fn out_of_sequence_commands_get_503_and_change_nothing() {
    let mut h = Harness::new(config());
    assert_eq!(h.codes("MAIL FROM:<a@b.test>\r\n"), vec![503]);
    h.send("EHLO c.test\r\n");
    assert_eq!(
        h.codes("RCPT TO:<alice@mx.test>\r\nDATA\r\n"),
        vec![503, 503]
    );
    assert_eq!(
        h.codes("MAIL FROM:<a@b.test>\r\nMAIL FROM:<x@b.test>\r\nDATA\r\n"),
        vec![250, 503, 503]
    );
    assert_eq!(h.codes("RCPT TO:<bob@mx.test>\r\nDATA\r\n"), vec![250, 354]);
    h.send(".\r\n");
    assert_eq!(h.stored.len(), 1);
    assert_eq!(
        h.stored[0].envelope.from.to_string(),
        "<a@b.test>",
        "the nested MAIL changed nothing"
    );
}

#[test]
fn rset_and_ehlo_reset_the_transaction() {
    let mut h = Harness::new(config());
    h.send("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\n");
    assert_eq!(h.codes("RSET\r\nDATA\r\n"), vec![250, 503]);
    h.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\n");
    assert_eq!(h.codes("EHLO c.test\r\n"), vec![250]);
    assert_eq!(h.codes("DATA\r\n"), vec![503]);
}

#[test]
fn postmaster_and_null_sender_are_accepted() {
    let mut h = Harness::new(config());
    h.send("EHLO c.test\r\n");
    assert_eq!(
        h.codes("MAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\nRCPT TO:<postmaster@mx.test>\r\n"),
        vec![250, 250, 250]
    );
}

#[test]
fn bare_cr_lf_and_long_lines_are_refused() {
    let mut h = Harness::new(config());
    assert_eq!(h.codes("NOOP\nNOOP\r\n"), vec![500]);
    assert_eq!(h.codes("NOOP\rx\r\n"), vec![500]);
    let long = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(600));
    assert_eq!(h.codes(&long), vec![500, 250]);
    h.send("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\nDATA\r\n");
    assert_eq!(h.codes("a\nb\r\n.\r\n"), vec![554]);
    assert!(h.stored.is_empty());
}

#[test]
fn non_standard_end_of_data_is_content() {
    let mut h = Harness::new(config());
    h.send("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\nDATA\r\n");
    // A smuggling attempt: the server must not answer before the real end.
    assert_eq!(h.send("x\n.\nMAIL FROM:<evil@b.test>\r\n"), "");
    assert_eq!(h.codes(".\r\n"), vec![554], "bare LF refused at the end");
    assert!(h.stored.is_empty());
}

#[test]
fn size_is_checked_at_mail_and_at_end_of_data() {
    let mut h = Harness::new(ServerConfig {
        max_message_size: 100,
        ..config()
    });
    let ehlo = h.send("EHLO c.test\r\n");
    assert!(ehlo.contains("250-SIZE 100\r\n"));
    assert_eq!(h.codes("MAIL FROM:<a@b.test> SIZE=101\r\n"), vec![552]);
    h.send("MAIL FROM:<a@b.test> SIZE=10\r\nRCPT TO:<bob@mx.test>\r\nDATA\r\n");
    let big = format!("{}\r\n.\r\n", "y".repeat(200));
    assert_eq!(h.codes(&big), vec![552]);
    assert!(h.stored.is_empty());
}

#[test]
fn recipient_limit_gives_452() {
    let mut h = Harness::new(ServerConfig {
        recipients: None,
        ..config()
    });
    h.send("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\n");
    let rcpts: String = (0..101)
        .map(|i| format!("RCPT TO:<u{i}@mx.test>\r\n"))
        .collect();
    let codes = h.codes(&rcpts);
    assert_eq!(codes.iter().filter(|&&c| c == 250).count(), 100);
    assert_eq!(codes.last(), Some(&452));
}

#[test]
fn a_failed_store_is_451_and_nothing_is_kept() {
    let mut h = Harness::new(config());
    h.store_ok = false;
    h.send("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\nDATA\r\n");
    assert_eq!(h.codes("x\r\n.\r\n"), vec![451]);
    assert!(h.stored.is_empty());
}

#[test]
fn disconnect_mid_data_stores_nothing() {
    let mut h = Harness::new(config());
    h.send("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\nDATA\r\nhalf a message\r\n");
    h.s.handle_eof();
    assert_eq!(h.drain(), "");
    assert!(h.stored.is_empty());
}

#[test]
fn starttls_discards_pipelined_plaintext_and_resets() {
    let mut h = Harness::new(config());
    h.send("EHLO c.test\r\n");
    let r = h.send("STARTTLS\r\nMAIL FROM:<injected@b.test>\r\n");
    assert!(r.starts_with("220 2.0.0"), "{r}");
    assert_eq!(h.tls_requests, 1);
    h.s.handle_tls_established();
    assert_eq!(h.drain(), "", "the injected command was dropped");
    assert_eq!(
        h.codes("MAIL FROM:<a@b.test>\r\n"),
        vec![503],
        "EHLO needed again"
    );
    let ehlo = h.send("EHLO c.test\r\n");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert_eq!(h.codes("STARTTLS\r\n"), vec![503]);
}

#[test]
fn the_ehlo_reply_is_whole_and_reads_back_as_offered() {
    // The server writes its EHLO lines without going through `EhloResponse`: the
    // whole reply is pinned here, and what a client reads from it must be clean.
    let users = one_user();
    let mut h = Harness::new(ServerConfig {
        users,
        auth_without_tls: true,
        max_message_size: 1234,
        ..config()
    });
    let ehlo = h.send("EHLO c.test\r\n");
    assert_eq!(
        ehlo,
        "250-mx.test greets c.test\r\n250-SIZE 1234\r\n250-PIPELINING\r\n250-8BITMIME\r\n\
         250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-BINARYMIME\r\n\
         250-DSN\r\n250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 HELP\r\n"
    );
    let reply = crate::Reply::parse(ehlo.as_bytes()).expect("reply").reply;
    let (parsed, findings) = crate::ehlo::EhloResponse::from_reply(&reply);
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(parsed.domain, "mx.test");
    assert_eq!(parsed.to_reply(), reply, "formats back the same");
    // Other shapes: every one reads back clean and formats back the same.
    let mut off = config();
    off.extensions = crate::server::Extensions {
        pipelining: false,
        eight_bit_mime: false,
        smtputf8: false,
        enhanced_status_codes: false,
        chunking: false,
        binary_mime: true,
        dsn: false,
        etrn: false,
        starttls: false,
    };
    off.size_number = false;
    let mut chunking_alone = config();
    chunking_alone.extensions.binary_mime = false;
    for (what, config, has, lacks) in [
        ("all off", off, "250-SIZE\r\n", "STARTTLS"),
        (
            "CHUNKING alone",
            chunking_alone,
            "250-CHUNKING\r\n",
            "BINARYMIME",
        ),
        ("no users", config(), "250-STARTTLS\r\n", "AUTH"),
    ] {
        let mut h = Harness::new(config);
        let ehlo = h.send("EHLO c.test\r\n");
        assert!(
            ehlo.contains(has) && !ehlo.contains(lacks),
            "{what}: {ehlo}"
        );
        let reply = crate::Reply::parse(ehlo.as_bytes()).expect("reply").reply;
        let (parsed, findings) = crate::ehlo::EhloResponse::from_reply(&reply);
        assert!(findings.is_empty(), "{what}: {findings:?}");
        assert_eq!(parsed.to_reply(), reply, "{what}");
    }
}

#[test]
fn auth_needs_tls_and_checks_credentials() {
    let users = one_user();
    let mut h = Harness::new(ServerConfig { users, ..config() });
    let ehlo = h.send("EHLO c.test\r\n");
    assert!(!ehlo.contains("AUTH"));
    assert_eq!(h.codes("AUTH PLAIN AHVzZXIAcGFzcw==\r\n"), vec![538]);
    h.send("STARTTLS\r\n");
    h.s.handle_tls_established();
    let ehlo = h.send("EHLO c.test\r\n");
    assert!(ehlo.contains("250-AUTH PLAIN LOGIN\r\n"), "{ehlo}");
    assert_eq!(h.codes("AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n"), vec![535]);
    // LOGIN, step by step: "user", "pass".
    assert_eq!(h.codes("AUTH LOGIN\r\n"), vec![334]);
    assert_eq!(h.codes("dXNlcg==\r\n"), vec![334]);
    assert_eq!(h.codes("cGFzcw==\r\n"), vec![235]);
    assert_eq!(
        h.codes("AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
        vec![503],
        "once per session"
    );
    h.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\nDATA\r\nx\r\n.\r\n");
    let text = String::from_utf8_lossy(&h.stored[0].content).into_owned();
    assert!(text.contains("with ESMTPSA"), "{text}");
    assert_eq!(h.stored[0].envelope.user.as_deref(), Some("user"));
}

#[test]
fn bdat_chunks_are_read_even_when_refused() {
    let mut h = Harness::new(config());
    h.send("EHLO c.test\r\n");
    assert_eq!(h.codes("BDAT 5\r\nhello"), vec![503]);
    assert_eq!(
        h.codes("NOOP\r\n"),
        vec![250],
        "the chunk did not leak into commands"
    );
    h.send("MAIL FROM:<a@b.test> BODY=BINARYMIME\r\nRCPT TO:<bob@mx.test>\r\n");
    assert_eq!(h.codes("DATA\r\n"), vec![503], "BINARYMIME needs BDAT");
    assert_eq!(h.codes("BDAT 4\r\nab\r\n"), vec![250]);
    assert_eq!(h.codes("BDAT 3 LAST\r\n\0\n."), vec![250]);
    assert_eq!(h.stored.len(), 1);
    assert!(h.stored[0].content.ends_with(b"ab\r\n\0\n."));
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let mut h = Harness::new(config());
    let codes = h.codes(
        "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\nbody\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(codes, vec![250, 250, 250, 550, 354, 250, 221]);
}

#[test]
fn replies_are_ascii_even_when_echoing_the_client() {
    let mut h = Harness::new(config());
    let r =
        h.send("EHLO c.test\r\nMAIL FROM:<a@b.test> SMTPUTF8\r\nRCPT TO:<ü@mx.test>\r\nNOOP ü\r\n");
    assert!(r.is_ascii(), "{r}");
    assert!(r.contains("550 5.1.1 <?@mx.test>: no such user"), "{r}");
    let long = format!("NOOP {}\r\n", "x".repeat(600));
    assert!(h.send(&long).contains("RFC 5321 section 4.5.3.1.4"));
}

#[test]
fn greeting_modes() {
    let cfg = ServerConfig {
        greeting: GreetingMode::DoesNotAcceptMail,
        ..config()
    };
    let mut s = ServerSession::new(Arc::new(cfg), "p", 1, false, 0);
    assert!(matches!(s.poll_output(), Some(Output::Send(b)) if b.starts_with(b"521 ")));
    s.handle_input(b"EHLO x.test\r\nQUIT\r\n", 0);
    let Some(Output::Send(b)) = s.poll_output() else {
        panic!("no reply")
    };
    assert!(b.starts_with(b"521 5.3.2") && b.windows(4).any(|w| w == b"221 "));
}

/// RFC 6531 §3.5: a non-ASCII address without SMTPUTF8 is 550 at MAIL, 553 at RCPT.
#[test]
fn parse_errors_get_500_501_550_553_and_555() {
    let mut h = Harness::new(config());
    h.send("EHLO c.test\r\n");
    assert_eq!(
        h.codes("FROB\r\nMAIL FROM: <a@b.test>\r\nMAIL FROM:<ü@b.test>\r\nMAIL FROM:<a@b.test> X-FOO=1\r\n"),
        vec![500, 501, 550, 555]
    );
    assert_eq!(
        h.codes("MAIL FROM:<a@b.test>\r\nRCPT TO:<ü@b.test>\r\n"),
        vec![250, 553]
    );
}

/// What one script produced: the server's bytes and the stored contents.
fn run_script(
    deviations: Deviations,
    script: &[&str],
    tls_after: Option<usize>,
) -> (String, Vec<Vec<u8>>) {
    let users = one_user();
    let mut h = Harness::new(ServerConfig {
        max_message_size: 100,
        deviations,
        users,
        ..config()
    });
    let mut out = String::new();
    for (i, step) in script.iter().enumerate() {
        out.push_str(&h.send(step));
        if tls_after == Some(i) {
            h.s.handle_tls_established();
            out.push_str("<TLS>");
            out.push_str(&h.drain());
        }
    }
    (out, h.stored.iter().map(|m| m.content.clone()).collect())
}

#[test]
fn each_deviation_misbehaves_exactly_as_named() {
    const TX: &str = "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\n";
    let long_noop = format!("NOOP {}\r\n", "x".repeat(600));
    let big = format!("DATA\r\n{}\r\n.\r\n", "y".repeat(200));
    let long_param = format!(
        "EHLO c.test\r\nMAIL FROM:<a@b.test> AUTH={}\r\nNOOP\r\n",
        "x".repeat(720)
    );
    type Check = fn(&str, &[Vec<u8>]) -> bool;
    let cases: Vec<(Deviation, Vec<&str>, Option<usize>, Check)> = vec![
        (
            Deviation::BareLfLineEnd,
            vec!["NOOP\nNOOP\r\n"],
            None,
            |o, _| o.matches("250 2.0.0 Ok").count() == 2,
        ),
        (
            Deviation::DataEndLfDotLf,
            vec![TX, "DATA\r\nx\n.\nNOOP\r\n"],
            None,
            |o, s| o.contains("queued") && s.len() == 1,
        ),
        (
            Deviation::KeepTransactionAfterRset,
            vec![TX, "RSET\r\nDATA\r\n"],
            None,
            |o, _| o.contains("354 "),
        ),
        (
            Deviation::RcptBeforeMail,
            vec!["EHLO c.test\r\nRCPT TO:<bob@mx.test>\r\n"],
            None,
            |o, _| o.ends_with("250 2.1.5 Recipient ok\r\n"),
        ),
        (
            Deviation::StartTlsKeepPlaintext,
            vec!["EHLO c.test\r\n", "STARTTLS\r\nNOOP\r\n"],
            Some(1),
            |o, _| o.ends_with("<TLS>250 2.0.0 Ok\r\n"),
        ),
        (
            Deviation::StartTlsAdvertisedAfterTls,
            vec!["EHLO c.test\r\n", "STARTTLS\r\n", "EHLO c.test\r\n"],
            Some(1),
            |o, _| {
                o.split("<TLS>")
                    .nth(1)
                    .is_some_and(|t| t.contains("STARTTLS"))
            },
        ),
        (
            Deviation::MultilineAllFinal,
            vec!["EHLO c.test\r\n"],
            None,
            |o, _| o.contains("250 PIPELINING\r\n"),
        ),
        (
            Deviation::EnhancedClassMismatch,
            vec!["NOOP\r\n"],
            None,
            |o, _| o.starts_with("250 5.0.0"),
        ),
        (
            Deviation::DataWithoutRecipients,
            vec!["EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nDATA\r\n"],
            None,
            |o, _| o.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"),
        ),
        (
            Deviation::Strip8thBit,
            vec![TX, "DATA\r\ncaf\u{e9}\r\n.\r\n"],
            None,
            |_, s| s.first().is_some_and(|m| m.ends_with(b"caf\x43\x29\r\n")),
        ),
        (
            Deviation::NoDotUnstuffing,
            vec![TX, "DATA\r\n..x\r\n.\r\n"],
            None,
            |_, s| s.first().is_some_and(|m| m.ends_with(b"\n..x\r\n")),
        ),
        (Deviation::DoubleReply, vec!["NOOP\r\n"], None, |o, _| {
            o == "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
        }),
        (Deviation::SizeNotEnforced, vec![TX, &big], None, |o, s| {
            o.contains("queued") && s.len() == 1
        }),
        (
            Deviation::TruncateLongLines,
            vec![&long_noop],
            None,
            |o, _| o.starts_with("250 "),
        ),
        (
            Deviation::UnqualifiedShellSender,
            vec!["EHLO c.test\r\nMAIL FROM:<;sleep 66;>\r\n"],
            None,
            |o, _| o.ends_with("250 2.1.0 Sender ok\r\n"),
        ),
        (
            Deviation::SegmentIsLine,
            vec!["EHLO c.test\r\n", "NO", "OP\r\n"],
            None,
            |o, _| o.contains("500 "),
        ),
        (
            Deviation::AuthInTransaction,
            vec![
                "EHLO c.test\r\nSTARTTLS\r\n",
                "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\n",
            ],
            Some(0),
            |o, _| o.contains("235 "),
        ),
        // A failed AUTH logs in: the retry with good credentials gets 503.
        (
            Deviation::FailedAuthLogsIn,
            vec![
                "EHLO c.test\r\nSTARTTLS\r\n",
                "EHLO c.test\r\nAUTH PLAIN AHVzZXIAd3Jvbmc=\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\n",
            ],
            Some(0),
            |o, _| o.contains("535 ") && o.contains("503 ") && !o.contains("235 "),
        ),
        (
            Deviation::LfRegimePerMessage,
            vec![TX, "DATA\r\nSubject: x\nbody\n.\nNOOP\r\n"],
            None,
            |o, s| o.contains("queued") && s.len() == 1,
        ),
        // The body sent with DATA is gone: no message, no reply after the 354.
        (
            Deviation::DataFlushesInput,
            vec![TX, "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n"],
            None,
            |o, s| o.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n") && s.is_empty(),
        ),
        (
            Deviation::BdatSize32Bit,
            vec![TX, "BDAT 4294967297 LAST\r\nXNOOP\r\n"],
            None,
            |o, s| o.contains("queued") && o.ends_with("250 2.0.0 Ok\r\n") && s.len() == 1,
        ),
        (
            Deviation::StripNulInData,
            vec![TX, "DATA\r\nx\r\n.\0\r\nNOOP\r\n"],
            None,
            |o, s| o.contains("queued") && o.ends_with("250 2.0.0 Ok\r\n") && s.len() == 1,
        ),
        // Planted: HELP with a long argument gets a reply of two codes.
        (
            Deviation::PlantedHelpMixedCodes,
            vec!["HELP aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"],
            None,
            |o, _| o.contains("211 see"),
        ),
        // Planted: the MAIL line gets no reply and NOOP is never read.
        (
            Deviation::PlantedLongParamClose,
            vec![&long_param],
            None,
            |o, _| !o.contains("250 2.0.0 Ok"),
        ),
        // Planted: neither MAIL nor NOOP is answered.
        (
            Deviation::PlantedSizeWrapHang,
            vec!["EHLO c.test\r\nMAIL FROM:<a@b.test> SIZE=8589934592\r\nNOOP\r\n"],
            None,
            |o, _| !o.contains("250 2.0.0 Ok"),
        ),
        // Planted: the NOOP after two RSETs is answered twice.
        (
            Deviation::PlantedDoubleReply,
            vec!["EHLO c.test\r\nRSET\r\nRSET\r\nNOOP\r\n"],
            None,
            |o, _| o.lines().filter(|l| l.starts_with("250 ")).count() > 4,
        ),
        // Planted: after a NOOP with 2^32, RCPT gets 451 (in any session after).
        (
            Deviation::PlantedNoopPoison,
            vec![
                "EHLO c.test\r\nNOOP SIZE=4294967296\r\n",
                "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\n",
            ],
            None,
            |o, _| o.contains("451 4.3.0"),
        ),
        // Planted: one 250 to the end of data, two messages stored.
        (
            Deviation::PlantedDoubleStore,
            vec![TX, "RCPT TO:<bob@mx.test>\r\nDATA\r\nx\r\n.\r\n"],
            None,
            |o, s| s.len() == 2 && o.matches("queued").count() == 1,
        ),
    ];
    // The watched ones show only in the server's process (a panic, a leak):
    // `planted_panic_only_when_on` below and harness/tests/fuzz_watch.rs. The driven
    // ones are the reference server's (its proxy.rs tests).
    assert_eq!(
        cases.len(),
        Deviation::ALL
            .iter()
            .filter(|d| !d.is_watched() && !d.is_driven())
            .count(),
        "every deviation has a case"
    );
    for (d, script, tls, check) in cases {
        let (normal, normal_stored) = run_script(Deviations::NONE, &script, tls);
        let (deviant, deviant_stored) = run_script(Deviations::NONE.with(d), &script, tls);
        assert!(
            !check(&normal, &normal_stored),
            "{d}: the reference server passes the deviant check:\n{normal}"
        );
        assert!(
            check(&deviant, &deviant_stored),
            "{d}: deviation not visible:\n{deviant}"
        );
    }
}

#[test]
fn planted_panic_only_when_on() {
    let script = ["EHLO c.test\r\nVRFY j\u{e9}r\u{f4}me\r\n"];
    let plain = std::panic::catch_unwind(|| run_script(Deviations::NONE, &script, None));
    assert!(plain.is_ok_and(|(o, _)| o.contains("\r\n25") || o.contains("\r\n5")));
    let on = Deviations::NONE.with(Deviation::PlantedVrfy8bitPanic);
    let deviant = std::panic::catch_unwind(|| run_script(on, &script, None));
    assert!(deviant.is_err(), "the planted panic did not happen");
}

#[test]
fn extension_parameters_lengthen_the_line_limit() {
    let mut h = Harness::new(config());
    h.send("EHLO c.test\r\nMAIL FROM:<a@b.test> SIZE=100 RET=HDRS ENVID=x\r\n");
    let orcpt = "o".repeat(470);
    let line = format!(
        "RCPT TO:<bob@mx.test> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;{orcpt}@mx.test\r\n"
    );
    assert!(line.len() > crate::limits::MAX_COMMAND_LINE);
    assert_eq!(
        h.codes(&line),
        vec![250],
        "RFC 3461 §4 allows 500 more octets"
    );
    let too_long = format!("RCPT TO:<bob@mx.test> X={}\r\n", "x".repeat(1100));
    assert_eq!(h.codes(&too_long), vec![500]);
}

#[test]
fn an_empty_sasl_challenge_keeps_its_space() {
    let users = one_user();
    let mut h = Harness::new(ServerConfig {
        users,
        auth_without_tls: true,
        ..config()
    });
    assert_eq!(h.codes("AUTH PLAIN\r\n"), vec![503], "EHLO first");
    h.send("EHLO c.test\r\n");
    assert_eq!(
        h.send("AUTH PLAIN\r\n"),
        "334 \r\n",
        "RFC 4954 §4: \"334\" SP"
    );
    assert_eq!(h.codes("AHVzZXIAcGFzcw==\r\n"), vec![235]);
}

#[test]
fn content_is_capped_even_without_a_size_limit() {
    let mut h = Harness::new(ServerConfig {
        max_message_size: 0,
        storage_cap: 50,
        ..config()
    });
    let ehlo = h.send("EHLO c.test\r\n");
    assert!(ehlo.contains("250-SIZE 0\r\n"), "{ehlo}");
    h.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\nDATA\r\n");
    let r = h.send(&format!("{}\r\n.\r\n", "z".repeat(100)));
    assert!(r.starts_with("552 5.2.3"), "{r}");
    assert!(h.stored.is_empty());
}

#[test]
fn refused_bdat_lines_still_swallow_their_chunk() {
    let mut h = Harness::new(config());
    h.send("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\n");
    // A trailing space makes the line non-strict; the 13 octets are still chunk data.
    assert_eq!(h.codes("BDAT 13 \r\nRCPT TO:<x@y>"), vec![501]);
    assert_eq!(h.codes("NOOP\r\n"), vec![250]);
    assert_eq!(h.codes("BDAT 3\r\nabc"), vec![250]);
    assert_eq!(
        h.codes("RCPT TO:<alice@mx.test>\r\n"),
        vec![503],
        "recipients come before chunks"
    );
    assert_eq!(h.codes("BDAT 0 LAST\r\n"), vec![250]);
    assert_eq!(h.stored[0].envelope.recipients.len(), 1);
}

#[test]
fn non_ascii_outside_addresses_is_a_syntax_error() {
    let mut h = Harness::new(config());
    h.send("EHLO c.test\r\n");
    assert_eq!(h.codes("NOOP \u{fc}\r\n"), vec![501]);
    assert_eq!(h.codes("RCPT TO:<\u{fc}@mx.test>\r\n"), vec![503]);
    h.send("MAIL FROM:<a@b.test>\r\n");
    assert_eq!(h.codes("RCPT TO:<\u{fc}@mx.test>\r\n"), vec![553]);
}

#[test]
fn postmaster_gets_a_path_in_the_received_line() {
    let mut h = Harness::new(config());
    h.send("EHLO c.test\r\nMAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\nDATA\r\nx\r\n.\r\n");
    let text = String::from_utf8_lossy(&h.stored[0].content).into_owned();
    assert!(text.contains("\tfor <postmaster@mx.test>;\r\n"), "{text}");
}
