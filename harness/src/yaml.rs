//! The one YAML reader, and the located error every file reader returns.
//!
//! Suites, zone files, target, client and sender profiles, the requirements index and
//! known-failure lists are all read through [`read_yaml`], so every problem a user
//! sees has the same shape: `file:line:column: message`. A leaf: it knows nothing of
//! what the files mean.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in a file the user wrote, with where it is when that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when the problem is on one.
    pub line: Option<u64>,
    /// 1-based column on that line, when known.
    pub column: Option<u64>,
    /// What is wrong, for people.
    pub message: String,
}

impl LoadError {
    /// A problem with the file as a whole (it cannot be read, or the YAML parser's
    /// message already names the place).
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// A problem at `line` (and `column`, when known).
    pub fn at(file: &Path, line: u64, column: Option<u64>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: Some(line),
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LoadError {}

/// An [`Invalid`] from a format string, as `format!` takes it.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::yaml::Invalid(format!($($arg)*))
    };
}

/// What is wrong with one value of a file (a step, a zone name, a pattern), for
/// people; the caller knows where the value is and makes it a [`LoadError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Invalid {
    /// The message, to be located.
    pub fn into_message(self) -> String {
        self.0
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Invalid {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Invalid {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// Deserialize YAML `text` read from `file`; the error names the file, line and
/// column (the parser's message carries them).
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str, file: &Path) -> Result<T, LoadError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let msg = limit_breached(&e).unwrap_or_else(|| {
            e.to_string()
                .replace("<input>", &file.display().to_string())
        });
        LoadError::file(file, msg)
    })
}

/// The parser's limits against hostile files, said in a user's words: the parser's
/// own message reads `budget breached: Nodes { nodes: 250001 }`.
fn limit_breached(e: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::Error;
    use serde_saphyr::budget::BudgetBreach as B;
    let mut e = e;
    while let Error::AliasError { error, .. } | Error::WithSnippet { error, .. } = e {
        e = error;
    }
    let Error::Budget { breach, .. } = e else {
        return None;
    };
    let most = serde_saphyr::Budget::default();
    let n = |n: usize| thousands(n as u64);
    Some(match breach {
        B::Nodes { .. } => format!(
            "the file has more than {} nodes (values, lists and maps); split it into several \
             suites",
            n(most.max_nodes)
        ),
        B::Events { .. } => format!(
            "the file has more than {} YAML events; split it into several suites",
            n(most.max_events)
        ),
        B::Depth { .. } => format!(
            "lists and maps are nested more than {} deep",
            n(most.max_depth)
        ),
        B::Aliases { .. } | B::AliasAnchorRatio { .. } | B::RecordedAnchorEvents { .. } => {
            "the file uses more aliases (*name) than a hand-written file would; it may be an \
             alias bomb"
                .to_owned()
        }
        B::Anchors { .. } => format!(
            "the file defines more than {} anchors (&name)",
            n(most.max_anchors)
        ),
        B::Documents { .. } => format!(
            "the file has more than {} YAML documents (--- separators)",
            n(most.max_documents)
        ),
        B::ScalarBytes { .. } => format!(
            "the file's values add up to more than {} bytes",
            n(most.max_total_scalar_bytes)
        ),
        B::MergeKeys { .. } => format!(
            "the file has more than {} merge keys (<<)",
            n(most.max_merge_keys)
        ),
        other => format!("the file is beyond what the YAML reader takes ({other:?})"),
    })
}

/// `250000` as `250,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Read `file` and deserialize it with [`from_yaml`].
pub fn read_yaml<T: serde::de::DeserializeOwned>(file: &Path) -> Result<T, LoadError> {
    let text = std::fs::read_to_string(file).map_err(|e| LoadError::file(file, e.to_string()))?;
    from_yaml(&text, file)
}

/// Every `.yaml`/`.yml` file under `paths` (files or directories), sorted; target
/// profiles and zone files (under `targets/` and `zones/`) live beside the catalogue
/// but are not suites, and are left out.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let p = entry?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).map_err(|e| LoadError::file(p, e.to_string()))?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(LoadError::file(p, "no such file or directory"));
        }
    }
    out.sort();
    out.retain(|p| {
        !p.components()
            .any(|c| c.as_os_str() == "targets" || c.as_os_str() == "zones")
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{LoadError, from_yaml, thousands};

    #[test]
    fn errors_read_file_line_column() {
        let f = Path::new("s.yaml");
        assert_eq!(
            LoadError::at(f, 3, Some(7), "bad").to_string(),
            "s.yaml:3:7: bad"
        );
        assert_eq!(
            LoadError::at(f, 3, None, "bad").to_string(),
            "s.yaml:3: bad"
        );
        assert_eq!(LoadError::file(f, "bad").to_string(), "s.yaml: bad");
        let e = from_yaml::<u32>("[1, 2", f).expect_err("not YAML");
        assert!(e.to_string().starts_with("s.yaml: "), "{e}");
    }

    #[test]
    fn a_limit_is_said_in_words() {
        let f = Path::new("big.yaml");
        let text = format!("[{}]", vec!["1"; 300_000].join(","));
        let e = from_yaml::<Vec<u32>>(&text, f).expect_err("over the node limit");
        assert_eq!(
            e.to_string(),
            "big.yaml: the file has more than 250,000 nodes (values, lists and maps); split it \
             into several suites"
        );
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let e = from_yaml::<serde::de::IgnoredAny>(&deep, f).expect_err("too deep");
        assert!(e.to_string().contains("nested more than 64 deep"), "{e}");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(64 * 1024 * 1024), "67,108,864");
    }
}
