//! The reference server's configuration: a YAML file (every key optional), then
//! command-line flags on top. Unknown keys are errors with their line and column, so a
//! typo never silently changes what is being tested.
//!
//! ```yaml
//! listen: 127.0.0.1:2525
//! hostname: mx.example.test
//! store: maildir            # or: discard
//! maildir: /var/tmp/smtpspec-mail
//! max-message-size: 10485760    # 0: SIZE without a fixed limit
//! storage-cap: 268435456         # hard cap on one message in memory
//! max-recipients: 100
//! max-connections: 256
//! recipients: [alice@example.test, bob@example.test]   # omit to accept everyone
//! users: { alice: secret }                            # AUTH PLAIN/LOGIN
//! auth-without-tls: false
//! require-tls: false
//! require-auth: false
//! verify: cannot-verify     # answer | disabled
//! greeting: ready           # no-service (554) | does-not-accept-mail (521)
//! extensions: { pipelining: true, chunking: true, dsn: true, starttls: true }
//! tls: { cert: cert.pem, key: key.pem }                # omit: self-signed at start
//! timeouts: { command-secs: 300, data-secs: 180 }
//! deviations: []            # see `smtpspec serve --list-deviations`
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use smtp_protocol::server::{
    Deviation, Deviations, Extensions, GreetingMode, ServerConfig, VerifyMode,
};

/// A configuration problem, located when it comes from the file.
#[derive(Debug)]
pub struct SettingsError(pub String);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

/// Where messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// A Maildir (the `maildir` key, or a temporary directory).
    #[default]
    Maildir,
    /// Nowhere.
    Discard,
}

/// The extension switches of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ExtensionSwitches {
    /// RFC 2920
    pub pipelining: bool,
    /// RFC 6152
    #[serde(rename = "8bitmime")]
    pub eight_bit_mime: bool,
    /// RFC 6531
    pub smtputf8: bool,
    /// RFC 2034
    pub enhancedstatuscodes: bool,
    /// RFC 3030
    pub chunking: bool,
    /// RFC 3030
    pub binarymime: bool,
    /// RFC 3461
    pub dsn: bool,
    /// RFC 1985
    pub etrn: bool,
    /// RFC 3207
    pub starttls: bool,
}

impl Default for ExtensionSwitches {
    fn default() -> Self {
        let e = Extensions::default();
        Self {
            pipelining: e.pipelining,
            eight_bit_mime: e.eight_bit_mime,
            smtputf8: e.smtputf8,
            enhancedstatuscodes: e.enhanced_status_codes,
            chunking: e.chunking,
            binarymime: e.binary_mime,
            dsn: e.dsn,
            etrn: e.etrn,
            starttls: e.starttls,
        }
    }
}

/// Certificate files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

/// Timeouts in seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Timeouts {
    /// Waiting for a command: RFC 5321 §4.5.3.2.7 asks for at least 5 minutes.
    pub command_secs: u64,
    /// Waiting for more mail data: RFC 5321 §4.5.3.2.5 (data block, 3 minutes).
    pub data_secs: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            command_secs: 300,
            data_secs: 180,
        }
    }
}

/// The configuration file, every key optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct FileSettings {
    /// Address to listen on (loopback by default).
    pub listen: String,
    /// The server's name.
    pub hostname: String,
    /// Maildir or discard.
    pub store: StoreKind,
    /// The Maildir directory.
    pub maildir: Option<PathBuf>,
    /// SIZE limit in octets (0: SIZE without a fixed limit).
    pub max_message_size: u64,
    /// Hard cap on the content held for one message, whatever SIZE says.
    pub storage_cap: u64,
    /// Recipients per transaction.
    pub max_recipients: usize,
    /// Simultaneous connections; more get 421.
    pub max_connections: usize,
    /// Known recipients; absent accepts everyone.
    pub recipients: Option<Vec<String>>,
    /// AUTH users.
    pub users: BTreeMap<String, String>,
    /// Offer AUTH before TLS.
    pub auth_without_tls: bool,
    /// Require STARTTLS before MAIL.
    pub require_tls: bool,
    /// Require AUTH before MAIL.
    pub require_auth: bool,
    /// `cannot-verify`, `answer` or `disabled`.
    pub verify: String,
    /// `ready`, `no-service` or `does-not-accept-mail`.
    pub greeting: String,
    /// Extension switches.
    pub extensions: ExtensionSwitches,
    /// Certificate files; absent: self-signed.
    pub tls: TlsFiles,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Deviation names.
    pub deviations: Vec<String>,
}

impl Default for FileSettings {
    fn default() -> Self {
        let c = ServerConfig::default();
        Self {
            listen: "127.0.0.1:2525".into(),
            hostname: c.hostname,
            store: StoreKind::Maildir,
            maildir: None,
            max_message_size: c.max_message_size,
            storage_cap: c.storage_cap,
            max_recipients: c.max_recipients,
            max_connections: 256,
            recipients: None,
            users: BTreeMap::new(),
            auth_without_tls: false,
            require_tls: false,
            require_auth: false,
            verify: "cannot-verify".into(),
            greeting: "ready".into(),
            extensions: ExtensionSwitches::default(),
            tls: TlsFiles::default(),
            timeouts: Timeouts::default(),
            deviations: Vec::new(),
        }
    }
}

