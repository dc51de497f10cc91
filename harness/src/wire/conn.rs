//! One connection as the harness speaks it, as client or as server: send, read replies
//! with deadlines, TLS, and a transcript of everything in both directions.
//!
//! Every wait has a deadline for the whole operation (not per read), so a peer that
//! drips one octet at a time or never ends a line cannot hold the run; every buffer is
//! bounded by the protocol crate's reply parser.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use smtp_protocol::ehlo::{EhloResponse, Extension};
use smtp_protocol::reply::{ParsedReply, Reply, ReplyError, ReplyParser};
use smtp_protocol::{Command, ReplyCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::tls::{DEFAULT_SERVER_NAME, Prelude, TlsSettings, client_config};
use super::transcript::{Dir, Event, Transcript, redact_auth};

/// Why a wait ended without what it waited for.
#[derive(Debug)]
pub enum ConnError {
    /// Nothing (or not enough) arrived before the deadline.
    Timeout(Duration),
    /// The target stopped reading what was sent.
    Stalled(Duration),
    /// The target closed the connection.
    Closed,
    /// The reply could not be understood.
    Reply(ReplyError),
    /// A socket or TLS error.
    Io(io::Error),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout(d) => write!(f, "no complete reply within {} ms", d.as_millis()),
            Self::Stalled(d) => write!(
                f,
                "the target took nothing of what was sent for {} ms",
                d.as_millis()
            ),
            Self::Closed => f.write_str("the target closed the connection"),
            Self::Reply(e) => write!(f, "malformed reply: {e}"),
            Self::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

/// The unit of progress when sending: each piece must be taken within the step timeout.
const SEND_PIECE: usize = 64 * 1024;

/// The pause between the pieces of a cut batch.
const PIECE_GAP: Duration = Duration::from_millis(1);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection under test.
pub struct Conn {
    plain: Option<TcpStream>,
    tls: Option<Box<dyn Io>>,
    parser: ReplyParser,
    /// Everything sent and received.
    transcript: Transcript,
    /// The next line sent is a SASL response (after a 334): redact it.
    redact_next: bool,
    /// The name sent in the TLS handshake (SNI).
    server_name: String,
    /// Verify the server's certificate against these roots (a client that checks, as
    /// the reference client's `client-verify-ca` variant does); `None` accepts any.
    roots: Option<Arc<rustls::RootCertStore>>,
    /// Or let this verifier judge it (the reference client's DANE, RFC 7672).
    verifier: Option<Arc<dyn rustls::client::danger::ServerCertVerifier>>,
    /// Resume TLS sessions across connections (see [`Conn::resume_tls_sessions`]).
    resume: bool,
    /// The code of the last reply read: a close after a refusal is the server
    /// defending itself (RFC 5321 §7.8), one after an acceptance is not.
    last_code: Option<ReplyCode>,
}

/// The configuration shared by connections that resume TLS sessions: its ticket
/// cache lives as long as the process.
static RESUMING: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();

impl Conn {
    /// Connect within `limit`; with `tls`, run the handshake at once (implicit TLS,
    /// RFC 8314) before anything is read.
    pub async fn open(
        addr: SocketAddr,
        tls: &TlsSettings,
        limit: Duration,
    ) -> Result<Self, ConnError> {
        let mut conn = Self::connect(addr, limit).await?;
        if let Some(version) = tls.proxy {
            conn.send_proxy_header(version, limit).await?;
        }
        if let Some(name) = &tls.server_name {
            conn.server_name.clone_from(name);
        }
        if tls.implicit {
            conn.handshake(limit).await?;
        } else if let Some(p) = &tls.prelude {
            conn.prelude(p, limit).await?;
        }
        Ok(conn)
    }

    /// The prelude (greeting, EHLO, STARTTLS and the handshake, EHLO, AUTH), all
    /// before the case; then the greeting is read again by the case as if it had just
    /// come. A greeting other than 220 is left for the case to read (the server
    /// refuses service). The exchange stays in the transcript.
    async fn prelude(&mut self, p: &Prelude, limit: Duration) -> Result<(), ConnError> {
        let greeting = self.reply(limit).await?;
        if greeting.reply.code == ReplyCode::SERVICE_READY {
            self.prelude_commands(p, limit).await?;
        }
        self.parser.push(&greeting.reply.to_bytes());
        self.last_code = None;
        Ok(())
    }

    /// EHLO, STARTTLS and the handshake, EHLO again, AUTH: as far as `p` asks.
    async fn prelude_commands(&mut self, p: &Prelude, limit: Duration) -> Result<(), ConnError> {
        let hello = Command::Ehlo(p.ehlo.clone());
        let mut ehlo = self.command(&hello, limit).await?;
        if p.starttls {
            let offered = ehlo.code == ReplyCode::OK
                && EhloResponse::from_reply(&ehlo).0.has(Extension::StartTls);
            if !offered {
                return Err(prelude_error("EHLO", &ehlo, "without STARTTLS"));
            }
            let go = self.command(&Command::StartTls, limit).await?;
            if go.code != ReplyCode::SERVICE_READY {
                return Err(prelude_error("STARTTLS", &go, ""));
            }
            self.handshake(limit).await?;
            if p.auth_plain.is_none() {
                // The case starts the TLS session as if it had just opened (RFC 3207
                // §4.2), with its own EHLO.
                return Ok(());
            }
            ehlo = self.command(&hello, limit).await?;
        }
        if ehlo.code != ReplyCode::OK {
            return Err(prelude_error("EHLO", &ehlo, ""));
        }
        if let Some(ir) = &p.auth_plain {
            let auth = Command::Auth {
                mechanism: "PLAIN".into(),
                initial_response: Some(ir.clone()),
            };
            let done = self.command(&auth, limit).await?;
            if done.code != ReplyCode::AUTH_SUCCEEDED {
                return Err(prelude_error("AUTH PLAIN", &done, ""));
            }
        }
        Ok(())
    }

    /// The PROXY header of this connection (its own addresses), first of all.
    async fn send_proxy_header(
        &mut self,
        version: smtp_protocol::proxy::Version,
        limit: Duration,
    ) -> Result<(), ConnError> {
        let tcp = self.plain.as_ref().ok_or(ConnError::Closed)?;
        let (local, peer) = (
            tcp.local_addr().map_err(ConnError::Io)?,
            tcp.peer_addr().map_err(ConnError::Io)?,
        );
        let header = smtp_protocol::proxy::encode(version, local, peer);
        self.send(&header, limit).await
    }

    /// One command line of the prelude and its reply.
    pub(crate) async fn command(
        &mut self,
        command: &Command,
        limit: Duration,
    ) -> Result<Reply, ConnError> {
        self.send(&command.to_bytes(), limit).await?;
        Ok(self.reply(limit).await?.reply)
    }

    /// Connect within `limit`.
    pub async fn connect(addr: SocketAddr, limit: Duration) -> Result<Self, ConnError> {
        let tcp = tokio::time::timeout(limit, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnError::Timeout(limit))?
            .map_err(ConnError::Io)?;
        Ok(Self::accepted(tcp))
    }

    /// Connect within `limit` from the local address `from` (any port): a peer that
    /// looks its clients up sees the address a case chose.
    pub async fn connect_from(
        addr: SocketAddr,
        from: std::net::IpAddr,
        limit: Duration,
    ) -> Result<Self, ConnError> {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .map_err(ConnError::Io)?;
        socket
            .bind(SocketAddr::new(from, 0))
            .map_err(ConnError::Io)?;
        let tcp = tokio::time::timeout(limit, socket.connect(addr))
            .await
            .map_err(|_| ConnError::Timeout(limit))?
            .map_err(ConnError::Io)?;
        Ok(Self::accepted(tcp))
    }

    /// Let `verifier` judge the certificate of a later TLS upgrade (the reference
    /// client's DANE check, whose names and keys come from the DNS, not from roots).
    pub fn verify_by(&mut self, verifier: Arc<dyn rustls::client::danger::ServerCertVerifier>) {
        self.verifier = Some(verifier);
    }

    /// Verify the certificate of a later TLS upgrade against `roots`, for `name` (a
    /// host name or an IP address).
    pub fn verify_with(&mut self, roots: Arc<rustls::RootCertStore>, name: &str) {
        self.roots = Some(roots);
        name.clone_into(&mut self.server_name);
    }

    /// A connection over `tcp`: one smtpspec opened, or one a client under test opened
    /// to it (client cases, smtpspec the server); the same deadlines and transcript.
    pub fn accepted(tcp: TcpStream) -> Self {
        let _ = tcp.set_nodelay(true);
        Self {
            plain: Some(tcp),
            tls: None,
            parser: ReplyParser::new(),
            transcript: Transcript::default(),
            redact_next: false,
            server_name: DEFAULT_SERVER_NAME.to_owned(),
            roots: None,
            verifier: None,
            resume: false,
            last_code: None,
        }
    }

    /// Offer the tickets of earlier handshakes (TLS 1.3 resumption, RFC 8446 §2.2)
    /// instead of a full handshake each time: the fuzzer's sessions upgrade thousands
    /// of times a second, and a full handshake's signature and its check cost more
    /// than the SMTP around it. Conformance runs keep full handshakes, so a case's
    /// verdict never depends on which case ran before it.
    pub fn resume_tls_sessions(&mut self) {
        self.resume = true;
    }

    /// Run the TLS handshake as the server (after smtpspec's 220 to STARTTLS).
    pub async fn accept_tls(
        &mut self,
        acceptor: &tokio_rustls::TlsAcceptor,
        limit: Duration,
    ) -> Result<(), ConnError> {
        let tcp = self.plain.take().ok_or(ConnError::Closed)?;
        let tls = tokio::time::timeout(limit, acceptor.accept(tcp))
            .await
            .map_err(|_| ConnError::Timeout(limit))?
            .map_err(ConnError::Io)?;
        self.tls = Some(Box::new(tls));
        self.transcript.mark(Dir::Tls, b"TLS handshake complete");
        Ok(())
    }

    /// Add a remark of the harness to the transcript.
    pub fn note(&mut self, text: &str) {
        self.transcript.mark(Dir::Note, text.as_bytes());
    }

    fn io(&mut self) -> Result<&mut (dyn Io + '_), ConnError> {
        match (&mut self.tls, &mut self.plain) {
            (Some(t), _) => Ok(t.as_mut()),
            (None, Some(p)) => Ok(p),
            (None, None) => Err(ConnError::Closed),
        }
    }

    /// Send octets as they are. `limit` bounds each 64 KiB piece, not the whole: a
    /// large message to a slow but working server is not a timeout, a stalled one is
    /// (and the case's own budget bounds the total).
    pub async fn send(&mut self, bytes: &[u8], limit: Duration) -> Result<(), ConnError> {
        self.record_send(bytes);
        let io = self.io()?;
        for piece in bytes.chunks(SEND_PIECE) {
            tokio::time::timeout(limit, io.write_all(piece))
                .await
                .map_err(|_| ConnError::Stalled(limit))?
                .map_err(ConnError::Io)?;
        }
        tokio::time::timeout(limit, io.flush())
            .await
            .map_err(|_| ConnError::Stalled(limit))?
            .map_err(ConnError::Io)
    }

    /// Send `bytes` as separate writes cut before each offset in `cuts`, with a
    /// moment between writes so that each leaves as its own segment. The transcript
    /// records the whole batch once.
    pub async fn send_pieces(
        &mut self,
        bytes: &[u8],
        cuts: &[usize],
        limit: Duration,
    ) -> Result<(), ConnError> {
        self.record_send(bytes);
        let io = self.io()?;
        let bounds: Vec<usize> = cuts.iter().copied().chain([bytes.len()]).collect();
        // The whole batch shares one deadline, however many pieces it has.
        let budget = limit + PIECE_GAP * bounds.len() as u32;
        tokio::time::timeout(budget, async {
            let mut from = 0;
            for (n, &to) in bounds.iter().enumerate() {
                if n > 0 {
                    tokio::time::sleep(PIECE_GAP).await;
                }
                io.write_all(&bytes[from..to]).await?;
                io.flush().await?;
                from = to;
            }
            Ok(())
        })
        .await
        .map_err(|_| ConnError::Timeout(budget))?
        .map_err(ConnError::Io)
    }

    fn record_send(&mut self, bytes: &[u8]) {
        let data = if self.redact_next {
            self.redact_next = false;
            b"<redacted SASL response>\r\n".to_vec()
        } else {
            redact_auth(bytes).unwrap_or_else(|| bytes.to_vec())
        };
        self.transcript.record(Dir::Send, &data);
    }

    /// The transcript, ending with a note of anything left out.
    pub fn into_transcript(self) -> Vec<Event> {
        self.transcript.finish()
    }

    async fn read_some(&mut self, deadline: Instant, limit: Duration) -> Result<usize, ConnError> {
        // A target that always has data ready never lets the timer fire inside
        // `timeout_at` (the read wins every poll), so the deadline is checked here too.
        if Instant::now() >= deadline {
            return Err(ConnError::Timeout(limit));
        }
        let mut buf = [0u8; 8192];
        let n = self.read_recorded(&mut buf, deadline, limit).await?;
        if n > 0 {
            self.parser.push(&buf[..n]);
        }
        Ok(n)
    }

    /// One read into `buf` before `deadline`, recorded in the transcript.
    async fn read_recorded(
        &mut self,
        buf: &mut [u8],
        deadline: Instant,
        limit: Duration,
    ) -> Result<usize, ConnError> {
        let io = self.io()?;
        let n = timeout_at(deadline, io.read(buf))
            .await
            .map_err(|_| ConnError::Timeout(limit))?
            .map_err(ConnError::Io)?;
        if n > 0 {
            self.transcript.record(Dir::Recv, &buf[..n]);
        }
        Ok(n)
    }

    /// Whatever octets arrive next, within `limit`, unparsed: for a driver that feeds
    /// its own session (the reference client). Empty at end of stream.
    pub async fn read_raw(&mut self, limit: Duration) -> Result<Vec<u8>, ConnError> {
        let mut buf = [0u8; 8192];
        let n = self
            .read_recorded(&mut buf, Instant::now() + limit, limit)
            .await?;
        Ok(buf[..n].to_vec())
    }

    /// The code of the last reply read, if any.
    pub fn last_code(&self) -> Option<ReplyCode> {
        self.last_code
    }

    /// True once anything at all came from the peer.
    pub fn heard_anything(&self) -> bool {
        self.transcript.events.iter().any(|e| e.dir == Dir::Recv) || self.transcript.elided > 0
    }

    /// Hide the next line sent in the transcript: it answers a SASL challenge.
    pub fn redact_next_send(&mut self) {
        self.redact_next = true;
    }

    /// The next complete reply, within `limit` from now.
    pub async fn reply(&mut self, limit: Duration) -> Result<ParsedReply, ConnError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(r) = self.parser.next_reply() {
                let r = r.map_err(ConnError::Reply)?;
                if r.reply.code.get() == 334 {
                    self.redact_next = true;
                }
                self.last_code = Some(r.reply.code);
                return Ok(r);
            }
            if self.read_some(deadline, limit).await? == 0 {
                return Err(match self.parser.finish() {
                    Some(e) => ConnError::Reply(e),
                    None => ConnError::Closed,
                });
            }
        }
    }

    /// Wait `quiet`: `Ok(None)` if nothing came, `Ok(Some(octets))` if something did.
    /// A close is reported as [`ConnError::Closed`].
    pub async fn silence(&mut self, quiet: Duration) -> Result<Option<Vec<u8>>, ConnError> {
        if !self.parser.is_idle() {
            return Ok(Some(self.parser.take_remaining()));
        }
        let deadline = Instant::now() + quiet;
        match self.read_some(deadline, quiet).await {
            Err(ConnError::Timeout(_)) => Ok(None),
            Ok(0) => Err(ConnError::Closed),
            Ok(_) => Ok(Some(self.parser.take_remaining())),
            Err(e) => Err(e),
        }
    }

    /// End the connection as a well-behaved peer does: inside TLS a close_notify
    /// first (RFC 8446 §6.1), so the other side can tell the end from a cut.
    pub async fn shutdown(&mut self, limit: Duration) {
        let done = async {
            if let Some(t) = self.tls.as_mut() {
                let _ = t.shutdown().await;
            } else if let Some(p) = self.plain.as_mut() {
                let _ = p.shutdown().await;
            }
        };
        let _ = tokio::time::timeout(limit, done).await;
    }

    /// Wait for the target to close within `limit`; octets before the close are kept in
    /// the transcript.
    pub async fn closed(&mut self, limit: Duration) -> Result<(), ConnError> {
        let deadline = Instant::now() + limit;
        loop {
            match self.read_some(deadline, limit).await {
                Ok(0) | Err(ConnError::Io(_)) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Run the TLS handshake over the plain connection (after a 220 to STARTTLS).
    /// Unread plaintext is dropped first: it is the server's fault if any arrived.
    pub async fn handshake(&mut self, limit: Duration) -> Result<(), ConnError> {
        let leftover = self.parser.take_remaining();
        if !leftover.is_empty() {
            return Err(ConnError::Io(io::Error::other(format!(
                "{} octets arrived after the 220 to STARTTLS, before the handshake",
                leftover.len()
            ))));
        }
        self.upgrade(limit).await
    }

    /// Run the TLS handshake now, whatever was read before: for a driver whose own
    /// session has already judged and dropped any plaintext leftovers.
    pub async fn upgrade(&mut self, limit: Duration) -> Result<(), ConnError> {
        let tcp = self.plain.take().ok_or(ConnError::Closed)?;
        let config = match (self.resume, &self.roots, RESUMING.get()) {
            _ if self.verifier.is_some() => Arc::new(
                super::tls::client_config_verified(Arc::clone(
                    self.verifier.as_ref().ok_or(ConnError::Closed)?,
                ))
                .map_err(|e| ConnError::Io(io::Error::other(e)))?,
            ),
            (true, None, Some(shared)) => Arc::clone(shared),
            (resume, roots, _) => {
                let config = Arc::new(
                    client_config(roots.as_ref())
                        .map_err(|e| ConnError::Io(io::Error::other(e)))?,
                );
                if resume && roots.is_none() {
                    Arc::clone(RESUMING.get_or_init(|| config))
                } else {
                    config
                }
            }
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = ServerName::try_from(self.server_name.clone())
            .map_err(|e| ConnError::Io(io::Error::other(e)))?;
        let tls = tokio::time::timeout(limit, connector.connect(name, tcp))
            .await
            .map_err(|_| ConnError::Timeout(limit))?
            .map_err(ConnError::Io)?;
        self.tls = Some(Box::new(tls));
        self.parser = ReplyParser::new();
        self.transcript.mark(Dir::Tls, b"TLS handshake complete");
        Ok(())
    }
}

/// The prelude could not be done: the port does not do what its profile says.
fn prelude_error(what: &str, got: &Reply, more: &str) -> ConnError {
    let more = if more.is_empty() {
        String::new()
    } else {
        format!(" {more}")
    };
    ConnError::Io(io::Error::other(format!(
        "the profile says the target requires TLS or AUTH first, but {what} got {}{more}",
        got.code
    )))
}
