//! The latency oracle's check, over real sockets: an input whose reply was slow is
//! sent again twice and then one command per write, beside the campaign; each of
//! the three outcomes comes from a server that behaves that way.

use std::net::SocketAddr;
use std::time::Duration;

use smtpspec::fuzz::exec::Limits;
use smtpspec::fuzz::input::{Input, Step};
use smtpspec::fuzz::latency::{self, Again, Outlier};
use smtpspec::fuzz::store::Aside;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How a test server delays its reply to a `SLOW` line.
#[derive(Clone, Copy)]
enum Delay {
    /// Every time.
    Always,
    /// Only when more input came in the same read (pipelined), as RFC 2920 §3.1 lets
    /// a server hold replies while input is pending.
    Pipelined,
    /// Never.
    Never,
}

/// A line server on loopback: 220, then 250 to every line (the `SLOW` ones as
/// `delay` says, 300 ms late), 221 and a close to QUIT.
async fn server(delay: Delay) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(b"220 test\r\n").await;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut chunk).await {
                    buf.extend_from_slice(&chunk[..n]);
                    let lines = buf.iter().filter(|&&b| b == b'\n').count();
                    while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=end).collect();
                        let slow = match delay {
                            Delay::Always => true,
                            Delay::Pipelined => lines > 1,
                            Delay::Never => false,
                        };
                        if line.starts_with(b"SLOW") && slow {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                        if line.starts_with(b"QUIT") {
                            let _ = s.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        let _ = s.write_all(b"250 ok\r\n").await;
                    }
                }
            });
        }
    });
    addr
}

async fn check(delay: Delay) -> (Again, Aside) {
    let addr = server(delay).await;
    let input = Input {
        steps: vec![Step::Raw(b"NOOP\r\nSLOW\r\n".to_vec())],
    };
    let o = Outlier {
        step: 0,
        verb: "SLOW".into(),
        ms: 300,
        bar_ms: 150,
    };
    let limits = Limits {
        connect: Duration::from_secs(2),
        reply: Duration::from_secs(2),
        chunking: false,
        whole: false,
        listen: Duration::ZERO,
        opening: Default::default(),
    };
    let mut aside = Aside::default();
    let again = latency::again(addr, limits, &input, &o, &mut aside).await;
    (again, aside)
}

#[tokio::test]
async fn a_reply_slow_every_time_is_a_finding_with_its_wording() {
    let (again, _) = check(Delay::Always).await;
    let Again::Slow(trace, what) = again else {
        panic!("not slow: {again:?}");
    };
    assert!(
        what.contains("SLOW") && what.contains("bar 150 ms"),
        "{what}"
    );
    assert!(trace.answers.iter().any(|a| a.latency_ms >= 150));
}

#[tokio::test]
async fn a_reply_slow_only_pipelined_is_the_servers_right() {
    let (again, _) = check(Delay::Pipelined).await;
    assert!(matches!(again, Again::Pipelined), "{again:?}");
}

#[tokio::test]
async fn a_reply_not_slow_again_is_timing() {
    let (again, _) = check(Delay::Never).await;
    assert!(matches!(again, Again::NotSlow), "{again:?}");
}
