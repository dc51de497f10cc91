//! Group commit for the Maildir: many sessions' messages made durable by one round of
//! syncs instead of two syncs each.
//!
//! Sessions hand their messages to one committer thread, which takes everything that
//! arrived meanwhile as one round: it writes each message into `tmp/`, starts the
//! write-out of all of them, waits for each file's data (fdatasync), renames each into
//! `new/`, and syncs `new/` once for the whole round. Only then does each session get
//! its answer and send its 250 (RFC 5321 §6.1): no message is acknowledged before its
//! own file and its directory entry are on disk. While one round is on its way to the
//! disk the next one gathers, so the busier the server, the larger the rounds and the
//! fewer syncs per message.
//!
//! With [`SyncMode::FileSystem`] one `syncfs` replaces the round's fdatasyncs: two
//! device flushes per round (the files, then `new/`) instead of one per message.
//!
//! One thread does all of it on purpose: measured on a 2-core machine, handing each
//! message from thread to thread (a blocking-pool write, a sync thread, an answer)
//! cost more CPU than the file system work itself.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use crate::store::SyncMode;

/// At most this many messages in one round (a bound on the time one round takes).
pub(crate) const ROUND: usize = 256;

/// How often the store synced: what a benchmark prints as syncs per message.
#[derive(Debug, Default)]
pub(crate) struct SyncCounts {
    /// Messages acknowledged as stored.
    messages: AtomicU64,
    /// fsync and fdatasync calls, files and directory.
    fsyncs: AtomicU64,
    /// Rounds committed.
    rounds: AtomicU64,
}

impl SyncCounts {
    /// `(messages, fsyncs, rounds)` so far.
    pub(crate) fn get(&self) -> (u64, u64, u64) {
        (
            self.messages.load(Ordering::Relaxed),
            self.fsyncs.load(Ordering::Relaxed),
            self.rounds.load(Ordering::Relaxed),
        )
    }
}

/// Unique Maildir names: time, process, a counter and the host (the Maildir
/// convention's parts).
#[derive(Debug)]
pub(crate) struct Names {
    pub(crate) root: PathBuf,
    pub(crate) host: String,
    pub(crate) counter: AtomicU64,
}

impl Names {
    /// The next message's path in `tmp/` and in `new/`.
    fn next(&self) -> (PathBuf, PathBuf) {
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
        (
            self.root.join("tmp").join(&name),
            self.root.join("new").join(&name),
        )
    }
}

