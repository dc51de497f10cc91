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
//! With [`SyncMode::FileSystem`] one `syncfs` per round does the work of both, for two
//! rounds at once: it makes this round's files durable and the renames of the previous
//! round's files (whose data the previous `syncfs` made durable) too, and only then are
//! those previous messages acknowledged. A message still waits for two syncs, its data's
//! and its name's, but under load each sync serves two rounds: one device flush per
//! round instead of two, or one per message. When nothing new arrives, the renamed
//! files get a sync of their own at once.
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
        let mode = effective(mode);
        std::thread::Builder::new()
            .name("maildir-commit".into())
            .spawn(move || {
                // Files whose data is durable, to be renamed by the next round
                // (file-system mode only).
                let mut carried: Vec<Synced> = Vec::new();
                // Held open for rounds that only rename: opening it then could fail
                // (out of descriptors) and throw away messages already durable.
                let new_dir = File::open(names.root.join("new"));
                loop {
                    // With files carried, nothing is waited for: their round goes now.
                    let first = if carried.is_empty() {
                        match arrivals.recv() {
                            Ok(first) => Some(first),
                            Err(_) => break,
                        }
                    } else {
                        arrivals.try_recv().ok()
                    };
                    let mut round: Vec<Pending> = first.into_iter().collect();
                    round.extend(arrivals.try_iter().take(ROUND - round.len()));
                    match mode {
                        SyncMode::Files => commit(&names, round, &counts),
                        SyncMode::FileSystem => {
                            carried = commit_shared(
                                &names,
                                round,
                                carried,
                                new_dir.as_ref().ok(),
                                &counts,
                            );
                        }
                    }
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

/// Write each message of the round into `tmp/`; a message that cannot be written is
/// answered at once.
fn write_round(names: &Names, round: Vec<Pending>, write_out: bool) -> Vec<Written> {
    let mut written: Vec<Written> = Vec::with_capacity(round.len());
    for Pending { content, done } in round {
        match write_tmp(names, &content) {
            Ok((file, tmp, new)) => {
                drop(content);
                if write_out {
                    start_write_out(&file);
                }
                written.push((file, tmp, new, done));
            }
            Err(e) => {
                let _ = done.send(Err(e));
            }
        }
    }
    written
}

/// A message in `new/`, waiting for its name to be durable: its path and its session.
type Renamed = (PathBuf, oneshot::Sender<io::Result<PathBuf>>);

/// Rename each synced file into `new/`; a file that cannot be renamed is removed and
/// answered.
fn rename_all(synced: Vec<Synced>) -> Vec<Renamed> {
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
    renamed
}

/// Answer the renamed messages by the result of the sync that covered their names.
/// When it failed the renames may or may not be on disk: every one is taken back out
/// of `new/`, so that the 451 each client gets is true and its retry does not make a
/// second copy.
fn answer_renamed(renamed: Vec<Renamed>, synced: &io::Result<()>, counts: &SyncCounts) {
    match synced {
        Ok(()) => {
            counts
                .messages
                .fetch_add(renamed.len() as u64, Ordering::Relaxed);
            for (new, done) in renamed {
                let _ = done.send(Ok(new));
            }
        }
        Err(e) => {
            for (new, done) in renamed {
                let _ = fs::remove_file(&new);
                let _ = done.send(Err(io::Error::new(e.kind(), e.to_string())));
            }
        }
    }
}

/// One round with [`SyncMode::Files`]: write and sync every file, rename each into
/// `new/`, sync `new/`, answer each.
fn commit(names: &Names, round: Vec<Pending>, counts: &SyncCounts) {
    let written = write_round(names, round, true);
    let renamed = rename_all(sync_each(written, counts));
    if renamed.is_empty() {
        return;
    }
    counts.fsyncs.fetch_add(1, Ordering::Relaxed);
    counts.rounds.fetch_add(1, Ordering::Relaxed);
    answer_renamed(renamed, &sync_dir(&names.root.join("new")), counts);
}

/// One round with [`SyncMode::FileSystem`]: write this round's files, rename the
/// `carried` ones (their data is durable) into `new/`, then one `syncfs` for both.
/// The renamed messages are answered; this round's files are returned, for the next
/// round to rename.
fn commit_shared(
    names: &Names,
    round: Vec<Pending>,
    carried: Vec<Synced>,
    new_dir: Option<&File>,
    counts: &SyncCounts,
) -> Vec<Synced> {
    let written = write_round(names, round, false);
    let renamed = rename_all(carried);
    if written.is_empty() && renamed.is_empty() {
        return Vec::new();
    }
    counts.fsyncs.fetch_add(1, Ordering::Relaxed);
    counts.rounds.fetch_add(1, Ordering::Relaxed);
    let synced = match (written.first(), new_dir) {
        (Some((file, ..)), _) => sync_file_system(file),
        (None, Some(dir)) => sync_file_system(dir),
        (None, None) => File::open(names.root.join("new")).and_then(|d| sync_file_system(&d)),
    };
    let next = match &synced {
        Ok(()) => written
            .into_iter()
            .map(|(_, tmp, new, done)| (tmp, new, done))
            .collect(),
        Err(e) => {
            // No file of the round is known to be on disk.
            for (file, tmp, _, done) in written {
                drop(file);
                let _ = fs::remove_file(&tmp);
                let _ = done.send(Err(io::Error::new(e.kind(), e.to_string())));
            }
            Vec::new()
        }
    };
    answer_renamed(renamed, &synced, counts);
    next
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

/// The mode a committer runs: file-system mode only where `syncfs` reports the file
/// system's own sync failures, Linux 5.17 and later. Before, `syncfs` returned 0 when
/// the journal commit or log force failed, and a 250 could go out for a name that never
/// reached the disk; elsewhere there is no `syncfs`. `Files` is then used.
pub(crate) fn effective(mode: SyncMode) -> SyncMode {
    if mode == SyncMode::FileSystem && !syncfs_reports_errors() {
        SyncMode::Files
    } else {
        mode
    }
}

fn syncfs_reports_errors() -> bool {
    cfg!(target_os = "linux")
        && fs::read_to_string("/proc/sys/kernel/osrelease")
            .is_ok_and(|release| kernel_at_least(&release, (5, 17)))
}

/// True when a kernel release such as `6.1.0-13-amd64` is at least `major.minor`.
fn kernel_at_least(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// Everything written on the file system that holds `file`, data and names, made
/// durable by one `syncfs` (on ext4, XFS or btrfs, whose own sync flushes the device;
/// not on file systems without one, such as vfat, FUSE or NFS).
#[cfg(target_os = "linux")]
fn sync_file_system(file: &File) -> io::Result<()> {
    nix::unistd::syncfs(file).map_err(io::Error::from)
}

/// Never called: without `syncfs` the committer runs file-system mode as `Files`
/// ([`effective`]).
#[cfg(not(target_os = "linux"))]
fn sync_file_system(_file: &File) -> io::Result<()> {
    Err(io::Error::other("syncfs is Linux only"))
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

#[cfg(test)]
mod tests {
    use super::kernel_at_least;

    #[test]
    fn kernel_releases_are_compared_by_major_and_minor() {
        for (release, ok) in [
            ("5.17.0", true),
            ("6.1.0-13-amd64", true),
            ("6.18.44-fc-v1300\n", true),
            ("5.16.20", false),
            ("5.4.0-150-generic", false),
            ("4.19.0", false),
            ("10.0", true),
            ("", false),
            ("garbage", false),
        ] {
            assert_eq!(kernel_at_least(release, (5, 17)), ok, "{release:?}");
        }
    }
}
