//! Where accepted messages go.
//!
//! Maildir delivery follows the Maildir convention so that a crash never leaves a
//! half-written message where a reader would see it: write the file in `tmp/`, fsync it,
//! rename it into `new/`, fsync `new/`. Only then does the session send 250 (RFC 5321
//! §6.1: after 250 the server is responsible for the message).
//!
//! Storing in a Maildir is final delivery, so the file starts with the Return-Path line
//! that RFC 5321 §4.4 requires at that point, before the Received line the session
//! added and the content exactly as received.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use smtp_protocol::server::{Message, received};

/// The message store of a server.
#[derive(Debug, Clone)]
pub enum Store {
    /// A Maildir: one file per message in `new/`.
    Maildir(Arc<Maildir>),
    /// Accept and forget: for load benchmarks, where the disk is not under test.
    Discard,
}

impl Store {
    /// Store `message` durably; returns where (`None` for the discard store).
    pub async fn deliver(&self, message: Box<Message>) -> io::Result<Option<PathBuf>> {
        match self {
            Self::Discard => Ok(None),
            Self::Maildir(m) => {
                let m = Arc::clone(m);
                let line = received::return_path(&message.envelope.from);
                let line = match line.split_once(':') {
                    Some((_, rest)) => format!("{}:{rest}", m.format.return_path_name),
                    None => line,
                };
                let mut content = line.into_bytes();
                content.extend_from_slice(&message.content);
                if m.format.lf {
                    content = crlf_to_lf(&content);
                }
                tokio::task::spawn_blocking(move || m.deliver(&content).map(Some))
                    .await
                    .map_err(io::Error::other)?
            }
        }
    }

    /// A line for the startup message.
    pub fn describe(&self) -> String {
        match self {
            Self::Discard => "discarding messages".to_owned(),
            Self::Maildir(m) => format!("storing in Maildir {}", m.root().display()),
        }
    }
}

/// How stored messages are written. The default keeps the octets as received (CRLF)
/// under a `Return-Path:` line; Unix delivery agents write LF line ends, and some
/// spell the header `Return-path:` (header names are case-insensitive, RFC 5322
/// §1.2.2), so the harness must read stores of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFormat {
    /// Convert CRLF line ends to LF when writing.
    pub lf: bool,
    /// The name written for the Return-Path header field.
    pub return_path_name: String,
}

impl Default for StoreFormat {
    fn default() -> Self {
        Self {
            lf: false,
            return_path_name: "Return-Path".into(),
        }
    }
}

/// What a Unix delivery agent makes of CRLF line ends.
fn crlf_to_lf(octets: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(octets.len());
    for (i, &b) in octets.iter().enumerate() {
        if !(b == b'\r' && octets.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// A Maildir (tmp/, new/, cur/) owned by this server.
#[derive(Debug)]
pub struct Maildir {
    root: PathBuf,
    host: String,
    counter: AtomicU64,
    /// How messages are written.
    pub format: StoreFormat,
}

impl Maildir {
    /// Open or create the Maildir at `root`.
    pub fn create(root: impl Into<PathBuf>, host: &str) -> io::Result<Self> {
        let root = root.into();
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(root.join(sub))?;
        }
        // The unique-name rule forbids '/' and ':' in the host part.
        let host = host.replace(['/', ':'], "_");
        Ok(Self {
            root,
            host,
            counter: AtomicU64::new(0),
            format: StoreFormat::default(),
        })
    }

    /// The Maildir's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Write one message; returns its path in `new/`.
    pub fn deliver(&self, content: &[u8]) -> io::Result<PathBuf> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{}.M{}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            n,
            self.host
        );
        let tmp = self.root.join("tmp").join(&name);
        let new = self.root.join("new").join(&name);
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        // From here on the temporary file is ours to remove if anything fails.
        let written = f
            .write_all(content)
            .and_then(|()| f.sync_all())
            .and_then(|()| fs::rename(&tmp, &new));
        drop(f);
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        // The rename is only durable once the directory is: if that fails the message
        // is taken back out of new/, so that the 451 the client gets is true and its
        // retry does not make a second copy.
        if let Err(e) = File::open(self.root.join("new")).and_then(|d| d.sync_all()) {
            let _ = fs::remove_file(&new);
            return Err(e);
        }
        Ok(new)
    }

    /// Paths of the messages in `new/`, oldest name first.
    pub fn messages(&self) -> io::Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.root.join("new"))?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()?;
        v.sort();
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maildir_delivery_lands_in_new_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let md = Maildir::create(dir.path().join("md"), "mx.test").expect("create");
        let p = md.deliver(b"Subject: x\r\n\r\nbody\r\n").expect("deliver");
        assert!(p.starts_with(dir.path().join("md/new")));
        assert_eq!(fs::read(&p).expect("read"), b"Subject: x\r\n\r\nbody\r\n");
        assert_eq!(
            fs::read_dir(dir.path().join("md/tmp"))
                .expect("tmp")
                .count(),
            0
        );
        assert_eq!(md.messages().expect("list").len(), 1);
    }
}