/// Write one message into `tmp/`, not yet synced: its file and its two names. On an
/// error nothing is left behind.
pub(crate) fn write_tmp(names: &Names, content: &[u8]) -> io::Result<(File, PathBuf, PathBuf)> {
    let (tmp, new) = names.next();
    let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    if let Err(e) = f.write_all(content) {
        drop(f);
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok((f, tmp, new))
}

/// A message waiting for its round, and where its answer goes.
struct Pending {
    content: Vec<u8>,
    done: oneshot::Sender<io::Result<PathBuf>>,
}

/// The handle sessions give their messages to.
#[derive(Debug)]
pub(crate) struct Committer {
    queue: mpsc::Sender<Pending>,
}

impl Committer {
    /// Start the committer thread; it ends when the committer is dropped.
    pub(crate) fn start(
        names: Arc<Names>,
        counts: Arc<SyncCounts>,
        mode: SyncMode,
    ) -> io::Result<Self> {
        let (queue, arrivals) = mpsc::channel::<Pending>();
        std::thread::Builder::new()
            .name("maildir-commit".into())
            .spawn(move || {
                while let Ok(first) = arrivals.recv() {
                    let mut round = vec![first];
                    round.extend(arrivals.try_iter().take(ROUND - 1));
                    commit(&names, round, &counts, mode);
                }
            })?;
        Ok(Self { queue })
    }

    /// Store `content` durably; the answer (its path in `new/`) comes when its round
    /// is on disk.
    pub(crate) async fn store(&self, content: Vec<u8>) -> io::Result<PathBuf> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Pending { content, done })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> io::Error {
    io::Error::other("the Maildir's committer has stopped")
}

/// A message written into `tmp/`, waiting for its sync and its rename.
type Written = (File, PathBuf, PathBuf, oneshot::Sender<io::Result<PathBuf>>);

/// A message whose file is on disk, waiting for its rename: its two names and its
/// session.
type Synced = (PathBuf, PathBuf, oneshot::Sender<io::Result<PathBuf>>);

/// One round: write and sync every file, rename each into `new/`, sync `new/`, answer
/// each.
fn commit(names: &Names, round: Vec<Pending>, counts: &SyncCounts, mode: SyncMode) {
    let mut written: Vec<Written> = Vec::with_capacity(round.len());
    for Pending { content, done } in round {
        match write_tmp(names, &content) {
            Ok((file, tmp, new)) => {
                drop(content);
                if mode == SyncMode::Files {
                    start_write_out(&file);
                }
                written.push((file, tmp, new, done));
            }
            Err(e) => {
                let _ = done.send(Err(e));
            }
        }
    }
    let synced = match mode {
        SyncMode::Files => sync_each(written, counts),
        SyncMode::FileSystem => sync_file_system(written, counts),
    };
    let mut renamed = Vec::with_capacity(synced.len());
    for (tmp, new, done) in synced {
        match fs::rename(&tmp, &new) {
            Ok(()) => renamed.push((new, done)),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                let _ = done.send(Err(e));
            }
        }
    }
    if renamed.is_empty() {
        return;
    }
    counts.fsyncs.fetch_add(1, Ordering::Relaxed);
    counts.rounds.fetch_add(1, Ordering::Relaxed);
    match sync_dir(&names.root.join("new")) {
        Ok(()) => {
            counts
                .messages
                .fetch_add(renamed.len() as u64, Ordering::Relaxed);
            for (new, done) in renamed {
                let _ = done.send(Ok(new));
            }
        }
        Err(e) => {
            // The renames may or may not be on disk: take every message of the round
            // back out of new/, so that the 451 each client gets is true and its
            // retry does not make a second copy.
            for (new, done) in renamed {
                let _ = fs::remove_file(&new);
                let _ = done.send(Err(io::Error::new(e.kind(), e.to_string())));
            }
        }
    }
}

/// The files whose data is on disk; the others are removed and answered.
fn sync_each(written: Vec<Written>, counts: &SyncCounts) -> Vec<Synced> {
    let mut synced = Vec::with_capacity(written.len());
    for (file, tmp, new, done) in written {
        counts.fsyncs.fetch_add(1, Ordering::Relaxed);
        let result = file.sync_data();
        drop(file);
        match result {
            Ok(()) => synced.push((tmp, new, done)),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                let _ = done.send(Err(e));
            }
        }
    }
    synced
}

/// One `syncfs` for the whole round; when it fails, no file of the round is known to
/// be on disk, so every one is removed and answered with the error.
#[cfg(target_os = "linux")]
fn sync_file_system(written: Vec<Written>, counts: &SyncCounts) -> Vec<Synced> {
    let Some((first, ..)) = written.first() else {
        return Vec::new();
    };
    counts.fsyncs.fetch_add(1, Ordering::Relaxed);
    match nix::unistd::syncfs(first) {
        Ok(()) => written
            .into_iter()
            .map(|(_, tmp, new, done)| (tmp, new, done))
            .collect(),
        Err(errno) => {
            let e = io::Error::from(errno);
            for (file, tmp, _, done) in written {
                drop(file);
                let _ = fs::remove_file(&tmp);
                let _ = done.send(Err(io::Error::new(e.kind(), e.to_string())));
            }
            Vec::new()
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn sync_file_system(written: Vec<Written>, counts: &SyncCounts) -> Vec<Synced> {
    sync_each(written, counts)
}

/// Make a directory's entries durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

/// Start writing the file's pages out without waiting, so that the round's
/// fdatasyncs wait for writes already under way instead of each starting its own
/// (and, on a journalled file system, so that the first one commits every file's
/// allocation at once). A hint: when it fails, the fdatasync does the work anyway.
fn start_write_out(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
        // Linux starts write-back of the dirty pages before it drops the clean ones;
        // the message is not read again, so dropping them costs nothing.
        let _ = posix_fadvise(file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}
