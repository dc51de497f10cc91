//! Ships the catalogue (`scenarios/`) and the requirements index (`requirements/`)
//! inside the binary, so that `cargo install` gives a tool that works away from its
//! source tree. Writes `$OUT_DIR/shipped.rs`: every file's path under the repository
//! root and its bytes (`include_bytes!`); cargo rebuilds when any of them changes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The directories shipped, relative to the repository root.
const SHIPPED: [&str; 2] = ["scenarios", "requirements"];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.join("..");
    let mut files = Vec::new();
    for dir in SHIPPED {
        let path = root.join(dir);
        println!("cargo:rerun-if-changed={}", path.display());
        walk(&path, &mut files);
    }
    files.sort();
    let mut out = String::from(
        "/// Every shipped file: its path under the repository root, and its bytes.\n\
         pub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file
            .strip_prefix(&root)
            .expect("under the root")
            .to_string_lossy()
            .replace('\\', "/");
        let absolute = file.canonicalize().expect("a shipped file");
        writeln!(out, "    ({relative:?}, include_bytes!({absolute:?})),").expect("a String");
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("shipped.rs");
    std::fs::write(dest, out).expect("write shipped.rs");
}

/// Every file under `dir`; directories are watched too, so a new file triggers a
/// rebuild.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}
