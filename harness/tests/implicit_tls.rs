//! Implicit TLS (RFC 8314, port 465): the runner shakes hands before the greeting.
//! The target here is the reference server behind a TLS-terminating proxy, so the
//! SMTP judged is the same as over plain TCP.

use std::net::SocketAddr;
use std::time::Duration;

use reference_server::tls::Identity;
use smtpspec::profile::embedded;
use smtpspec::runner::{self, Options, Verdict};
use smtpspec::scenario::load;
use smtpspec::wire::{Dir, TlsSettings};
use tokio::net::{TcpListener, TcpStream};

/// A proxy that accepts TLS and forwards the plaintext to `backend`.
async fn tls_proxy(backend: SocketAddr) -> SocketAddr {
    let acceptor = Identity::self_signed("smtps.test")
        .expect("certificate")
        .acceptor()
        .expect("acceptor");
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_run_inside_implicit_tls() {
    let server = embedded::start(&[]).await.expect("reference server");
    let proxy = tls_proxy(server.server.addr()).await;
    let step = Duration::from_secs(5);
    let tls = TlsSettings {
        implicit: true,
        server_name: Some("smtps.test".into()),
        ..Default::default()
    };
    let target = runner::discover(proxy, server.vars.clone(), None, tls, step)
        .await
        .expect("discovery over implicit TLS");
    assert!(target.banner.starts_with("220 "), "{}", target.banner);
    assert!(
        target.tls_ehlo.is_some(),
        "the session is TLS from the start"
    );
    let cases = load::load(&[
        embedded::catalogue().join("rfc5321/session.yaml"),
        embedded::catalogue().join("extensions/starttls.yaml"),
    ])
    .expect("load");
    let results = runner::run(
        &cases,
        &runner::Subjects::server(target.clone()),
        Options::new(8, step),
        None,
    )
    .await;
    let bad: Vec<_> = results
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::Pass | Verdict::Skip))
        .map(|r| format!("{}: {:?} {}", r.id, r.verdict, r.reason))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let starttls = results
        .iter()
        .find(|r| r.id == "extensions.starttls/starttls-handshake")
        .expect("case");
    assert_eq!(starttls.verdict, Verdict::Skip, "{}", starttls.reason);
    let greeting = results
        .iter()
        .find(|r| r.id == "rfc5321.session/greeting-220")
        .expect("case");
    assert_eq!(greeting.transcript[0].dir, Dir::Tls, "handshake first");
    let _ = server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_server_fails_discovery_over_implicit_tls() {
    let server = embedded::start(&[]).await.expect("reference server");
    let tls = TlsSettings {
        implicit: true,
        server_name: None,
        ..Default::default()
    };
    let err = runner::discover(
        server.server.addr(),
        server.vars.clone(),
        None,
        tls,
        Duration::from_secs(2),
    )
    .await
    .expect_err("a plaintext greeting is not a TLS handshake");
    assert!(err.0.contains("connect"), "{err}");
    let _ = server.server.stop().await;
}
