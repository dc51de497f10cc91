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
//! store:                              # optional: lets expect_stored look
//!   kind: maildir                     # maildir | mbox | files (one file per message)
//!   path: /tmp/peer/Maildir
//!   newlines: lf                      # the delivery agent stores LF line ends
//! # (older form, still read: maildir: DIR and maildir_newlines: lf)
//! tls: { implicit: false, server_name: mx.example.test }   # optional
//! proxy: v1                           # optional: the port speaks PROXY (v1 or v2)
//! launch:                             # optional: start the server for the run
//!   command: [python3, peer.py, --listen, "127.0.0.1:25257"]
//!   dir: ../..                        # working directory, relative to this file
//!   ready_timeout: 20s                # until `address` accepts connections
//!   log: /tmp/peer/server.log         # its stdout and stderr
//! watch:                              # optional, for `smtpspec fuzz`
//!   pid_file: /var/spool/postfix/pid/master.pid  # a server not launched
//!   logs:                             # crash marks looked for (launch.log always)
//!     - path: /tmp/peer/maillog       # default marks: panic, SIGSEGV, ASan, …
//!     - { path: /var/log/exim4/paniclog, patterns: [""] }  # "": every line
//!       # ignore: ["lost privilege for using -C option"]  # marked lines that are noise
//! ```
//!
//! Relative paths (maildir, launch dir, log) are relative to the profile's directory,
//! so a profile works from any working directory.

use crate::outcome::HarnessError;
use crate::yaml::LoadError;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::profile::embedded;
use crate::scenario::template::Vars;

/// A profile file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// What the server is called in reports and matrix columns (`Postfix 3.7,
    /// hardened`); the profile file's name without `.yaml` when absent.
    #[serde(default)]
    pub name: Option<String>,
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
    /// How the delivery agent writes line ends into the Maildir: `crlf` (as received,
    /// the default) or `lf` (Unix MDAs such as Postfix's local(8) store LF).
    #[serde(default)]
    pub maildir_newlines: Newlines,
    /// Where the server stores what it accepts, if readable.
    #[serde(default)]
    pub store: Option<StoreSpec>,
    /// A command that starts the server for the run.
    #[serde(default)]
    pub launch: Option<Launch>,
    /// TLS options.
    #[serde(default)]
    pub tls: TlsOptions,
    /// What `smtpspec fuzz` watches besides the wire.
    #[serde(default)]
    pub watch: WatchOptions,
    /// What the operator says the server must refuse: `smtpspec fuzz`'s `policy`
    /// oracle, and the cases that need a policy to judge (`requires_policy`).
    #[serde(default)]
    pub policy: PolicyOptions,
    /// The port speaks the PROXY protocol (`v1` or `v2`, the header version smtpspec
    /// sends first on every connection); the `proxy_port` cases need it.
    #[serde(default)]
    pub proxy: Option<ProxyVersion>,
}

/// A PROXY header version as a profile names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyVersion {
    /// The text header.
    V1,
    /// The binary header.
    V2,
}

impl ProxyVersion {
    /// The protocol crate's version.
    pub fn version(self) -> smtp_protocol::proxy::Version {
        match self {
            Self::V1 => smtp_protocol::proxy::Version::V1,
            Self::V2 => smtp_protocol::proxy::Version::V2,
        }
    }
}

/// The server's policy in its operator's words. A server may lawfully take AUTH in
/// the clear or relay where its operator wants it to; only this makes either a
/// finding.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOptions {
    /// AUTH only after STARTTLS (RFC 4954 §4): a 235 in the clear is a finding.
    #[serde(default)]
    pub auth_requires_tls: bool,
    /// No mail before STARTTLS on this port (RFC 3207 §4: a server that is not a
    /// public MX, such as a submission port, may require TLS): a 2xx to MAIL in the
    /// clear is a finding.
    #[serde(default)]
    pub tls_required: bool,
    /// No mail before AUTH (a submission server, RFC 6409 §4.3 and RFC 4954 §6): a 2xx
    /// to MAIL in a session that has not authenticated, a failed AUTH included, is a
    /// finding.
    #[serde(default)]
    pub auth_required: bool,
    /// Domains the server must not relay to: a 2xx to `RCPT TO:` for a mailbox there,
    /// in a session that has not authenticated, is a finding (RFC 5321 §7.9).
    #[serde(default)]
    pub foreign_domains: Vec<String>,
}

