//! The catalogue (`scenarios/`) and the requirements index (`requirements/`) built
//! into the binary by `harness/build.rs`, so that an installed `smtpspec` works from
//! any directory, away from its source tree.
//!
//! They are unpacked once per content into a cache directory rather than read from
//! memory: every reader keeps reading files, and a located error (`file:line:column`)
//! names a file the user can open.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::outcome::HarnessError;

include!(concat!(env!("OUT_DIR"), "/shipped.rs"));

/// Where the shipped files are unpacked (`scenarios/`, `requirements/` in it), or
/// why they could not be: no writable cache directory and no writable temporary one.
pub fn root() -> Result<&'static Path, &'static HarnessError> {
    static ROOT: OnceLock<Result<PathBuf, HarnessError>> = OnceLock::new();
    ROOT.get_or_init(unpack).as_deref()
}

/// `name/` in the working directory when there is one (a source tree being edited
/// wins over the copy it was built from), else the shipped copy; when that cannot be
/// unpacked, the reason is said once and the source tree's path is used, whose
/// absence the reader then reports with the path.
pub fn local_or_shipped(name: &str) -> PathBuf {
    let here = PathBuf::from(name);
    if here.is_dir() {
        return here;
    }
    match root() {
        Ok(root) => root.join(name),
        Err(why) => {
            static SAID: OnceLock<()> = OnceLock::new();
            SAID.get_or_init(|| eprintln!("smtpspec: {why}"));
            Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
        }
    }
}

/// A name that changes with the content, so that two versions never share a copy.
fn digest() -> String {
    let mut h = Sha256::new();
    for (name, bytes) in FILES {
        h.update(name.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The user's cache (`$XDG_CACHE_HOME`, or `~/.cache`), then the temporary
/// directory.
fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        out.push(PathBuf::from(x));
    } else if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        out.push(PathBuf::from(home).join(".cache"));
    }
    out.push(std::env::temp_dir());
    out
}

fn unpack() -> Result<PathBuf, HarnessError> {
    let name = format!("smtpspec-{}-{}", env!("CARGO_PKG_VERSION"), digest());
    let mut problems = Vec::new();
    for base in candidates() {
        let dir = base.join("smtpspec").join(&name);
        match unpack_into(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => problems.push(format!("{}: {e}", dir.display())),
        }
    }
    Err(HarnessError(format!(
        "the shipped catalogue could not be unpacked ({})",
        problems.join("; ")
    )))
}

/// Write every file under `dir`, unless a complete copy is there. The copy is
/// written beside it and renamed into place, so a reader never sees half of one
/// and two processes unpacking at once both end with a whole copy.
fn unpack_into(dir: &Path) -> std::io::Result<()> {
    let done = dir.join(".complete");
    if done.is_file() {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(parent)?;
    for (name, bytes) in FILES {
        let path = staging.path().join(name);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&path, bytes)?;
    }
    std::fs::write(staging.path().join(".complete"), b"")?;
    let staged = staging.keep();
    match std::fs::rename(&staged, dir) {
        Ok(()) => Ok(()),
        // Another process put its copy there first: it is as good as this one.
        Err(_) if done.is_file() => {
            let _ = std::fs::remove_dir_all(&staged);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FILES, unpack_into};

    #[test]
    fn the_catalogue_and_the_index_are_shipped() {
        assert!(
            FILES
                .iter()
                .any(|(n, _)| *n == "scenarios/rfc5321/session.yaml")
        );
        assert!(FILES.iter().any(|(n, _)| *n == "requirements/rfc5321.yaml"));
        assert!(FILES.iter().all(|(n, _)| !n.contains('\\')));
    }

    #[test]
    fn an_unpacked_copy_is_whole_and_found_again() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("copy");
        unpack_into(&dir).unwrap();
        for (name, bytes) in FILES {
            assert_eq!(std::fs::read(dir.join(name)).unwrap(), *bytes, "{name}");
        }
        // A second call finds it complete and leaves it alone.
        std::fs::write(dir.join("scenarios/marker"), b"kept").unwrap();
        unpack_into(&dir).unwrap();
        assert!(dir.join("scenarios/marker").is_file());
        let left: Vec<_> = std::fs::read_dir(base.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no staging directory left behind");
    }
}
