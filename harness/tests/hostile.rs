//! The runner survives targets that misbehave at the transport level: each case ends
//! within its timeouts with a verdict that says why, and memory stays bounded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smtpspec::embedded;
use smtpspec::runner::{self, Options, Target, Verdict};
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
        keywords: Vec::new(),
        ehlo: Vec::new(),
        tls_keywords: None,
        tls_ehlo: Vec::new(),
        tls_problem: None,
        vars: embedded::vars("x.test", "a@x.test", "b@x.test", None),
        size_limit: None,
        mailbox: None,
        tls: Default::default(),
    }
}

async fn verdicts(addr: SocketAddr) -> (Vec<(Verdict, String)>, Duration) {
    let cases = load::load(&[embedded::catalogue().join("rfc5321/session.yaml")]).expect("load");
    let start = Instant::now();
    let step = Duration::from_millis(300);
    let results = runner::run(
        &cases,
        &target(addr),
        Options {
            jobs: 8,
            step_timeout: step,
        },
        None,
    )
    .await;
    (
        results.into_iter().map(|r| (r.verdict, r.reason)).collect(),
        start.elapsed(),
    )
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
    assert!(
        v.iter().any(|(verdict, why)| *verdict == Verdict::Fail && why.contains("more than 1000 lines")),
        "{v:?}"
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
