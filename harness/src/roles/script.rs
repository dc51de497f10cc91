//! Scripted SMTP servers for delivery cases: each answers with the codes its script
//! gives (a 421 greeting, a 451 to RCPT, a close, silence) and counts connections and
//! accepted messages, so a case can tell which host got the mail.
//!
//! The connection is read by the same engine as the client cases' scripts
//! ([`crate::wire::served`]): command lines and message data cut by the protocol
//! crate's decoders; what is here is only what to answer.

use crate::outcome::HarnessError;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use smtp_protocol::Verb;
use smtp_protocol::line::LineConfig;
use smtp_protocol::reply::{Reply, ReplyCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::scenario::sender::{Certificate, Codes, Named, ServerScript};
use crate::wire::served::{ContentError, LineError, Served};
use crate::wire::{Conn, ConnError};

const OK: u16 = ReplyCode::OK.get();

/// Most time a scripted connection lives: a sender that never leaves is cut off.
const CONNECTION_LIFE: Duration = Duration::from_secs(30);

/// Most time one reply may take to be written: a sender that stops reading is cut off.
const STEP: Duration = Duration::from_secs(10);

/// Counts of one scripted server.
#[derive(Debug, Default)]
pub struct Counts {
    /// TCP connections accepted.
    pub connections: AtomicUsize,
    /// Messages taken with a 2xx after the final dot.
    pub messages: AtomicUsize,
    /// Recipients of the messages taken (the RCPTs answered 2xx in their transactions).
    pub recipients: AtomicUsize,
    /// The messages taken, as they came on the wire: what a relay case judges.
    pub received: std::sync::Mutex<Vec<Received>>,
}

/// One message a scripted server took.
#[derive(Debug, Clone)]
pub struct Received {
    /// The content as it came, dot-stuffed, with the end of data (bounded).
    pub raw: Vec<u8>,
    /// Bare CRs in it (RFC 5321 §2.3.8).
    pub bare_cr: u64,
    /// Bare LFs in it.
    pub bare_lf: u64,
    /// The keywords of the parameters its MAIL command carried, upper case.
    pub mail_params: Vec<String>,
    /// It came over TLS.
    pub tls: bool,
}

/// A set of scripted servers on one port.
pub struct Scripted {
    /// The port they share.
    pub port: u16,
    /// Counts by address.
    pub counts: Vec<(Ipv4Addr, Arc<Counts>)>,
    /// Every connection accepted, in order: what a sender smtpspec cannot ask (a real
    /// MTA) tried.
    order: Arc<std::sync::Mutex<Vec<Ipv4Addr>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Scripted {
    /// Stop every listener and wait until their sockets are closed, so that the next
    /// case can bind the same address and port.
    pub async fn stop(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Connections accepted by all servers.
    pub fn connections(&self) -> usize {
        self.counts
            .iter()
            .map(|(_, c)| c.connections.load(Ordering::SeqCst))
            .sum()
    }

    /// Recipients of all the messages the servers took: a message for several
    /// recipients is delivered only when every one of them is in some message taken.
    pub fn recipients_taken(&self) -> usize {
        self.counts
            .iter()
            .map(|(_, c)| c.recipients.load(Ordering::SeqCst))
            .sum()
    }

    /// Messages taken, by address of the server that took them.
    pub fn taken(&self) -> BTreeMap<IpAddr, usize> {
        self.counts
            .iter()
            .map(|(a, c)| (IpAddr::V4(*a), c.messages.load(Ordering::SeqCst)))
            .collect()
    }

    /// Messages taken by all servers.
    pub fn messages(&self) -> usize {
        self.taken().values().sum()
    }

    /// Every message taken so far, with the address of the server that took it.
    pub fn received(&self) -> Vec<(IpAddr, Received)> {
        let mut all = Vec::new();
        for (a, c) in &self.counts {
            if let Ok(r) = c.received.lock() {
                all.extend(r.iter().map(|m| (IpAddr::V4(*a), m.clone())));
            }
        }
        all
    }

    /// Every connection accepted so far, in order.
    pub fn order(&self) -> Vec<IpAddr> {
        self.order
            .lock()
            .map(|o| o.iter().map(|ip| IpAddr::V4(*ip)).collect())
            .unwrap_or_default()
    }
}

/// Start one server per script, all on the same port (picked by the first, retried
/// when another address has it taken), or all on `port` when one is given.
///
/// `tls` holds the identities of the servers whose script says `starttls: true`.
pub async fn start(
    scripts: &[(Ipv4Addr, ServerScript)],
    port: Option<u16>,
    tls: Option<Identities>,
) -> Result<Scripted, HarnessError> {
    if let Some(port) = port {
        return try_start(scripts, port, tls).await;
    }
    let mut last = crate::harness_error!("");
    for _ in 0..8 {
        match try_start(scripts, 0, tls.clone()).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(crate::harness_error!(
        "scripted servers: no common free port: {last}"
    ))
}

/// The certificates a delivery case's TLS servers present, by their script's
/// `certificate:`.
#[derive(Clone)]
pub struct Identities {
    /// For every host of the case's zones.
    pub valid: TlsAcceptor,
    /// For none of them.
    pub wrong_name: TlsAcceptor,
    /// The valid one's key and names, valid in 2020 only.
    pub expired: TlsAcceptor,
}

impl Identities {
    /// The identities of the run's CA.
    pub fn of(ca: &crate::test_ca::TestCa) -> Self {
        Self {
            valid: ca.acceptor.clone(),
            wrong_name: ca.misnamed.clone(),
            expired: ca.expired.clone(),
        }
    }

    /// The one `certificate` names.
    pub fn pick(&self, certificate: Certificate) -> TlsAcceptor {
        match certificate {
            Certificate::Valid => self.valid.clone(),
            Certificate::WrongName => self.wrong_name.clone(),
            Certificate::Expired => self.expired.clone(),
        }
    }
}

async fn try_start(
    scripts: &[(Ipv4Addr, ServerScript)],
    mut port: u16,
    tls: Option<Identities>,
) -> Result<Scripted, HarnessError> {
    let mut listeners = Vec::new();
    for (ip, script) in scripts {
        let l = TcpListener::bind(SocketAddr::new(IpAddr::V4(*ip), port))
            .await
            .map_err(|e| crate::harness_error!("{ip}:{port}: {e}"))?;
        port = l.local_addr().map_err(HarnessError::from)?.port();
        listeners.push((*ip, script.clone(), l));
    }
    if port == 0 {
        // No server at all: any port will do, nothing listens.
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(HarnessError::from)?;
        port = l.local_addr().map_err(HarnessError::from)?.port();
    }
    let mut counts = Vec::new();
    let mut tasks = Vec::new();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    for (ip, script, listener) in listeners {
        let c = Arc::new(Counts::default());
        counts.push((ip, Arc::clone(&c)));
        let order = Arc::clone(&order);
        let tls = tls.as_ref().map(|t| t.pick(script.certificate()));
        tasks.push(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.connections.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut o) = order.lock() {
                    o.push(ip);
                }
                let (script, c, tls) = (script.clone(), Arc::clone(&c), tls.clone());
                tokio::spawn(async move {
                    let served = serve(stream, script, &c, tls.as_ref());
                    let _ = tokio::time::timeout(CONNECTION_LIFE, served).await;
                });
            }
        }));
    }
    Ok(Scripted {
        port,
        counts,
        order,
        tasks,
    })
}

