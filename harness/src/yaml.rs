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
        let msg = e
            .to_string()
            .replace("<input>", &file.display().to_string());
        LoadError::file(file, msg)
    })
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

    use super::{LoadError, from_yaml};

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
}
