//! The MTA-STS policy host of a delivery case (RFC 8461 §3.3): HTTPS for
//! `mta-sts.<domain>`, answering `GET /.well-known/mta-sts.txt` with the case's policy
//! and anything else with 404. Every fetch, and every handshake the sender gave up
//! (it refused the certificate), is kept for the transcript: whether the sender asked
//! for the policy at all is evidence too.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::note;
use crate::outcome::HarnessError;
use crate::scenario::sender::PolicyHostDef;
use crate::send::sts::POLICY_PATH;
use crate::wire::{Conn, Event, http};

/// How long one fetch may take, end to end.
const FETCH_LIFE: Duration = Duration::from_secs(10);

/// A running policy host.
pub(super) struct PolicyHost {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    /// Policies handed out (200 to a GET of the policy): the evidence that the sender
    /// asked.
    served: Arc<AtomicUsize>,
    task: Option<JoinHandle<()>>,
}

impl PolicyHost {
    /// Listen on the case's address, at `port` (443 for a real MTA, any for the
    /// reference client), presenting the certificate the case names.
    pub(super) async fn start(
        def: &PolicyHostDef,
        port: u16,
        acceptor: TlsAcceptor,
    ) -> Result<Self, HarnessError> {
        let at = SocketAddr::new(IpAddr::V4(def.address), port);
        let listener = TcpListener::bind(at)
            .await
            .map_err(|e| crate::harness_error!("MTA-STS policy host {at}: {e}"))?;
        let addr = listener.local_addr().map_err(HarnessError::from)?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (policy, status) = (Arc::new(def.policy.clone().into_bytes()), def.status);
        let log = Arc::clone(&seen);
        let served = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&served);
        let task = tokio::spawn(async move {
            while let Ok((tcp, peer)) = listener.accept().await {
                let (acceptor, policy, log, count) = (
                    acceptor.clone(),
                    Arc::clone(&policy),
                    Arc::clone(&log),
                    Arc::clone(&count),
                );
                tokio::spawn(async move {
                    let (line, handed) =
                        answer(Conn::accepted(tcp), &acceptor, &policy, status).await;
                    if handed {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    if let Ok(mut l) = log.lock() {
                        l.push(format!("MTA-STS policy host, from {}: {line}", peer.ip()));
                    }
                });
            }
        });
        Ok(Self {
            addr,
            seen,
            served,
            task: Some(task),
        })
    }

    /// Stop listening; what happened on each connection, in order, as transcript
    /// notes (saying so when nobody came: a sender that never asked), and how many
    /// policies were handed out.
    pub(super) async fn finish(mut self) -> (Vec<Event>, usize) {
        if let Some(task) = self.task.take() {
            task.abort();
            // The listener is gone once the task is: the next delivery binds again.
            let _ = task.await;
        }
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        let served = self.served.load(Ordering::SeqCst);
        if seen.is_empty() {
            return (
                vec![note("MTA-STS policy host: nobody connected".into())],
                0,
            );
        }
        (seen.into_iter().map(note).collect(), served)
    }
}

/// However the case ends, the port is freed (a real MTA's case binds 443 again next).
impl Drop for PolicyHost {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Serve one connection; what happened, in a line, and whether a policy was handed
/// out.
async fn answer(
    mut conn: Conn,
    acceptor: &TlsAcceptor,
    policy: &[u8],
    status: u16,
) -> (String, bool) {
    if let Err(e) = conn.accept_tls(acceptor, FETCH_LIFE).await {
        let line = format!("the TLS handshake failed ({e}): the sender refused the certificate?");
        return (line, false);
    }
    let request = match http::request(&mut conn, FETCH_LIFE).await {
        Ok(r) => r,
        Err(e) => return (format!("no request: {e}"), false),
    };
    let wanted = request.method == "GET" && request.path == POLICY_PATH;
    let (code, body): (u16, &[u8]) = if wanted { (status, policy) } else { (404, b"") };
    let sent = http::respond(&mut conn, code, body, FETCH_LIFE).await;
    let handed = wanted && code == 200 && sent.is_ok();
    let line = format!(
        "{} {} (Host: {}) -> {code}{}",
        request.method,
        request.path,
        request.host.as_deref().unwrap_or("none"),
        match sent {
            Ok(()) => String::new(),
            Err(e) => format!(", not sent: {e}"),
        }
    );
    (line, handed)
}
