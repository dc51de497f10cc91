//! The listener: accept connections up to a limit, run each in its own task, shut down
//! gracefully.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smtp_protocol::reply::{Reply, ReplyCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::connection::{self, Shared};
use crate::settings::{Settings, SettingsError, StoreKind};
use crate::store::{Maildir, Store};
use crate::tls::Identity;

/// How long connections in the middle of a message get to finish after a shutdown
/// request before they are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A bound, not yet running, reference server.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    max_connections: usize,
    greeting_delay: Option<crate::settings::GreetingDelay>,
    /// Keeps a temporary Maildir alive as long as the server.
    _tempdir: Option<tempfile::TempDir>,
}

/// A server running in the background, for tests and the embedded target.
pub struct RunningServer {
    addr: SocketAddr,
    store: Store,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl RunningServer {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Shut down gracefully and wait.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.map_err(io::Error::other)?
    }
}

impl Server {
    /// Bind the listener and prepare the store and TLS.
    pub async fn bind(settings: Settings) -> Result<Self, SettingsError> {
        let err = |what: &str, e: &dyn std::fmt::Display| SettingsError(format!("{what}: {e}"));
        let tls = if settings.protocol.extensions.starttls {
            let identity = match (&settings.tls.cert, &settings.tls.key) {
                (Some(c), Some(k)) => Identity::from_pem_files(c, k),
                _ => Identity::self_signed(&settings.protocol.hostname),
            }
            .map_err(|e| err("tls", &e))?;
            Some(identity.acceptor().map_err(|e| err("tls", &e))?)
        } else {
            None
        };
        let mut tempdir = None;
        let store = match settings.store {
            StoreKind::Discard => Store::Discard,
            StoreKind::Maildir => {
                let root = match &settings.maildir {
                    Some(p) => p.clone(),
                    None => {
                        let t = tempfile::Builder::new()
                            .prefix("smtpspec-")
                            .tempdir()
                            .map_err(|e| err("maildir", &e))?;
                        let p = t.path().join("Maildir");
                        tempdir = Some(t);
                        p
                    }
                };
                let mut md = Maildir::create(&root, &settings.protocol.hostname)
                    .map_err(|e| err(&format!("maildir {}", root.display()), &e))?;
                md.format = settings.store_format.clone();
                Store::Maildir(Arc::new(md))
            }
        };
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| err(&format!("listen {}", settings.listen), &e))?;
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                config: Arc::new(settings.protocol),
                store,
                tls,
                command_timeout: settings.command_timeout,
                data_timeout: settings.data_timeout,
                reply_delay: settings.reply_delay,
                proxy: settings.proxy,
            }),
            max_connections: settings.max_connections,
            greeting_delay: settings.greeting_delay,
            _tempdir: tempdir,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The store messages go to.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// True if STARTTLS can be offered.
    pub fn has_tls(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// Run in a background task until [`RunningServer::stop`].
    pub fn spawn(self) -> io::Result<RunningServer> {
        let addr = self.local_addr()?;
        let store = self.shared.store.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            let _ = stopped.await;
        }));
        Ok(RunningServer {
            addr,
            store,
            stop: Some(stop),
            task,
        })
    }

    /// Accept connections until `shutdown` completes; then ask every session to close
    /// (421 to those waiting for a command) and wait for them, at most
    /// [`SHUTDOWN_GRACE`].
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let limit = Arc::new(Semaphore::new(self.max_connections));
        let (tell, hear) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut next_id = 0u64;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (mut stream, peer) = match accepted {
                        Ok(x) => x,
                        // Out of file descriptors and the like: wait rather than spin.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                        // RFC 5321 §3.1: a server may refuse a connection with 421.
                        let busy = Reply::new(
                            ReplyCode::SERVICE_NOT_AVAILABLE,
                            "Too many connections, try again later",
                        );
                        let _ = stream.write_all(&busy.to_bytes()).await;
                        continue;
                    };
                    next_id += 1;
                    let shared = Arc::clone(&self.shared);
                    let hear = hear.clone();
                    let open = self.max_connections - limit.available_permits();
                    let delay = self
                        .greeting_delay
                        .map_or(Duration::ZERO, |d| d.for_open(open));
                    tasks.spawn(async move {
                        let _ = connection::serve(stream, peer, next_id, shared, hear, delay).await;
                        drop(permit);
                    });
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = &mut shutdown => break,
            }
        }
        let _ = tell.send(true);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
        }
        Ok(())
    }
}
