//! The runner's side of one connection: send, read replies with deadlines, STARTTLS,
//! and a transcript of everything in both directions.
//!
//! Every wait has a deadline for the whole operation (not per read), so a target that
//! drips one octet at a time or never ends a line cannot hold the run; every buffer is
//! bounded by the protocol crate's reply parser.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use smtp_protocol::reply::{ParsedReply, ReplyError, ReplyParser};
use smtp_protocol::{Command, ParseOptions, Verb};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

/// Which way octets went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From the harness to the target.
    Send,
    /// From the target.
    Recv,
    /// The TLS handshake completed here.
    Tls,
    /// A remark of the harness (octets left out of the transcript).
    Note,
}

/// One transcript entry.
#[derive(Debug, Clone)]
pub struct Event {
    /// Direction.
    pub dir: Dir,
    /// The octets (secrets already redacted).
    pub data: Vec<u8>,
}

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

/// A connection's transcript: every event cut at [`EVENT_CAP`] octets and the whole at
/// [`TRANSCRIPT_CAP`], so a flooding target (or a message padded past SIZE) cannot
/// fill memory; what is left out is noted, never silently lost.
#[derive(Debug, Default)]
struct Transcript {
    events: Vec<Event>,
    /// Octets of the last event left out, not yet noted.
    elided: usize,
    /// Octets kept.
    recorded: usize,
}

impl Transcript {
    /// Add octets, within the caps. Consecutive received octets are one event: TCP
    /// keeps no boundaries worth showing.
    fn record(&mut self, dir: Dir, bytes: &[u8]) {
        let merge = dir == Dir::Recv && self.events.last().is_some_and(|e| e.dir == Dir::Recv);
        if !merge {
            self.note_elided();
        }
        let total_room = TRANSCRIPT_CAP.saturating_sub(self.recorded);
        let event_room = match (merge, self.events.last()) {
            (true, Some(last)) => EVENT_CAP.saturating_sub(last.data.len()),
            _ => EVENT_CAP,
        };
        let keep = bytes.len().min(total_room).min(event_room);
        self.elided += bytes.len() - keep;
        if keep == 0 {
            return;
        }
        self.recorded += keep;
        match self.events.last_mut() {
            Some(last) if merge => last.data.extend_from_slice(&bytes[..keep]),
            _ => self.events.push(Event {
                dir,
                data: bytes[..keep].to_vec(),
            }),
        }
    }

    /// A marker (the TLS boundary), always kept.
    fn mark(&mut self, dir: Dir, text: &[u8]) {
        self.note_elided();
        self.events.push(Event {
            dir,
            data: text.to_vec(),
        });
    }

    fn note_elided(&mut self) {
        if self.elided > 0 {
            self.events.push(Event {
                dir: Dir::Note,
                data: format!("{} more octets not recorded", self.elided).into_bytes(),
            });
            self.elided = 0;
        }
    }

    fn finish(mut self) -> Vec<Event> {
        self.note_elided();
        self.events
    }
}

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
}

/// Most octets one transcript event keeps (its head): any reply or command fits.
pub const EVENT_CAP: usize = 8 * 1024;
/// Most octets one connection's transcript keeps.
pub const TRANSCRIPT_CAP: usize = 256 * 1024;

/// The default TLS server name when the profile gives none.
pub const DEFAULT_SERVER_NAME: &str = "smtpspec.target";

impl Conn {
    /// Connect within `limit`; with `tls`, run the handshake at once (implicit TLS,
    /// RFC 8314) before anything is read.
    pub async fn open(
        addr: SocketAddr,
        tls: &super::TlsSettings,
        limit: Duration,
    ) -> Result<Self, ConnError> {
        let mut conn = Self::connect(addr, limit).await?;
        if let Some(name) = &tls.server_name {
            conn.server_name.clone_from(name);
        }
        if tls.implicit {
            conn.handshake(limit).await?;
        }
        Ok(conn)
    }

    /// Connect within `limit`.
    pub async fn connect(addr: SocketAddr, limit: Duration) -> Result<Self, ConnError> {
        let tcp = tokio::time::timeout(limit, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnError::Timeout(limit))?
            .map_err(ConnError::Io)?;
        let _ = tcp.set_nodelay(true);
        Ok(Self {
            plain: Some(tcp),
            tls: None,
            parser: ReplyParser::new(),
            transcript: Transcript::default(),
            redact_next: false,
            server_name: DEFAULT_SERVER_NAME.to_owned(),
            roots: None,
        })
    }

