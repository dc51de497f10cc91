//! The runner survives targets that misbehave at the transport level: each case ends
//! within its timeouts with a verdict that says why, and memory stays bounded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smtpspec::profile::embedded;
use smtpspec::runner::{self, CaseResult, Options, Subjects, Target, Verdict};
use smtpspec::scenario::load;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// A server that does `behave` with every connection.
async fn hostile(behave: fn(tokio::net::TcpStream) -> tokio::task::JoinHandle<()>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            behave(s);
        }
    });
    addr
}

fn target(addr: SocketAddr) -> Target {
    Target {
        addr,
        banner: String::new(),
        greeting_code: 220,
        ehlo: Vec::new(),
        tls_ehlo: None,
        tls_problem: None,
        vars: embedded::vars("x.test", "a@x.test", "b@x.test", None),
        size_limit: None,
        mailbox: None,
        tls: Default::default(),
        catch_all: None,
        restraint: Default::default(),
        policy: Default::default(),
    }
}

async fn verdicts(addr: SocketAddr) -> (Vec<(Verdict, String)>, Duration) {
    let cases = load::load(&[embedded::catalogue().join("rfc5321/session.yaml")]).expect("load");
    let start = Instant::now();
    let step = Duration::from_millis(300);
    let results = runner::run(
        &cases,
        &Subjects::server(target(addr)),
        Options::new(8, step),
        None,
    )
    .await;
    (
        results.into_iter().map(|r| (r.verdict, r.reason)).collect(),
        start.elapsed(),
    )
}

