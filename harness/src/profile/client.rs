//! Client profiles: how to start an SMTP client under test (`smtpspec client --client
//! PROFILE.yaml`), one command per configuration the client cases need.
//!
//! ```yaml
//! name: swaks                      # for reports and matrices [default: the file name]
//! commands:
//!   plain: [swaks, --server, "{host}", --port, "{port}", --from, "{from}",
//!           --to, "{to}", --data, "@{message}"]
//!   tls-required: [swaks, ..., --tls]
//!   auth: [swaks, ..., --auth, PLAIN, --auth-user, "{user}", --auth-password, "{password}"]
//!   auth-tls: [swaks, ..., --tls, --auth, PLAIN, ...]   # credentials, and TLS required
//! user: alice                      # for {user} and {password} [default: user / password]
//! password: secret
//! timeout: 10s                     # how long one run of the client may take
//! dir: ../..                       # working directory, relative to this file
//! ```
//!
//! Placeholders: `{host}`, `{port}`, `{from}`, `{to}`, `{message}` (a file with the
//! message, LF line ends, a line that starts with a dot), `{user}`, `{password}`,
//! `{helo}`. The same values are in the environment as `SMTPSPEC_HOST`, `SMTPSPEC_PORT`,
//! `SMTPSPEC_FROM`, `SMTPSPEC_TO`, `SMTPSPEC_MESSAGE`, `SMTPSPEC_USER`,
//! `SMTPSPEC_PASSWORD`, `SMTPSPEC_HELO`.

use crate::yaml::LoadError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::scenario::client::ClientMode;

/// A client profile file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientProfileFile {
    /// The client's name in reports.
    #[serde(default)]
    pub name: Option<String>,
    /// One command (program and arguments) per mode: `plain`, `tls-required`, `auth`,
    /// `auth-tls`. A case whose mode the profile lacks is skipped with the reason.
    pub commands: BTreeMap<ClientMode, Vec<String>>,
    /// AUTH user.
    #[serde(default)]
    pub user: Option<String>,
    /// AUTH password.
    #[serde(default)]
    pub password: Option<String>,
    /// Longest run of the client [default: 10s].
    #[serde(default)]
    pub timeout: Option<String>,
    /// Working directory, relative to the profile.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

/// A client to test, ready to start.
#[derive(Debug, Clone)]
pub struct ClientProfile {
    /// Name in reports.
    pub name: String,
    /// Commands by mode.
    pub commands: BTreeMap<ClientMode, Vec<String>>,
    /// AUTH user.
    pub user: String,
    /// AUTH password.
    pub password: String,
    /// Longest run.
    pub timeout: Duration,
    /// Working directory.
    pub dir: Option<PathBuf>,
}

impl ClientProfile {
    /// Read a profile file.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let file: ClientProfileFile = crate::yaml::read_yaml(path)?;
        let timeout = match &file.timeout {
            Some(t) => crate::scenario::parse_duration(t).ok_or_else(|| {
                LoadError::file(path, format!("timeout {t:?} is not a duration like 10s"))
            })?,
            None => Duration::from_secs(10),
        };
        if file.commands.values().any(Vec::is_empty) {
            return Err(LoadError::file(path, "a command is empty"));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        Ok(Self {
            name: file.name.unwrap_or_else(|| {
                path.file_stem()
                    .map_or_else(|| "client".into(), |s| s.to_string_lossy().into_owned())
            }),
            commands: file.commands,
            user: file.user.unwrap_or_else(|| "user".into()),
            password: file.password.unwrap_or_else(|| "password".into()),
            timeout,
            dir: file.dir.map(|d| base.join(d)),
        })
    }

    /// A profile from `-- COMMAND ...` on the command line: plain mode only.
    pub fn from_command(command: Vec<String>) -> Self {
        Self {
            name: command.first().cloned().unwrap_or_else(|| "client".into()),
            commands: BTreeMap::from([(ClientMode::Plain, command)]),
            user: "user".into(),
            password: "password".into(),
            timeout: Duration::from_secs(10),
            dir: None,
        }
    }
}

/// Replace placeholders in `arg` with `values`: `{{name}}`, as scenarios write
/// variables, or the older `{name}` that profiles in the wild use.
pub fn expand(arg: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(arg.to_string(), |acc, (k, v)| {
        acc.replace(&format!("{{{{{k}}}}}"), v)
            .replace(&format!("{{{k}}}"), v)
    })
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn placeholders_read_as_in_scenarios_or_the_older_way() {
        let values = [("host", "127.0.0.1".to_string()), ("port", "2525".into())];
        assert_eq!(expand("{{host}}:{{port}}", &values), "127.0.0.1:2525");
        assert_eq!(expand("{host}:{port}", &values), "127.0.0.1:2525");
        assert_eq!(expand("{other}", &values), "{other}");
    }
}
