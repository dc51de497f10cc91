//! Target profiles: where a server under test listens and what the catalogue's
//! variables are for it (`--target PROFILE.yaml`).
//!
//! ```yaml
//! address: 127.0.0.1:25251
//! domain: pfx.peers.test
//! rcpt: root@pfx.peers.test          # a recipient that exists
//! bad_rcpt: nosuchuser@pfx.peers.test # one that does not
//! user: alice                         # AUTH, optional
//! password: secret
//! maildir: /tmp/peer/Maildir          # optional: lets expect_stored look
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::embedded;
use crate::scenario::template::Vars;

/// A profile file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// HOST:PORT.
    pub address: String,
    /// The server's mail domain.
    pub domain: String,
    /// A recipient the server accepts.
    pub rcpt: String,
    /// A recipient the server does not know.
    pub bad_rcpt: String,
    /// AUTH user, if any.
    #[serde(default)]
    pub user: Option<String>,
    /// AUTH password, if any.
    #[serde(default)]
    pub password: Option<String>,
    /// A Maildir where the server stores what it accepts, if readable.
    #[serde(default)]
    pub maildir: Option<PathBuf>,
}

impl Profile {
    /// Read a profile; errors are located like scenario errors.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_saphyr::from_str(&text).map_err(|e| {
            format!(
                "{}: {}",
                path.display(),
                e.to_string()
                    .replace("<input>", &path.display().to_string())
            )
        })
    }

    /// The address to connect to.
    pub fn addr(&self) -> Result<SocketAddr, String> {
        self.address
            .to_socket_addrs()
            .map_err(|e| format!("address {}: {e}", self.address))?
            .next()
            .ok_or_else(|| format!("address {}: no address", self.address))
    }

    /// The catalogue's variables for this target.
    pub fn vars(&self) -> Vars {
        embedded::vars(
            &self.domain,
            &self.rcpt,
            &self.bad_rcpt,
            self.user.as_deref().zip(self.password.as_deref()),
        )
    }
}