    /// Verify the certificate of a later TLS upgrade against `roots`, for `name` (a
    /// host name or an IP address).
    pub fn verify_with(&mut self, roots: Arc<rustls::RootCertStore>, name: &str) {
        self.roots = Some(roots);
        name.clone_into(&mut self.server_name);
    }

    /// A connection a client under test opened to smtpspec (client cases): the same
    /// deadlines and transcript, with smtpspec as the server.
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
        }
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
        let io = self.io()?;
        let n = timeout_at(deadline, io.read(&mut buf))
            .await
            .map_err(|_| ConnError::Timeout(limit))?
            .map_err(ConnError::Io)?;
        if n > 0 {
            self.transcript.record(Dir::Recv, &buf[..n]);
            self.parser.push(&buf[..n]);
        }
        Ok(n)
    }

    /// Whatever octets arrive next, within `limit`, unparsed: for a driver that feeds
    /// its own session (the reference client). Empty at end of stream.
    pub async fn read_raw(&mut self, limit: Duration) -> Result<Vec<u8>, ConnError> {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 8192];
        let io = self.io()?;
        let n = timeout_at(deadline, io.read(&mut buf))
            .await
            .map_err(|_| ConnError::Timeout(limit))?
            .map_err(ConnError::Io)?;
        if n > 0 {
            self.transcript.record(Dir::Recv, &buf[..n]);
        }
        Ok(buf[..n].to_vec())
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
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnError::Io(io::Error::other(e)))?;
        let config = match &self.roots {
            Some(roots) => builder
                .with_root_certificates(Arc::clone(roots))
                .with_no_client_auth(),
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate))
                .with_no_client_auth(),
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
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

/// An AUTH line with its initial response hidden, read with the protocol crate's parser;
/// `None` when `bytes` is not an AUTH command carrying a secret.
fn redact_auth(bytes: &[u8]) -> Option<Vec<u8>> {
    let line = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
    let verb = line.split(|&b| b == b' ').next()?;
    if Verb::from_bytes(verb) != Some(Verb::Auth) {
        return None;
    }
    match Command::parse_with(line, ParseOptions::default()).map(|p| p.command) {
        Ok(Command::Auth {
            mechanism,
            initial_response: Some(_),
        }) => Some(format!("AUTH {mechanism} <redacted>\r\n").into_bytes()),
        Ok(_) => None,
        // Malformed, but it may still hold a secret: keep only the verb.
        Err(_) => Some(b"AUTH <redacted>\r\n".to_vec()),
    }
}

/// Conformance tests the SMTP dialogue, not the target's PKI: any certificate is
/// accepted, but the handshake signatures are still verified.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::{Dir, EVENT_CAP, TRANSCRIPT_CAP, Transcript, redact_auth};

    #[test]
    fn a_flood_is_cut_and_noted() {
        let mut t = Transcript::default();
        t.record(Dir::Send, b"EHLO x\r\n");
        for _ in 0..1000 {
            t.record(Dir::Recv, &[b'x'; 4096]);
        }
        t.record(Dir::Send, b"QUIT\r\n");
        let events = t.finish();
        assert_eq!(
            events.len(),
            4,
            "{:?}",
            events.iter().map(|e| e.dir).collect::<Vec<_>>()
        );
        assert_eq!(
            events[1].data.len(),
            EVENT_CAP,
            "one merged, capped receive event"
        );
        assert_eq!(
            events[2].data,
            format!("{} more octets not recorded", 4096 * 1000 - EVENT_CAP).into_bytes()
        );
        assert_eq!(events[3].data, b"QUIT\r\n");
    }

    #[test]
    fn the_whole_transcript_is_capped() {
        let mut t = Transcript::default();
        for _ in 0..1000 {
            t.record(Dir::Send, &[b'y'; 1024]);
        }
        let kept: usize = t
            .finish()
            .iter()
            .filter(|e| e.dir == Dir::Send)
            .map(|e| e.data.len())
            .sum();
        assert_eq!(kept, TRANSCRIPT_CAP);
    }

    #[test]
    fn auth_secrets_are_redacted() {
        assert_eq!(
            redact_auth(b"AUTH PLAIN AHUAcA==\r\n").as_deref(),
            Some(&b"AUTH PLAIN <redacted>\r\n"[..])
        );
        assert_eq!(redact_auth(b"AUTH LOGIN\r\n"), None);
        assert_eq!(redact_auth(b"NOOP\r\n"), None);
        assert_eq!(
            redact_auth(b"auth plain not-base64!\r\n").as_deref(),
            Some(&b"AUTH <redacted>\r\n"[..])
        );
    }
}
