//! A small SMTP test client over real sockets, and a server started on 127.0.0.1:0.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reference_server::settings::FileSettings;
use reference_server::{RunningServer, Server};
use rustls_pki_types::{CertificateDer, ServerName};
use smtp_protocol::reply::{Reply, ReplyParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Fixture {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    pub cert: CertificateDer<'static>,
}

impl Fixture {
    pub fn maildir_messages(&self) -> Vec<Vec<u8>> {
        let new = self.dir.path().join("Maildir/new");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&new)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read(p).expect("read message"))
            .collect()
    }

    pub async fn connect(&self) -> Client {
        Client::connect(self.server.addr(), self.cert.clone()).await
    }
}

/// Start a server with a Maildir in a fresh directory, a certificate written to PEM
/// files, and `yaml` settings on top of the defaults.
pub async fn start(yaml: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let ck = rcgen::generate_simple_self_signed(vec!["mx.test".to_owned(), "localhost".to_owned()])
        .expect("certificate");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, ck.cert.pem()).expect("write cert");
    std::fs::write(&key_path, ck.signing_key.serialize_pem()).expect("write key");
    let full = format!(
        "listen: 127.0.0.1:0\nhostname: mx.test\nmaildir: {}\ntls: {{cert: {}, key: {}}}\n{yaml}",
        dir.path().join("Maildir").display(),
        cert_path.display(),
        key_path.display()
    );
    let settings = FileSettings::from_yaml(&full, std::path::Path::new("test.yaml"))
        .and_then(FileSettings::resolve)
        .expect("settings");
    let server = Server::bind(settings)
        .await
        .expect("bind")
        .spawn()
        .expect("spawn");
    Fixture {
        server,
        dir,
        cert: ck.cert.der().clone(),
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct Client {
    io: Option<Box<dyn Io>>,
    tcp: Option<TcpStream>,
    parser: ReplyParser,
    cert: CertificateDer<'static>,
    pub received: Vec<u8>,
}

const REPLY_WAIT: Duration = Duration::from_secs(5);

impl Client {
    pub async fn connect(addr: SocketAddr, cert: CertificateDer<'static>) -> Self {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Self {
            io: None,
            tcp: Some(tcp),
            parser: ReplyParser::new(),
            cert,
            received: Vec::new(),
        }
    }

    fn stream(&mut self) -> &mut (dyn Io + '_) {
        match (&mut self.io, &mut self.tcp) {
            (Some(io), _) => io.as_mut(),
            (None, Some(tcp)) => tcp,
            (None, None) => panic!("no transport"),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        let s = self.stream();
        s.write_all(bytes).await.expect("write");
        s.flush().await.expect("flush");
    }

    /// Read until one complete reply is parsed.
    pub async fn reply(&mut self) -> Reply {
        loop {
            if let Some(r) = self.parser.next_reply() {
                return r.expect("well-formed reply").reply;
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(REPLY_WAIT, self.stream().read(&mut buf))
                .await
                .expect("a reply within 5 s")
                .expect("read");
            assert!(n > 0, "connection closed while waiting for a reply");
            self.received.extend_from_slice(&buf[..n]);
            self.parser.push(&buf[..n]);
        }
    }

    /// Send a command line, return its reply.
    pub async fn cmd(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Everything that arrives until the server is quiet for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> String {
        self.drain_after(quiet, quiet).await
    }

    /// Like [`drain`](Self::drain), but the first octet may take up to `first`: for
    /// replies that come after a durable write.
    pub async fn drain_after(&mut self, first: Duration, quiet: Duration) -> String {
        let mut wait = first;
        let mut out = Vec::new();
        if let Some(parser_left) = Some(self.parser.take_remaining()) {
            out.extend_from_slice(&parser_left);
        }
        loop {
            let mut buf = [0u8; 4096];
            match tokio::time::timeout(wait, self.stream().read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
                _ => break,
            }
            wait = quiet;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// True if the server closed the connection within `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let mut buf = [0u8; 256];
        loop {
            match tokio::time::timeout(wait, self.stream().read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.parser.push(&buf[..n]),
                Err(_) => return false,
            }
        }
    }

    /// Run the TLS handshake (after a 220 to STARTTLS).
    pub async fn handshake(&mut self) {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert.clone())
            .expect("trust the test certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = self.tcp.take().expect("plain transport");
        let name = ServerName::try_from("localhost").expect("name");
        let tls = connector.connect(name, tcp).await.expect("TLS handshake");
        self.io = Some(Box::new(tls));
        self.parser = ReplyParser::new();
    }

    pub async fn starttls(&mut self) {
        assert_eq!(self.cmd("STARTTLS").await.code.get(), 220);
        self.handshake().await;
    }
}
