//! Where accepted messages go.
//!
//! Maildir delivery follows the Maildir convention so that a crash never leaves a
//! half-written message where a reader would see it: write the file in `tmp/`, fsync it,
//! rename it into `new/`, fsync `new/`. Only then does the session send 250 (RFC 5321
//! §6.1: after 250 the server is responsible for the message). Sessions' messages are
//! made durable together, by rounds ([`crate::commit`]); files a crash left in `tmp/`
//! are removed when the Maildir is opened again.
//!
//! Storing in a Maildir is final delivery, so the file starts with the Return-Path line
//! that RFC 5321 §4.4 requires at that point, before the Received line the session
//! added and the content exactly as received.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use crate::commit::{self, Committer, Names, SyncCounts};
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
                m.committer()?.store(content).await.map(Some)
            }
        }
    }

    /// A line for the startup message.
    pub fn describe(&self) -> String {
        match self {
            Self::Discard => "discarding messages".to_owned(),
            Self::Maildir(m) => format!(
                "storing in Maildir {} ({} unfinished file(s) left in tmp/ by a crash, removed; {})",
                m.root().display(),
                m.removed_at_start,
                match (m.format.sync, commit::effective(m.format.sync)) {
                    (SyncMode::Files, _) => "an fdatasync per file",
                    (_, SyncMode::FileSystem) => "one syncfs per round",
                    (_, SyncMode::Files) =>
                        "an fdatasync per file: file-system sync needs Linux 5.17 or later",
                }
            ),
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
    /// How a round of messages is made durable.
    pub sync: SyncMode,
}

/// How a round of messages is made durable before any of them is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// fdatasync each file, then fsync `new/` once: touches nothing but the round's
    /// own files, wherever the Maildir lives.
    #[default]
    Files,
    /// One `syncfs` per round for the round's files and the previous round's renames
    /// into `new/`: one device flush per round instead of one per message, but it also
    /// writes out every other dirty file of that file system, so it suits a Maildir on
    /// a file system of its own. Linux only; elsewhere it acts as `Files`.
    FileSystem,
}

impl Default for StoreFormat {
    fn default() -> Self {
        Self {
            lf: false,
            return_path_name: "Return-Path".into(),
            sync: SyncMode::Files,
        }
    }
}

/// Whether a file of `tmp/` was abandoned: untouched for 36 hours, or named by
/// [`crate::commit`]'s scheme (`…P<pid>Q<n>.<host>`) for this host by a process that
/// no longer runs, or by this very process before it started.
fn left_by_a_crash(name: &str, meta: &fs::Metadata, host: &str) -> bool {
    const ABANDONED: std::time::Duration = std::time::Duration::from_secs(36 * 3600);
    if meta
        .modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|age| age > ABANDONED)
    {
        return true;
    }
    let Some(rest) = name.strip_suffix(host).and_then(|r| r.strip_suffix('.')) else {
        return false;
    };
    let pid = rest
        .rsplit_once('P')
        .and_then(|(_, p)| p.split_once('Q'))
        .and_then(|(p, _)| p.parse::<i32>().ok());
    match pid {
        Some(pid) if pid > 0 => {
            pid == std::process::id() as i32
                || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                    == Err(nix::errno::Errno::ESRCH)
        }
        _ => false,
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
    names: Arc<Names>,
    /// How messages are written.
    pub format: StoreFormat,
    /// Files a crash had left in `tmp/`, removed when it was opened.
    pub removed_at_start: usize,
    /// The group committer, started by the first message.
    committer: OnceLock<Committer>,
    counts: Arc<SyncCounts>,
}

