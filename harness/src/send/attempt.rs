//! One connection of the reference client: the protocol crate's [`ClientSession`]
//! driven over a socket, with the runner's [`Conn`] for TLS, deadlines and the
//! transcript.

use std::net::SocketAddr;
use std::time::Duration;

use smtp_protocol::client::{
    ClientConfig, ClientFinding, ClientSession, Outgoing, Output, RecipientResult, Stage, Timeouts,
    Waiting,
};

use crate::wire::{Conn, ConnError, Event};

/// What one connection achieved.
#[derive(Debug)]
pub struct Connection {
    /// The connection itself failed (refused, unreachable, timed out): nothing was said.
    pub connect_error: Option<String>,
    /// One result per recipient offered.
    pub results: Vec<RecipientResult>,
    /// What a strict client noticed about the server.
    pub findings: Vec<ClientFinding>,
    /// Both directions, AUTH secrets redacted.
    pub transcript: Vec<Event>,
}

/// Certificates a client that verifies trusts, and the name it expects.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The roots (smtpspec's test CA in client cases).
    pub roots: std::sync::Arc<rustls::RootCertStore>,
    /// The name the certificate must carry; `None`: the address connected to.
    pub name: Option<String>,
}

/// Connect to `addr` and try to hand over `message`.
pub async fn run(
    addr: SocketAddr,
    config: ClientConfig,
    message: Outgoing,
    timeouts: &Timeouts,
    connect_timeout: Duration,
    trust: Option<&Trust>,
    dane: Option<std::sync::Arc<super::dane::DaneVerifier>>,
) -> Connection {
    let mut conn = match Conn::connect(addr, connect_timeout).await {
        Ok(c) => c,
        Err(e) => {
            return Connection {
                connect_error: Some(connect_error(&e)),
                results: Vec::new(),
                findings: Vec::new(),
                transcript: Vec::new(),
            };
        }
    };
    if let Some(t) = trust {
        let name = t.name.clone().unwrap_or_else(|| addr.ip().to_string());
        conn.verify_with(std::sync::Arc::clone(&t.roots), &name);
    }
    if let Some(v) = dane {
        conn.note(&v.describe());
        conn.verify_by(v);
    }
    let mut session = ClientSession::new(config, message);
    loop {
        while let Some(out) = session.poll_output() {
            match out {
                Output::Send(bytes) => {
                    if session.waiting() == Waiting::Reply(Stage::Auth)
                        && !bytes.starts_with(b"AUTH")
                    {
                        conn.redact_next_send();
                    }
                    if conn.send(&bytes, timeouts.data_block).await.is_err() {
                        // The server stopped reading or went away: what was not
                        // decided is deferred.
                        session.handle_eof();
                    }
                }
                Output::StartTls => match conn.upgrade(timeouts.other).await {
                    Ok(()) => session.handle_tls_established(),
                    Err(e) => session.handle_tls_failed(&e.to_string()),
                },
                Output::Close => {}
            }
        }
        let stage = match session.waiting() {
            Waiting::Closed => break,
            Waiting::Reply(stage) => stage,
            // The handshake runs inside the Output::StartTls arm above.
            Waiting::Driver => Stage::Handshake,
        };
        match conn.read_raw(timeouts.for_stage(stage)).await {
            Ok(bytes) if bytes.is_empty() => session.handle_eof(),
            Ok(bytes) => session.handle_input(&bytes),
            Err(ConnError::Timeout(_)) => session.handle_timeout(),
            Err(_) => session.handle_eof(),
        }
    }
    Connection {
        connect_error: None,
        results: session.results(),
        findings: session.findings().to_vec(),
        transcript: conn.into_transcript(),
    }
}

fn connect_error(e: &ConnError) -> String {
    match e {
        ConnError::Timeout(d) => format!("no connection within {d:?}"),
        ConnError::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}
