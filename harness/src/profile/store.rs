//! Reading what a target stored, for `expect_stored`: a Maildir, an mbox file, or a
//! directory with one file per message, with CRLF or LF line ends.
//!
//! Every check here is made on evidence: a store that cannot be read is reported as
//! such (the case is then skipped, never passed), and a message is found only by the
//! token the case put into it.

use std::path::{Path, PathBuf};

/// How a target lays out its stored messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A Maildir: one file per message in `new/` (or `cur/` once read).
    Maildir,
    /// One mbox file: messages separated by `From ` lines.
    Mbox,
    /// A directory holding one file per message (any names).
    Files,
}

impl StoreKind {
    /// As written in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Maildir => "maildir",
            Self::Mbox => "mbox",
            Self::Files => "files",
        }
    }
}

/// Where a target's accepted messages can be read.
#[derive(Debug, Clone)]
pub struct MailStore {
    /// The layout.
    pub kind: StoreKind,
    /// The Maildir or directory, or the mbox file.
    pub dir: PathBuf,
    /// The delivery agent stores LF line ends (expected CRLF is matched as LF).
    pub lf: bool,
}

impl MailStore {
    /// A Maildir with CRLF line ends.
    pub fn maildir(dir: PathBuf) -> Self {
        Self {
            kind: StoreKind::Maildir,
            dir,
            lf: false,
        }
    }

    /// Why the store cannot be read, if it cannot. Delivery agents make a Maildir or an
    /// mbox with the first message, so a store not there yet is read as empty as long
    /// as the directory it is to appear in exists.
    pub fn problem(&self) -> Option<String> {
        if self.dir.exists() || self.dir.parent().is_some_and(Path::is_dir) {
            return None;
        }
        Some(format!(
            "the {} store {} cannot be read: neither it nor its directory exists",
            self.kind.as_str(),
            self.dir.display()
        ))
    }

    /// The stored message that carries `token`, if one does.
    pub fn find(&self, token: &[u8]) -> Option<Vec<u8>> {
        let has = |m: &[u8]| m.windows(token.len().max(1)).any(|w| w == token);
        match self.kind {
            StoreKind::Maildir => ["new", "cur"]
                .iter()
                .flat_map(|sub| files(&self.dir.join(sub)))
                .filter_map(|p| std::fs::read(p).ok())
                .find(|m| has(m)),
            StoreKind::Files => files(&self.dir)
                .into_iter()
                .filter_map(|p| std::fs::read(p).ok())
                .find(|m| has(m)),
            StoreKind::Mbox => {
                let all = std::fs::read(&self.dir).ok()?;
                mbox_messages(&all).into_iter().find(|m| has(m))
            }
        }
    }

    /// How many messages the store holds now (the fuzzer's store oracle compares it
    /// with the messages acknowledged). A Maildir's `tmp/` is not counted: a message
    /// there is not delivered yet.
    pub fn count(&self) -> usize {
        let entries = |dir: &Path| std::fs::read_dir(dir).map_or(0, |rd| rd.flatten().count());
        match self.kind {
            StoreKind::Maildir => entries(&self.dir.join("new")) + entries(&self.dir.join("cur")),
            StoreKind::Files => entries(&self.dir),
            StoreKind::Mbox => std::fs::read(&self.dir).map_or(0, |all| mbox_messages(&all).len()),
        }
    }

    /// Octets as the store would hold them: CRLF becomes LF for an LF store.
    pub fn as_stored(&self, octets: &[u8]) -> Vec<u8> {
        if self.lf {
            crlf_to_lf(octets)
        } else {
            octets.to_vec()
        }
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default()
}

/// Split an mbox into its messages: each starts at a `From ` line at the start of the
/// file or after an empty line (the mboxo/mboxrd convention).
fn mbox_messages(all: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut prev_empty = true;
    for line in all.split_inclusive(|&b| b == b'\n') {
        if prev_empty && line.starts_with(b"From ") {
            if let Some(m) = current.take() {
                out.push(m);
            }
            current = Some(Vec::new());
        } else if let Some(m) = current.as_mut() {
            m.extend_from_slice(line);
        }
        prev_empty = line == b"\n" || line == b"\r\n";
    }
    out.extend(current);
    out
}

/// What a Unix delivery agent makes of CRLF line ends.
pub fn crlf_to_lf(octets: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(octets.len());
    for (i, &b) in octets.iter().enumerate() {
        if !(b == b'\r' && octets.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// The header fields of a stored message, names as written, values unfolded (RFC 5322
/// §2.2.3) and trimmed; the header section ends at the first empty line.
pub fn header_fields(message: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(message);
    let mut fields: Vec<(String, String)> = Vec::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim_end().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_at_from_lines_after_empty_lines() {
        let mbox = b"From a@b Mon Jan 1 00:00:00 2024\nSubject: one\n\nbody\nFrom here on\n\nFrom c@d Tue Jan 2 00:00:00 2024\nSubject: two\n\nx\n";
        let m = mbox_messages(mbox);
        assert_eq!(m.len(), 2);
        assert!(m[0].starts_with(b"Subject: one") && m[0].ends_with(b"From here on\n\n"));
        assert!(m[1].starts_with(b"Subject: two"));
    }

    #[test]
    fn header_names_keep_their_spelling_and_values_unfold() {
        let f = header_fields(
            b"Return-path: <a@b>\r\nReceived: from x\r\n\tby y; date\r\n\r\nReceived: body\r\n",
        );
        assert_eq!(f.len(), 2);
        assert_eq!(f[0], ("Return-path".into(), "<a@b>".into()));
        assert_eq!(f[1].1, "from x by y; date");
    }

    #[test]
    fn stores_of_every_kind_are_searched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let md = dir.path().join("md");
        std::fs::create_dir_all(md.join("new")).expect("mkdir");
        std::fs::write(md.join("new/1"), b"Subject: tok-1\r\n\r\nx\r\n").expect("write");
        let m = MailStore::maildir(md);
        assert!(m.problem().is_none());
        assert!(m.find(b"tok-1").is_some() && m.find(b"tok-2").is_none());
        let files = MailStore {
            kind: StoreKind::Files,
            dir: dir.path().join("files"),
            lf: true,
        };
        assert!(files.problem().is_none(), "appears with the first message");
        let nowhere = MailStore {
            kind: StoreKind::Files,
            dir: dir.path().join("no/such/dir"),
            lf: false,
        };
        assert!(nowhere.problem().is_some(), "a missing directory is named");
        let mbox = MailStore {
            kind: StoreKind::Mbox,
            dir: dir.path().join("mbox"),
            lf: true,
        };
        std::fs::write(&mbox.dir, b"From x\nSubject: tok-3\n\nbody\n").expect("write");
        assert!(mbox.find(b"tok-3").is_some());
        assert_eq!(mbox.as_stored(b"a\r\nb"), b"a\nb");
    }
}
