//! Every named deviation, over a real socket: the same client script against the
//! reference server and against the server with that one deviation on. The check must
//! fail on the first and hold on the second, so each deviation shows exactly its
//! misbehaviour and none leaks into the default path.

mod common;

use std::time::Duration;

use smtp_protocol::server::Deviation;

/// Quiet period that ends the collection of replies after a step.
const QUIET: Duration = Duration::from_millis(500);

enum Step {
    Send(Vec<u8>),
    /// Send, then wait up to 5 s for an answer: the end of DATA, answered after fsync.
    SendAwait(Vec<u8>),
    Handshake,
}

fn send(s: &str) -> Step {
    Step::Send(s.as_bytes().to_vec())
}

fn send_await(s: &str) -> Step {
    Step::SendAwait(s.as_bytes().to_vec())
}

/// Run `script`; return everything the server sent (with `<TLS>` where the handshake
/// happened) and the stored messages.
async fn run(deviation: Option<Deviation>, script: &[Step]) -> (String, Vec<Vec<u8>>) {
    let yaml = format!(
        "max-message-size: 100\nusers: {{user: pass}}\nauth-without-tls: true\ndeviations: [{}]\n",
        deviation.map_or("", |d| d.name())
    );
    let fx = common::start(&yaml).await;
    let mut c = fx.connect().await;
    let mut out = c.drain(QUIET).await;
    for step in script {
        let first = match step {
            Step::Send(bytes) => {
                c.send(bytes).await;
                QUIET
            }
            Step::SendAwait(bytes) => {
                c.send(bytes).await;
                Duration::from_secs(5)
            }
            Step::Handshake => {
                c.handshake().await;
                out.push_str("<TLS>");
                QUIET
            }
        };
        out.push_str(&c.drain_after(first, QUIET).await);
    }
    (out, fx.maildir_messages())
}

type Check = fn(&str, &[Vec<u8>]) -> bool;