impl Maildir {
    /// Open or create the Maildir at `root`. Files in `tmp/` that a crash left
    /// half-written are removed and counted: this host's whose writing process is
    /// gone (or is this one: a restarted container gets the same process id), and
    /// any untouched for 36 hours (the Maildir convention). Another live writer's
    /// files stay.
    pub fn create(root: impl Into<PathBuf>, host: &str) -> io::Result<Self> {
        let root = root.into();
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(root.join(sub))?;
        }
        // The unique-name rule forbids '/' and ':' in the host part.
        let host = host.replace(['/', ':'], "_");
        let mut removed_at_start = 0;
        for entry in fs::read_dir(root.join("tmp"))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let name = entry.file_name();
            if meta.is_file() && left_by_a_crash(&name.to_string_lossy(), &meta, &host) {
                fs::remove_file(entry.path())?;
                removed_at_start += 1;
            }
        }
        Ok(Self {
            names: Arc::new(Names {
                root,
                host,
                counter: AtomicU64::new(0),
            }),
            format: StoreFormat::default(),
            removed_at_start,
            committer: OnceLock::new(),
            counts: Arc::default(),
        })
    }

    /// The Maildir's directory.
    pub fn root(&self) -> &Path {
        &self.names.root
    }

    /// How often it synced, for benchmarks: `(messages, fsyncs, rounds)`.
    pub fn sync_counts(&self) -> (u64, u64, u64) {
        self.counts.get()
    }

    fn committer(&self) -> io::Result<&Committer> {
        if let Some(c) = self.committer.get() {
            return Ok(c);
        }
        let c = Committer::start(
            Arc::clone(&self.names),
            Arc::clone(&self.counts),
            self.format.sync,
        )?;
        // Two first messages at once: one committer wins, the other is dropped
        // unused (its thread ends at once).
        Ok(self.committer.get_or_init(|| c))
    }

    /// Write one message durably on its own (no round); returns its path in `new/`.
    pub fn deliver(&self, content: &[u8]) -> io::Result<PathBuf> {
        let (f, tmp, new) = commit::write_tmp(&self.names, content)?;
        // From here on the temporary file is ours to remove if anything fails.
        let written = f.sync_all().and_then(|()| fs::rename(&tmp, &new));
        drop(f);
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        // The rename is only durable once the directory is: if that fails the message
        // is taken back out of new/, so that the 451 the client gets is true and its
        // retry does not make a second copy.
        if let Err(e) = commit::sync_dir(&self.root().join("new")) {
            let _ = fs::remove_file(&new);
            return Err(e);
        }
        Ok(new)
    }

    /// Paths of the messages in `new/`, oldest name first.
    pub fn messages(&self) -> io::Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.root().join("new"))?
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn messages_stored_at_once_share_rounds_and_each_lands_whole() {
        let (dir, md) = stored_at_once(SyncMode::Files).await;
        let (messages, fsyncs, rounds) = md.sync_counts();
        assert_eq!(messages, 64);
        // One fdatasync per file and one directory sync per round.
        assert_eq!(fsyncs, 64 + rounds);
        assert!((1..=64).contains(&rounds), "{rounds}");
        drop(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg(target_os = "linux")]
    async fn a_file_system_sync_serves_one_rounds_files_and_the_last_ones_names() {
        let (dir, md) = stored_at_once(SyncMode::FileSystem).await;
        let (messages, fsyncs, rounds) = md.sync_counts();
        assert_eq!(messages, 64);
        // One syncfs per round; each message needs two (its data's, then its name's),
        // so there are at least two rounds and at most two per message.
        assert_eq!(fsyncs, rounds);
        assert!((2..=128).contains(&rounds), "{rounds}");
        drop(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg(target_os = "linux")]
    async fn a_lone_file_system_message_is_answered_without_waiting_for_another() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut md = Maildir::create(dir.path().join("md"), "mx.test").expect("create");
        md.format.sync = SyncMode::FileSystem;
        let md = Arc::new(md);
        // One at a time: each answer must come although no later message arrives to
        // share its second sync.
        for i in 0..3 {
            let p = tokio::time::timeout(
                // Long enough for a loaded machine's syncfs; a committer that waits
                // for a later message never answers.
                std::time::Duration::from_secs(60),
                md.committer().expect("committer").store(body(i)),
            )
            .await
            .expect("answered without a later message")
            .expect("stored");
            assert_eq!(fs::read(&p).expect("read"), body(i));
        }
        assert_eq!(md.sync_counts(), (3, 6, 6), "two syncs each, alone");
        assert_eq!(
            fs::read_dir(dir.path().join("md/tmp"))
                .expect("tmp")
                .count(),
            0
        );
    }

    /// 64 messages stored at once with `sync`: each lands whole, once, and `tmp/` is
    /// left empty.
    async fn stored_at_once(sync: SyncMode) -> (tempfile::TempDir, Arc<Maildir>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut md = Maildir::create(dir.path().join("md"), "mx.test").expect("create");
        md.format.sync = sync;
        let md = Arc::new(md);
        let stored: Vec<PathBuf> = futures_join(&md, 64).await;
        let mut bodies: Vec<Vec<u8>> = stored.iter().map(|p| fs::read(p).expect("read")).collect();
        bodies.sort();
        let mut sent: Vec<Vec<u8>> = (0..64).map(body).collect();
        sent.sort();
        assert_eq!(bodies, sent, "every message whole, once");
        assert_eq!(md.messages().expect("list").len(), 64);
        assert_eq!(
            fs::read_dir(dir.path().join("md/tmp"))
                .expect("tmp")
                .count(),
            0
        );
        (dir, md)
    }

    fn body(i: usize) -> Vec<u8> {
        format!("Subject: {i}\r\n\r\n{}\r\n", "x".repeat(i * 100)).into_bytes()
    }

    /// Store `n` messages at once through the committer.
    async fn futures_join(md: &Arc<Maildir>, n: usize) -> Vec<PathBuf> {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let md = Arc::clone(md);
                tokio::spawn(async move { md.committer().expect("committer").store(body(i)).await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task").expect("stored"));
        }
        out
    }

    #[test]
    fn what_a_crash_left_in_tmp_is_removed_and_counted_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("md");
        let md = Maildir::create(&root, "mx.test").expect("create");
        md.deliver(b"kept\r\n").expect("deliver");
        assert_eq!(md.removed_at_start, 0);
        let me = std::process::id();
        // Left by a process that is gone, and by this one's id before it started.
        fs::write(root.join("tmp/1.M1P999999999Q1.mx.test"), b"half a mess").expect("plant");
        fs::write(root.join(format!("tmp/2.M2P{me}Q2.mx.test")), b"").expect("plant");
        // A live writer's (process 1 runs), and another host's: kept.
        fs::write(root.join("tmp/3.M3P1Q3.mx.test"), b"being written").expect("plant");
        fs::write(root.join("tmp/4.M4P999999999Q4.other.test"), b"not ours").expect("plant");
        let again = Maildir::create(&root, "mx.test").expect("reopen");
        assert_eq!(again.removed_at_start, 2);
        let mut left: Vec<String> = fs::read_dir(root.join("tmp"))
            .expect("tmp")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["3.M3P1Q3.mx.test", "4.M4P999999999Q4.other.test"]);
        assert_eq!(again.messages().expect("list").len(), 1, "new/ untouched");
        assert!(
            Store::Maildir(Arc::new(again))
                .describe()
                .contains("(2 unfinished file(s)")
        );
    }
}
