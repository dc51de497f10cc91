//! One client connection: the I/O loop around a [`ServerSession`].
//!
//! The loop is the whole driver: carry out what the session asks (write, store, start
//! TLS, close), then wait for input with the timeout the session's state calls for. All
//! protocol decisions stay in the session.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smtp_protocol::AddressLiteral;
use smtp_protocol::server::{Deviation, Output, ServerConfig, ServerSession, Waiting};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::proxy::{Opened, read_header};
use crate::store::Store;

/// What every connection of a server shares.
pub(crate) struct Shared {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) store: Store,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) command_timeout: Duration,
    pub(crate) data_timeout: Duration,
    /// Every reply held back this long (the `slow-replies` variant).
    pub(crate) reply_delay: Duration,
    /// The PROXY header every connection must open with (the `proxy` setting).
    pub(crate) proxy: Option<smtp_protocol::proxy::Accept>,
}

/// Time for Received lines.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The transport, before and after STARTTLS.
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// The most read at once: a pipelined batch or a good slice of DATA.
const READ_SIZE: usize = 16 * 1024;

impl Transport {
    /// The next bytes from the client (empty at its end). A plain connection holds no
    /// buffer while it waits: the buffer is taken once the socket is readable, so ten
    /// thousand idle clients cost no read buffers at all.
    async fn read(&mut self) -> io::Result<Vec<u8>> {
        match self {
            Self::Plain(s) => loop {
                s.readable().await?;
                let mut buf = Vec::with_capacity(READ_SIZE);
                match s.try_read_buf(&mut buf) {
                    Ok(_) => return Ok(buf),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            },
            Self::Tls(s) => {
                let mut buf = Vec::with_capacity(READ_SIZE);
                s.read_buf(&mut buf).await?;
                Ok(buf)
            }
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.write_all(bytes).await,
            Self::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Self::Plain(s) => s.shutdown().await,
            Self::Tls(s) => s.shutdown().await,
        };
    }
}

/// Run an I/O step with a deadline; a timeout is an error that ends the connection.
async fn within<T>(
    limit: Duration,
    step: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(limit, step)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client too slow"))?
}

/// Serve one client until it quits, times out, misbehaves fatally or the server shuts
/// down.
pub(crate) async fn serve(
    mut stream: TcpStream,
    mut peer: SocketAddr,
    id: u64,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    greeting_delay: Duration,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut first_input = Vec::new();
    if let Some(accept) = shared.proxy {
        let lenient = shared.config.deviations.has(Deviation::ProxyLenient);
        match read_header(&mut stream, accept, lenient, shared.command_timeout).await? {
            Opened::Header { client, rest } => {
                peer = client.unwrap_or(peer);
                first_input = rest;
            }
            Opened::Refused => {
                let _ = stream.shutdown().await;
                return Ok(());
            }
        }
    }
    if !greeting_delay.is_zero() {
        // A busy server holds the greeting back (RFC 5321 §4.5.3.2.1).
        tokio::time::sleep(greeting_delay).await;
    }
    // RFC 5321 §4.4 TCP-info: the client's address as an address literal.
    let literal = match peer.ip() {
        std::net::IpAddr::V4(a) => AddressLiteral::V4(a),
        std::net::IpAddr::V6(a) => AddressLiteral::V6(a),
    };
    let mut session = ServerSession::new(
        Arc::clone(&shared.config),
        literal.to_string(),
        id,
        shared.tls.is_some(),
        unix_now(),
    );
    if !first_input.is_empty() {
        session.handle_input(&first_input, unix_now());
    }
    let mut transport = Some(Transport::Plain(stream));
    let mut shutting_down = *shutdown.borrow();
    loop {
        if shutting_down {
            session.handle_shutdown();
        }
        while let Some(out) = session.poll_output() {
            let Some(io) = transport.as_mut() else {
                return Ok(());
            };
            match out {
                // A client that stops reading must not hold its connection slot forever.
                Output::Send(bytes) => {
                    if !shared.reply_delay.is_zero() {
                        tokio::time::sleep(shared.reply_delay).await;
                    }
                    within(shared.command_timeout, io.write_all(&bytes)).await?;
                }
                Output::Deliver(message) => {
                    let stored = shared.store.deliver(message).await;
                    session.handle_stored(stored.map(|_| ()).map_err(|e| e.to_string()));
                }
                Output::StartTls => {
                    let (Some(acceptor), Some(Transport::Plain(tcp))) =
                        (shared.tls.as_ref(), transport.take())
                    else {
                        return Ok(());
                    };
                    // A failed handshake ends the connection: there is no way back to
                    // plaintext (RFC 3207 §4.1).
                    let tls = within(shared.command_timeout, acceptor.accept(tcp)).await?;
                    transport = Some(Transport::Tls(Box::new(tls)));
                    session.handle_tls_established();
                }
                Output::Close => {
                    io.shutdown().await;
                    return Ok(());
                }
                Output::Pause(d) => tokio::time::sleep(d).await,
            }
        }
        let limit = match session.waiting() {
            Waiting::Command => shared.command_timeout,
            Waiting::Data => shared.data_timeout,
            // Deliver and StartTls were carried out above; nothing else waits on us.
            Waiting::Driver => return Err(io::Error::other("session waits on the driver")),
            Waiting::Closed => return Ok(()),
        };
        let Some(io) = transport.as_mut() else {
            return Ok(());
        };
        tokio::select! {
            read = tokio::time::timeout(limit, io.read()) => match read {
                Err(_) => session.handle_timeout(),
                Ok(Ok(bytes)) if bytes.is_empty() => {
                    session.handle_eof();
                    return Ok(());
                }
                Ok(Ok(bytes)) => session.handle_input(&bytes, unix_now()),
                Ok(Err(e)) => return Err(e),
            },
            changed = shutdown.changed(), if !shutting_down => {
                shutting_down = changed.is_err() || *shutdown.borrow();
            }
        }
    }
}