/// The target's process and logs, for the fuzzer's off-the-wire oracles.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchOptions {
    /// A file with the pid of the server's process group leader (Postfix's
    /// `pid/master.pid`), for a server the profile does not launch.
    #[serde(default)]
    pub pid_file: Option<PathBuf>,
    /// Logs followed for crash marks, besides the launch log.
    #[serde(default)]
    pub logs: Vec<WatchLog>,
}

/// One followed log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchLog {
    /// The file.
    pub path: PathBuf,
    /// Substrings that mark a crash [default: the usual marks of crash handlers and
    /// sanitizers]; `""` marks every line (a panic log).
    #[serde(default)]
    pub patterns: Option<Vec<String>>,
    /// Substrings of marked lines that are no crash: a setup's own noise (Exim run
    /// with `-C` writes "lost privilege for using -C option" to its paniclog at
    /// every delivery).
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// How to speak TLS with the target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsOptions {
    /// TLS from the first octet (port 465, RFC 8314) instead of STARTTLS.
    #[serde(default)]
    pub implicit: bool,
    /// The name to send in SNI.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// Where and how a target stores messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSpec {
    /// `maildir`, `mbox` or `files`.
    pub kind: StoreKindSpec,
    /// The Maildir or directory, or the mbox file.
    pub path: PathBuf,
    /// `crlf` (as received, the default) or `lf`.
    #[serde(default)]
    pub newlines: Newlines,
}

/// The layout of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKindSpec {
    /// One file per message in `new/` (or `cur/`).
    Maildir,
    /// One file, messages separated by `From ` lines.
    Mbox,
    /// A directory with one file per message.
    Files,
}

/// Line ends in stored messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Newlines {
    /// As received: CRLF.
    #[default]
    Crlf,
    /// Converted to LF on delivery.
    Lf,
}

/// How to start the target, and how to know it is ready.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Launch {
    /// Program and arguments (no shell; use `[sh, -c, "..."]` for one).
    pub command: Vec<String>,
    /// Working directory [default: the profile's directory].
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// How long to wait for `address` to accept connections [default: 20s].
    #[serde(default)]
    pub ready_timeout: Option<String>,
    /// Where its standard output and error go [default: a file in the temporary
    /// directory, named in the messages].
    #[serde(default)]
    pub log: Option<PathBuf>,
}

impl Profile {
    /// Read a profile; errors are located like scenario errors. Relative paths are
    /// resolved against the profile's directory.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let mut profile: Self = crate::yaml::read_yaml(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(m) = profile.maildir.as_mut() {
            resolve(m);
        }
        if let Some(st) = profile.store.as_mut() {
            resolve(&mut st.path);
        }
        if let Some(p) = profile.watch.pid_file.as_mut() {
            resolve(p);
        }
        for log in &mut profile.watch.logs {
            resolve(&mut log.path);
        }
        if profile.store.is_some() && profile.maildir.is_some() {
            return Err(LoadError::file(
                path,
                "give the store once: store, or the older maildir",
            ));
        }
        if let Some(l) = profile.launch.as_mut() {
            let mut dir = l.dir.take().unwrap_or_default();
            resolve(&mut dir);
            l.dir = Some(dir);
            if let Some(log) = l.log.as_mut() {
                resolve(log);
            }
            if l.command.is_empty() {
                return Err(LoadError::file(path, "launch.command is empty"));
            }
            if let Some(t) = &l.ready_timeout
                && crate::scenario::parse_duration(t).is_none()
            {
                return Err(LoadError::file(
                    path,
                    format!("launch.ready_timeout {t:?} is not a duration like 20s"),
                ));
            }
        }
        Ok(profile)
    }

    /// The address to connect to.
    pub fn addr(&self) -> Result<SocketAddr, HarnessError> {
        self.address
            .to_socket_addrs()
            .map_err(|e| crate::harness_error!("address {}: {e}", self.address))?
            .next()
            .ok_or_else(|| crate::harness_error!("address {}: no address", self.address))
    }

    /// Where the harness reads what the target stored, if the profile says.
    pub fn store(&self) -> Option<super::store::MailStore> {
        use super::store::{MailStore, StoreKind};
        if let Some(st) = &self.store {
            return Some(MailStore {
                kind: match st.kind {
                    StoreKindSpec::Maildir => StoreKind::Maildir,
                    StoreKindSpec::Mbox => StoreKind::Mbox,
                    StoreKindSpec::Files => StoreKind::Files,
                },
                dir: st.path.clone(),
                lf: st.newlines == Newlines::Lf,
            });
        }
        self.maildir.clone().map(|dir| MailStore {
            kind: StoreKind::Maildir,
            dir,
            lf: self.maildir_newlines == Newlines::Lf,
        })
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