impl FileSettings {
    /// Parse a configuration file's text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &Path) -> Result<Self, SettingsError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_saphyr::from_str(text)
            .map_err(|e| SettingsError(format!("{}: {e}", origin.display())))
    }

    /// Read and parse a configuration file.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError(format!("{}: {e}", path.display())))?;
        Self::from_yaml(&text, path)
    }

    /// Check and resolve into [`Settings`].
    pub fn resolve(self) -> Result<Settings, SettingsError> {
        let listen: SocketAddr = self.listen.parse().map_err(|e| {
            SettingsError(format!(
                "listen: {:?} is not an address:port ({e})",
                self.listen
            ))
        })?;
        let verify = match self.verify.as_str() {
            "cannot-verify" => VerifyMode::CannotVerify,
            "answer" => VerifyMode::Answer,
            "disabled" => VerifyMode::Disabled,
            other => {
                return Err(SettingsError(format!(
                    "verify: {other:?} is not one of cannot-verify, answer, disabled"
                )));
            }
        };
        let greeting = match self.greeting.as_str() {
            "ready" => GreetingMode::Ready,
            "no-service" => GreetingMode::NoService,
            "does-not-accept-mail" => GreetingMode::DoesNotAcceptMail,
            other => {
                return Err(SettingsError(format!(
                    "greeting: {other:?} is not one of ready, no-service, does-not-accept-mail"
                )));
            }
        };
        let deviations = self
            .deviations
            .iter()
            .map(|n| {
                Deviation::from_name(n).ok_or_else(|| {
                    SettingsError(format!(
                        "deviation {n:?} does not exist (see --list-deviations)"
                    ))
                })
            })
            .collect::<Result<Deviations, _>>()?;
        if self.max_recipients < smtp_protocol::limits::MIN_RECIPIENTS {
            return Err(SettingsError(format!(
                "max-recipients: {} is below the 100 that RFC 5321 §4.5.3.1.8 requires",
                self.max_recipients
            )));
        }
        if self.max_connections == 0 {
            return Err(SettingsError("max-connections: must be at least 1".into()));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(SettingsError(
                "tls: give both cert and key, or neither".into(),
            ));
        }
        let e = &self.extensions;
        let protocol = ServerConfig {
            hostname: self.hostname,
            greeting,
            extensions: Extensions {
                pipelining: e.pipelining,
                eight_bit_mime: e.eight_bit_mime,
                smtputf8: e.smtputf8,
                enhanced_status_codes: e.enhancedstatuscodes,
                chunking: e.chunking,
                binary_mime: e.binarymime,
                dsn: e.dsn,
                etrn: e.etrn,
                starttls: e.starttls,
            },
            max_message_size: self.max_message_size,
            storage_cap: self.storage_cap,
            max_recipients: self.max_recipients,
            recipients: self.recipients,
            users: self.users,
            auth_without_tls: self.auth_without_tls,
            require_tls: self.require_tls,
            require_auth: self.require_auth,
            verify,
            deviations,
        };
        Ok(Settings {
            listen,
            protocol,
            store: self.store,
            maildir: self.maildir,
            max_connections: self.max_connections,
            tls: self.tls,
            command_timeout: Duration::from_secs(self.timeouts.command_secs.max(1)),
            data_timeout: Duration::from_secs(self.timeouts.data_secs.max(1)),
        })
    }
}

/// Resolved settings of a server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub listen: SocketAddr,
    /// The session policy.
    pub protocol: ServerConfig,
    /// Store kind.
    pub store: StoreKind,
    /// Maildir directory, if given.
    pub maildir: Option<PathBuf>,
    /// Simultaneous connections.
    pub max_connections: usize,
    /// Certificate files.
    pub tls: TlsFiles,
    /// Waiting for a command.
    pub command_timeout: Duration,
    /// Waiting for mail data.
    pub data_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        match FileSettings::default().resolve() {
            Ok(s) => s,
            Err(e) => unreachable!("the defaults are valid: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback() {
        let s = Settings::default();
        assert!(s.listen.ip().is_loopback());
        assert_eq!(s.command_timeout, Duration::from_secs(300));
    }

    #[test]
    fn a_full_file_resolves() {
        let yaml = "listen: 127.0.0.1:0\nhostname: mx.test\nstore: discard\nusers: {a: b}\n\
                    extensions: {chunking: false, 8bitmime: false}\ndeviations: [rcpt-before-mail]\n\
                    timeouts: {command-secs: 10}\n";
        let s = FileSettings::from_yaml(yaml, Path::new("t.yaml"))
            .and_then(FileSettings::resolve)
            .expect("valid");
        assert_eq!(s.store, StoreKind::Discard);
        assert!(!s.protocol.extensions.chunking && !s.protocol.extensions.eight_bit_mime);
        assert!(s.protocol.deviations.has(Deviation::RcptBeforeMail));
        assert_eq!(s.command_timeout, Duration::from_secs(10));
    }

    #[test]
    fn errors_are_located_or_named() {
        let e = FileSettings::from_yaml("hostname: a\nlisten_on: x\n", Path::new("c.yaml"))
            .expect_err("unknown key");
        assert!(e.0.contains("c.yaml") && e.0.contains("listen_on"), "{e}");
        assert!(e.0.contains('2'), "the line is named: {e}");
        let e = FileSettings::from_yaml("deviations: [nope]\n", Path::new("c.yaml"))
            .and_then(FileSettings::resolve)
            .expect_err("bad deviation");
        assert!(e.0.contains("nope"));
        let e = FileSettings::from_yaml("max-recipients: 5\n", Path::new("c.yaml"))
            .and_then(FileSettings::resolve)
            .expect_err("too few");
        assert!(e.0.contains("4.5.3.1.8"));
    }
}