/// A one-line reply as the protocol crate writes it; a code outside 200–599 that a
/// script asks for on purpose is written as it is.
fn reply(code: u16, text: &str) -> Vec<u8> {
    match ReplyCode::new(code) {
        Some(c) => Reply::new(c, text).to_bytes(),
        None => format!("{code} {text}\r\n").into_bytes(),
    }
}

/// A scripted session's transaction: the codes it answers with, and the recipients so
/// far.
struct Session {
    codes: Codes,
    /// RCPTs of the transaction so far.
    rcpts: usize,
    /// How many of them were accepted.
    accepted: usize,
    /// TLS is up.
    tls: bool,
    /// The parameter keywords of the transaction's MAIL, upper case.
    mail_params: Vec<String>,
}

impl Session {
    fn new(codes: Codes) -> Self {
        Self {
            codes,
            rcpts: 0,
            accepted: 0,
            tls: false,
            mail_params: Vec::new(),
        }
    }

    /// The reply to a command, as the script says; a multiline EHLO reply goes to
    /// `out` at once (`None`).
    fn answer(
        &mut self,
        verb: Option<Verb>,
        line: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<(u16, &'static str)> {
        if matches!(verb, Some(Verb::Ehlo | Verb::Helo)) {
            // A new hello resets the transaction (RFC 5321 §4.1.4).
            self.mail_params.clear();
        }
        let codes = &self.codes;
        Some(match verb {
            Some(Verb::Ehlo) => match codes.ehlo.unwrap_or(250) {
                250 => {
                    let mut lines = vec!["scripted.smtpspec.test".into(), "8BITMIME".into()];
                    if codes.starttls && !self.tls {
                        lines.push("STARTTLS".into());
                    }
                    if codes.requiretls && self.tls {
                        lines.push(smtp_protocol::client::REQUIRETLS.into());
                    }
                    out.extend(Reply::multiline(ReplyCode::OK, lines).to_bytes());
                    return None;
                }
                c => (c, "EHLO refused"),
            },
            Some(Verb::Helo) => (250, "scripted.smtpspec.test"),
            Some(Verb::Mail) => {
                (self.rcpts, self.accepted) = (0, 0);
                self.mail_params = mail_keywords(line);
                (codes.mail.unwrap_or(250), "MAIL")
            }
            Some(Verb::Rcpt) => {
                self.rcpts += 1;
                let code = match (codes.rcpt, codes.rcpt_from) {
                    (Some(code), Some(from)) if self.rcpts >= from => code,
                    (Some(code), None) => code,
                    _ => OK,
                };
                if code / 100 == 2 {
                    self.accepted += 1;
                }
                (code, "RCPT")
            }
            Some(Verb::Data) => (codes.data.unwrap_or(354), "DATA"),
            Some(Verb::Rset) => {
                (self.rcpts, self.accepted) = (0, 0);
                self.mail_params.clear();
                (OK, "OK")
            }
            Some(Verb::Noop) => (OK, "OK"),
            Some(Verb::Quit) => (221, "bye"),
            _ => (502, "not in the script"),
        })
    }
}

/// Play `script` on one connection a sender opened, counting what it took.
async fn serve(
    stream: TcpStream,
    script: ServerScript,
    counts: &Counts,
    tls: Option<&TlsAcceptor>,
) -> Result<(), ConnError> {
    let mut conn = Conn::accepted(stream);
    let codes = match script {
        ServerScript::Named(Named::Close) => return Ok(()),
        ServerScript::Named(Named::Silent) => {
            while !conn.read_raw(CONNECTION_LIFE).await?.is_empty() {}
            return Ok(());
        }
        ServerScript::Named(Named::Accept) => Codes::default(),
        ServerScript::Codes(c) => c,
    };
    let greeting = codes.greeting.unwrap_or(220);
    conn.send(
        &reply(greeting, "scripted.smtpspec.test scripted server"),
        STEP,
    )
    .await?;
    if greeting == 421 {
        return Ok(());
    }
    // A strict server: only CRLF ends a command line (RFC 5321 §2.3.8).
    let mut wire = Served::new(
        conn,
        LineConfig {
            max_line: 4096,
            accept_bare_lf: false,
        },
    );
    let mut session = Session::new(codes);
    loop {
        let line = match wire.next_line(CONNECTION_LIFE).await {
            Ok(Some(line)) => line,
            Ok(None) | Err(LineError::Timeout) => return Ok(()),
            Err(LineError::Conn(e)) => return Err(e),
        };
        let verb = Verb::of_line(&line.bytes);
        if verb == Some(Verb::StartTls)
            && session.codes.starttls
            && !session.tls
            && let Some(acceptor) = tls
        {
            // RFC 3207 §4: 220, the handshake, then a fresh session.
            wire.conn
                .send(
                    &reply(ReplyCode::SERVICE_READY.get(), "ready to start TLS"),
                    STEP,
                )
                .await?;
            wire.lines.take_remaining();
            wire.conn.accept_tls(acceptor, STEP).await?;
            (session.tls, session.rcpts, session.accepted) = (true, 0, 0);
            session.mail_params.clear();
            continue;
        }
        let mut out = Vec::new();
        let Some((code, text)) = session.answer(verb, &line.bytes, &mut out) else {
            wire.conn.send(&out, STEP).await?;
            continue;
        };
        wire.conn.send(&reply(code, text), STEP).await?;
        if verb == Some(Verb::Quit) || code == 421 {
            wire.conn.shutdown(STEP).await;
            return Ok(());
        }
        if code == 354 {
            // The content follows; whatever came after DATA belongs to it.
            let content = match wire.read_content(CONNECTION_LIFE).await {
                Ok(c) => c,
                Err(ContentError::Conn(e)) => return Err(e),
                Err(ContentError::Timeout | ContentError::Closed) => return Ok(()),
            };
            let code = session.codes.message.unwrap_or(250);
            if code / 100 == 2 {
                if let Ok(mut r) = counts.received.lock() {
                    r.push(Received {
                        raw: content.raw,
                        bare_cr: content.findings.bare_cr_count,
                        bare_lf: content.findings.bare_lf_count,
                        mail_params: session.mail_params.clone(),
                        tls: session.tls,
                    });
                }
                counts.messages.fetch_add(1, Ordering::SeqCst);
                counts
                    .recipients
                    .fetch_add(session.accepted, Ordering::SeqCst);
            }
            wire.conn.send(&reply(code, "end of data"), STEP).await?;
        }
    }
}

/// The parameter keywords of a MAIL command line, upper case, read by the protocol
/// crate's parser; none when it does not parse.
fn mail_keywords(line: &[u8]) -> Vec<String> {
    match smtp_protocol::Command::parse(line) {
        Ok(smtp_protocol::Command::Mail { params, .. }) => params
            .iter()
            .map(|p| p.keyword().to_ascii_uppercase())
            .collect(),
        _ => Vec::new(),
    }
}