/// A server on plain threads that answers every connection with an endless line, as
/// fast as it can write (bounded: 4 GiB per connection).
fn flood_from_threads() -> SocketAddr {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let chunk = vec![b'x'; 64 * 1024];
                let _ = s.write_all(b"220-");
                for _ in 0..65_536 {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// The `rfc5321.session` suite against `addr`, with a short step timeout.
async fn session_suite(addr: SocketAddr) -> Vec<CaseResult> {
    let cases = load::load(&[embedded::catalogue().join("rfc5321/session.yaml")]).expect("load");
    runner::run(
        &cases,
        &Subjects::server(target(addr)),
        Options::new(8, Duration::from_millis(300)),
        None,
    )
    .await
}

/// The longest wall time of any case and the largest transcript against `addr`.
async fn worst_case(addr: SocketAddr) -> (Duration, usize) {
    let results = session_suite(addr).await;
    let longest = results.iter().map(|r| r.duration).max().unwrap_or_default();
    let largest = results
        .iter()
        .map(|r| r.transcript.iter().map(|e| e.data.len()).sum::<usize>())
        .max()
        .unwrap_or_default();
    (longest, largest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_target_gives_errors_not_a_hang() {
    let addr = hostile(|s| {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        })
    })
    .await;
    let (v, took) = verdicts(addr).await;
    assert!(
        v.iter().all(|(verdict, _)| *verdict == Verdict::Error),
        "{v:?}"
    );
    assert!(
        v[0].1.contains("no complete reply within 300 ms"),
        "{:?}",
        v[0]
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_line_is_bounded() {
    let addr = hostile(|mut s| {
        tokio::spawn(async move {
            let chunk = vec![b'x'; 64 * 1024];
            let _ = s.write_all(b"220-").await;
            for _ in 0..2_000 {
                if s.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        })
    })
    .await;
    let (v, took) = verdicts(addr).await;
    assert!(
        v.iter().all(|(verdict, _)| *verdict == Verdict::Error),
        "{v:?}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // A stream that is always ready must not outrun the step deadline, and the
    // transcript keeps only its head. The flood comes from OS threads here, as fast as
    // loopback goes, not from this runtime.
    let (longest, largest) = worst_case(flood_from_threads()).await;
    assert!(
        longest < Duration::from_millis(1500),
        "a case took {longest:?} with 300 ms steps"
    );
    assert!(largest <= 16 * 1024, "a transcript kept {largest} octets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_continuation_lines_are_a_malformed_reply() {
    let addr = hostile(|mut s| {
        tokio::spawn(async move {
            for _ in 0..5_000 {
                if s.write_all(b"220-still greeting\r\n").await.is_err() {
                    break;
                }
            }
        })
    })
    .await;
    let (v, _) = verdicts(addr).await;
    // The greeting is what `greeting-220` tests, and it fails there; every other case
    // only needs a greeting, so it is not failed for this one (it could not reach what
    // it tests).
    let fails: Vec<_> = v
        .iter()
        .filter(|(verdict, _)| *verdict == Verdict::Fail)
        .collect();
    assert_eq!(fails.len(), 1, "{v:?}");
    assert!(fails[0].1.contains("more than 1000 lines"), "{fails:?}");
    assert!(
        v.iter()
            .filter(|(verdict, _)| *verdict != Verdict::Fail)
            .all(|(verdict, why)| *verdict == Verdict::Skip
                && why.contains("a precondition was not met")
                && why.contains("more than 1000 lines")),
        "{v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_reply_fails_the_case_that_tests_it_and_skips_those_that_need_it() {
    // A good greeting, then a reply whose code is not three digits to every command.
    let addr = hostile(|s| {
        tokio::spawn(async move {
            let (r, mut w) = s.into_split();
            let _ = w.write_all(b"220 broken.test ESMTP\r\n").await;
            let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(r));
            while let Ok(Some(_)) = lines.next_line().await {
                if w.write_all(b"2x0 broken\r\n").await.is_err() {
                    break;
                }
            }
        })
    })
    .await;
    let results = session_suite(addr).await;
    let verdict = |id: &str| {
        let r = results
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no case {id}"));
        (r.verdict, r.reason.clone())
    };
    assert_eq!(verdict("rfc5321.session/greeting-220").0, Verdict::Pass);
    // ehlo-accepted tests the reply to EHLO: a malformed one fails it.
    let (v, why) = verdict("rfc5321.session/ehlo-accepted");
    assert_eq!(v, Verdict::Fail, "{why}");
    assert!(why.contains("malformed reply"), "{why}");
    // A case that only needs EHLO's 250 (`given: true`) is not failed for it.
    let needing: Vec<_> = results
        .iter()
        .filter(|r| r.reason.contains("a precondition was not met"))
        .collect();
    assert!(
        !needing.is_empty(),
        "no case was skipped for its precondition"
    );
    assert!(
        needing
            .iter()
            .all(|r| r.verdict == Verdict::Skip && r.reason.contains("malformed reply")),
        "{needing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_is_an_error_with_a_reason() {
    let addr = hostile(|s| {
        tokio::spawn(async move {
            let _ = s.set_zero_linger();
            drop(s);
        })
    })
    .await;
    let (v, _) = verdicts(addr).await;
    assert!(
        v.iter().all(|(verdict, _)| *verdict == Verdict::Error),
        "{v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripping_greeting_is_bounded_by_the_step_deadline() {
    // One octet every 100 ms: each read succeeds, but the reply never completes within
    // the 300 ms deadline for the whole step.
    let addr = hostile(|mut s| {
        tokio::spawn(async move {
            for b in b"220 slow.test ESMTP ready\r\n" {
                if s.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    })
    .await;
    let (v, took) = verdicts(addr).await;
    assert!(
        v.iter().all(|(verdict, why)| *verdict == Verdict::Error
            && why.contains("no complete reply within 300 ms")),
        "{v:?}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_in_the_middle_of_a_reply_is_an_error() {
    let addr = hostile(|mut s| {
        tokio::spawn(async move {
            let _ = s
                .write_all(b"220-first line of a greeting\r\n220-second")
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = s.set_zero_linger();
            drop(s);
        })
    })
    .await;
    let (v, _) = verdicts(addr).await;
    assert!(
        v.iter().all(|(verdict, why)| *verdict == Verdict::Error
            && (why.contains("closed") || why.contains("reset"))),
        "{v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_stops_reading_is_a_stall_not_a_hang() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    // Greets, answers EHLO with a 50 MB SIZE, then never reads again.
    let addr = hostile(|s| {
        tokio::spawn(async move {
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            let _ = w.write_all(b"220 stall.test ESMTP\r\n").await;
            let mut line = String::new();
            let _ = r.read_line(&mut line).await;
            let _ = w
                .write_all(b"250-stall.test\r\n250 SIZE 50000000\r\n")
                .await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        })
    })
    .await;
    let suite = "suite: t\ncases:\n  - id: big\n    title: t\n    \
                 spec: { rfc: 1870, section: \"6\", level: MUST }\n    steps:\n      \
                 - expect: 220\n      - send: \"EHLO x.test\"\n      - expect: 250\n      \
                 - send_body: { text: \"\", exceed_size: true }\n      - expect: 552\n";
    let cases = load::parse(suite, std::path::Path::new("t.yaml")).expect("suite");
    let mut t = target(addr);
    t.size_limit = Some(50_000_000);
    let start = Instant::now();
    let results = runner::run(
        &cases,
        &Subjects::server(t),
        Options::new(1, Duration::from_millis(500)),
        None,
    )
    .await;
    assert_eq!(results[0].verdict, Verdict::Error, "{}", results[0].reason);
    assert!(
        results[0].reason.contains("took nothing of what was sent"),
        "{}",
        results[0].reason
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

type Lines = tokio::io::Lines<tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>>;

/// End the connection with a reset (RST), no reply and no FIN: a session that died.
fn reset(lines: Lines, w: tokio::net::tcp::OwnedWriteHalf) {
    let s = lines
        .into_inner()
        .into_inner()
        .reunite(w)
        .expect("one stream");
    let _ = s.set_zero_linger();
    drop(s);
}

/// A server that greets, answers the first `answered` command lines with `code`, and
/// then resets the connection at the next one without a reply.
fn answers_then_resets(
    s: tokio::net::TcpStream,
    code: &'static str,
    answered: usize,
) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    tokio::spawn(async move {
        let (r, mut w) = s.into_split();
        let mut lines = BufReader::new(r).lines();
        let _ = w.write_all(b"220 abrupt.test ESMTP\r\n").await;
        let mut n = 0;
        while let Ok(Some(_)) = lines.next_line().await {
            if n == answered {
                break;
            }
            n += 1;
            let _ = w.write_all(format!("{code} 5.0.0 no\r\n").as_bytes()).await;
        }
        reset(lines, w);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_where_a_reply_was_due_is_the_targets_failure() {
    // EHLO answered, the command after it met by a reset: RFC 5321 §3.8 allows a close
    // only after QUIT's 221, with a 421 or at a timeout.
    let addr = hostile(|s| answers_then_resets(s, "250", 1)).await;
    let (v, _) = verdicts(addr).await;
    assert!(
        !v.iter().any(|(verdict, _)| *verdict == Verdict::Error),
        "{v:?}"
    );
    assert!(
        v.iter().any(|(verdict, why)| *verdict == Verdict::Fail
            && why.contains("where a reply was due")
            && why.contains("§3.8")),
        "{v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_after_a_refusal_is_no_verdict() {
    // Every command refused, the connection ended at the second: RFC 5321 §7.8 lets a
    // server end a session it judges hostile once it has refused, so no case fails on
    // the close itself, and none is a harness error.
    let addr = hostile(|s| answers_then_resets(s, "500", 1)).await;
    let (v, _) = verdicts(addr).await;
    assert!(
        !v.iter().any(|(verdict, _)| *verdict == Verdict::Error),
        "{v:?}"
    );
    assert!(
        !v.iter()
            .any(|(_, why)| why.contains("where a reply was due")),
        "{v:?}"
    );
    assert!(
        v.iter()
            .any(|(verdict, why)| *verdict == Verdict::Skip
                && why.contains("after refusing with 500")),
        "{v:?}"
    );
}

/// A server that offers CHUNKING, answers every line with 250, and resets the
/// connection without a reply at the first BDAT: a session that dies on a chunk size.
fn dies_at_bdat(s: tokio::net::TcpStream) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    tokio::spawn(async move {
        let (r, mut w) = s.into_split();
        let mut lines = BufReader::new(r).lines();
        let _ = w.write_all(b"220 dies.test ESMTP\r\n").await;
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("BDAT") {
                break;
            }
            let _ = w.write_all(b"250 ok\r\n").await;
        }
        reset(lines, w);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_dies_on_a_chunk_size_fails_where_it_must_survive() {
    // `expect_not_ended` settles a close as a refusal of an odd end, which is safe for
    // framing; with `must_survive` the same close, with no reply before it, is a crash.
    use smtp_protocol::ehlo::{EhloLine, Extension};
    let addr = hostile(dies_at_bdat).await;
    let mut t = target(addr);
    t.ehlo = vec![EhloLine::new(Extension::Chunking, &[])];
    let cases = load::load(&[embedded::catalogue().join("security/chunking.yaml")]).expect("load");
    let results = runner::run(
        &cases,
        &Subjects::server(t),
        Options::new(4, Duration::from_millis(300)),
        None,
    )
    .await;
    let verdict = |id: &str| {
        let r = results
            .iter()
            .find(|r| r.id.ends_with(id))
            .unwrap_or_else(|| panic!("no case {id}"));
        (r.verdict, r.reason.clone())
    };
    let (v, why) = verdict("/bdat-size-2-pow-32-then-rset");
    assert_eq!(v, Verdict::Fail, "{why}");
    assert!(why.contains("session died"), "{why}");
    let (v, why) = verdict("/bdat-size-2-pow-32-plus-1");
    assert_ne!(v, Verdict::Fail, "{why}");
    assert!(why.contains("closed the connection"), "{why}");
}