fn cases() -> Vec<(Deviation, Vec<Step>, Check)> {
    const TX: &str = "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\n";
    vec![
        (
            Deviation::BareLfLineEnd,
            vec![send("NOOP\nNOOP\r\n")],
            |o, _| o.matches("250 2.0.0 Ok").count() == 2,
        ),
        (
            Deviation::DataEndLfDotLf,
            vec![send(TX), send("DATA\r\n"), send_await("x\n.\nNOOP\r\n")],
            |o, s| o.contains("queued") && s.len() == 1,
        ),
        (
            Deviation::KeepTransactionAfterRset,
            vec![send(TX), send("RSET\r\nDATA\r\n")],
            |o, _| o.contains("354 "),
        ),
        (
            Deviation::RcptBeforeMail,
            vec![send("EHLO c.test\r\n"), send("RCPT TO:<bob@mx.test>\r\n")],
            |o, _| o.ends_with("250 2.1.5 Recipient ok\r\n"),
        ),
        (
            Deviation::StartTlsKeepPlaintext,
            vec![
                send("EHLO c.test\r\n"),
                send("STARTTLS\r\nNOOP\r\n"),
                Step::Handshake,
            ],
            |o, _| o.ends_with("<TLS>250 2.0.0 Ok\r\n"),
        ),
        (
            Deviation::StartTlsAdvertisedAfterTls,
            vec![
                send("EHLO c.test\r\n"),
                send("STARTTLS\r\n"),
                Step::Handshake,
                send("EHLO c.test\r\n"),
            ],
            |o, _| {
                o.split("<TLS>")
                    .nth(1)
                    .is_some_and(|t| t.contains("STARTTLS"))
            },
        ),
        (
            Deviation::MultilineAllFinal,
            vec![send("EHLO c.test\r\n")],
            |o, _| o.contains("250 PIPELINING\r\n"),
        ),
        (
            Deviation::EnhancedClassMismatch,
            vec![send("NOOP\r\n")],
            |o, _| o.contains("250 5.0.0"),
        ),
        (
            Deviation::DataWithoutRecipients,
            vec![
                send("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\n"),
                send("DATA\r\n"),
            ],
            |o, _| o.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"),
        ),
        (
            Deviation::Strip8thBit,
            vec![send(TX), send("DATA\r\n"), send_await("caf\u{e9}\r\n.\r\n")],
            |_, s| s.first().is_some_and(|m| m.ends_with(b"caf\x43\x29\r\n")),
        ),
        (
            Deviation::NoDotUnstuffing,
            vec![send(TX), send("DATA\r\n"), send_await("..x\r\n.\r\n")],
            |_, s| s.first().is_some_and(|m| m.ends_with(b"\n..x\r\n")),
        ),
        (Deviation::DoubleReply, vec![send("NOOP\r\n")], |o, _| {
            o.ends_with("250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n")
        }),
        (
            Deviation::SizeNotEnforced,
            vec![
                send(TX),
                send("DATA\r\n"),
                send_await(&format!("{}\r\n.\r\n", "y".repeat(200))),
            ],
            |o, s| o.contains("queued") && s.len() == 1,
        ),
        (
            Deviation::TruncateLongLines,
            vec![send(&format!("NOOP {}\r\n", "x".repeat(600)))],
            |o, _| o.ends_with("250 2.0.0 Ok\r\n"),
        ),
        (
            Deviation::UnqualifiedShellSender,
            vec![send("EHLO c.test\r\n"), send("MAIL FROM:<;sleep 66;>\r\n")],
            |o, _| o.ends_with("250 2.1.0 Sender ok\r\n"),
        ),
        (
            Deviation::SegmentIsLine,
            vec![send("EHLO c.test\r\n"), send("NO"), send("OP\r\n")],
            |o, _| o.contains("500 "),
        ),
        (
            Deviation::AuthInTransaction,
            vec![
                send("EHLO c.test\r\n"),
                send("MAIL FROM:<a@b.test>\r\n"),
                send("AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
            ],
            |o, _| o.contains("235 "),
        ),
        (
            Deviation::FailedAuthLogsIn,
            vec![
                send("EHLO c.test\r\n"),
                send("AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n"),
                send("AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
            ],
            |o, _| o.contains("535 ") && o.contains("503 ") && !o.contains("235 "),
        ),
        (
            Deviation::LfRegimePerMessage,
            vec![
                send(TX),
                send("DATA\r\n"),
                send_await("Subject: x\nbody\n.\nNOOP\r\n"),
            ],
            |o, s| o.contains("queued") && s.len() == 1,
        ),
        (
            Deviation::DataFlushesInput,
            vec![
                send(TX),
                send_await("DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n"),
            ],
            |o, s| o.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n") && s.is_empty(),
        ),
        (
            Deviation::BdatSize32Bit,
            vec![send(TX), send_await("BDAT 4294967297 LAST\r\nXNOOP\r\n")],
            |o, s| o.contains("queued") && o.ends_with("250 2.0.0 Ok\r\n") && s.len() == 1,
        ),
        (
            Deviation::StripNulInData,
            vec![
                send(TX),
                send("DATA\r\n"),
                send_await("x\r\n.\0\r\nNOOP\r\n"),
            ],
            |o, s| o.contains("queued") && o.ends_with("250 2.0.0 Ok\r\n") && s.len() == 1,
        ),
        // Planted: HELP with a long argument gets a reply of two codes.
        (
            Deviation::PlantedHelpMixedCodes,
            vec![send_await(
                "HELP aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            )],
            |o, _| o.contains("211 see"),
        ),
        // Planted: the MAIL line gets no reply and the connection closes.
        (
            Deviation::PlantedLongParamClose,
            vec![send_await(&format!(
                "EHLO c.test\r\nMAIL FROM:<a@b.test> AUTH={}\r\nNOOP\r\n",
                "x".repeat(720)
            ))],
            |o, _| !o.contains("250 2.0.0 Ok"),
        ),
        // Planted: neither MAIL nor NOOP is answered, and the connection stays open.
        (
            Deviation::PlantedSizeWrapHang,
            vec![send_await(
                "EHLO c.test\r\nMAIL FROM:<a@b.test> SIZE=8589934592\r\nNOOP\r\n",
            )],
            |o, _| !o.contains("250 2.0.0 Ok") && !o.contains("421"),
        ),
        // Planted: the NOOP after two RSETs is answered twice.
        (
            Deviation::PlantedDoubleReply,
            vec![send_await("EHLO c.test\r\nRSET\r\nRSET\r\nNOOP\r\n")],
            |o, _| o.lines().filter(|l| l.starts_with("250 ")).count() > 4,
        ),
        // Planted: after a NOOP with a number over 2^32, RCPT gets 451.
        (
            Deviation::PlantedNoopPoison,
            vec![send_await(
                "EHLO c.test\r\nNOOP 99999999999\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@mx.test>\r\n",
            )],
            |o, _| o.contains("451 4.3.0"),
        ),
        // Planted: one 250 to the end of data, two messages stored.
        (
            Deviation::PlantedDoubleStore,
            vec![
                send(TX),
                send("RCPT TO:<bob@mx.test>\r\nDATA\r\n"),
                send_await("x\r\n.\r\n"),
            ],
            |o, s| s.len() == 2 && o.matches("queued").count() == 1,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_deviation_fails_its_check_only_when_on() {
    let cases = cases();
    // The watched ones show only in the server's process (a panic the server
    // survives, a leak): harness/tests/fuzz_watch.rs launches it and watches. The
    // driven ones need a PROXY port: src/proxy.rs tests them on sockets.
    assert_eq!(
        cases.len(),
        Deviation::ALL
            .iter()
            .filter(|d| !d.is_watched() && !d.is_driven())
            .count(),
        "every deviation has a socket case"
    );
    let mut tasks = Vec::new();
    for (d, script, check) in cases {
        tasks.push(tokio::spawn(async move {
            let (normal, normal_stored) = run(None, &script).await;
            let (deviant, deviant_stored) = run(Some(d), &script).await;
            let mut problems = Vec::new();
            if check(&normal, &normal_stored) {
                problems.push(format!(
                    "{d}: the reference server shows the misbehaviour:\n{normal}"
                ));
            }
            if !check(&deviant, &deviant_stored) {
                problems.push(format!("{d}: the deviation is not visible:\n{deviant}"));
            }
            problems
        }));
    }
    let mut problems = Vec::new();
    for t in tasks {
        problems.extend(t.await.expect("case task"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
