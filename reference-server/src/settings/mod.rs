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
//! require-tls: false        # true: 530 to all but NOOP, EHLO, STARTTLS, QUIT before TLS
//! require-auth: false
//! verify: answer            # cannot-verify (252) | disabled
//! greeting: ready           # no-service (554) | does-not-accept-mail (521)
//! extensions: { pipelining: true, chunking: true, dsn: true, starttls: true }
//! tls: { cert: cert.pem, key: key.pem }                # omit: self-signed at start
//! timeouts: { command-secs: 300, data-secs: 180 }
//! deviations: []            # see `smtpspec serve --list-deviations`
//! variants: []              # see `smtpspec serve --list-variants`
//! # Choices the RFCs leave to the server (each variant sets some of these):
//! bare-line-ends: refuse    # refuse-with-550 | close
//! size-refusal: 552         # or 550
//! size-number: true         # false: "SIZE" alone
//! auth-mechanisms: [PLAIN, LOGIN]   # and/or CRAM-MD5
//! refuse-literal-senders: false
//! error-limits: { sleep-after: 3, sleep-ms: 1000, close-after: 10 }
//! max-hops: 100
//! nonmail-limit: 10
//! multiline-greeting: false
//! terse-replies: false
//! unknown-recipient: 550    # or 450
//! no-valid-recipients: 503  # or 554
//! greeting-delay: { busy-above: 4, step-ms: 150, max-ms: 2000 }
//! maildir-format: { newlines: crlf, return-path-name: Return-Path }
//! maildir-sync: files       # or: file-system (one syncfs per round; a spool of its own)
//! proxy: any                # the port speaks PROXY: v1 | v2 | any (absent: it does not)
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use smtp_protocol::reply::ReplyCode;
use smtp_protocol::server::{
    AuthMechanism, BareLineEnds, Deviation, Deviations, ErrorLimits, Extensions, GreetingMode,
    ServerConfig, VerifyMode,
};

use crate::store::{StoreFormat, SyncMode};
use crate::variant::Variant;

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

/// The error limits of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ErrorLimitSettings {
    /// Errors before replies slow down.
    pub sleep_after: u32,
    /// The delay of each later error reply, in milliseconds.
    pub sleep_ms: u64,
    /// Errors before 421 and a close.
    pub close_after: u32,
}

/// Greetings held back while the server is busy (RFC 5321 §4.5.3.2.1: "Many SMTP
/// servers accept a TCP connection but delay delivery of the 220 message until their
/// system load permits more mail to be processed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct GreetingDelay {
    /// Open connections at or below which the greeting is immediate.
    pub busy_above: usize,
    /// Delay per connection above that, in milliseconds.
    pub step_ms: u64,
    /// The longest delay, in milliseconds.
    pub max_ms: u64,
}

impl GreetingDelay {
    /// The delay for a connection that finds `open` connections (itself included).
    pub fn for_open(&self, open: usize) -> Duration {
        let over = open.saturating_sub(self.busy_above) as u64;
        Duration::from_millis((over * self.step_ms).min(self.max_ms))
    }
}

/// How stored messages are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct MaildirFormat {
    /// `crlf` (as received) or `lf`.
    pub newlines: String,
    /// The spelling of the Return-Path header field name.
    pub return_path_name: String,
}

impl Default for MaildirFormat {
    fn default() -> Self {
        Self {
            newlines: "crlf".into(),
            return_path_name: "Return-Path".into(),
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
    /// Simultaneous connections; more get 421. Absent: as many as the process's
    /// file-descriptor limit allows ([`crate::descriptors`]).
    pub max_connections: Option<usize>,
    /// Known recipients; absent accepts everyone.
    pub recipients: Option<Vec<String>>,
    /// AUTH users.
    pub users: BTreeMap<String, String>,
    /// Offer AUTH before TLS.
    pub auth_without_tls: bool,
    /// Require STARTTLS first: 530 to every command but NOOP, EHLO, STARTTLS and QUIT
    /// until the handshake (RFC 3207 §4), for a submission port or a client test.
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
    /// Variant names (behaviours the RFCs allow; see `smtpspec serve --list-variants`),
    /// applied on top of the other keys.
    pub variants: Vec<String>,
    /// `refuse`, `refuse-with-550` or `close`.
    pub bare_line_ends: String,
    /// 552 or 550.
    pub size_refusal: u16,
    /// Advertise SIZE with its number.
    pub size_number: bool,
    /// PLAIN, LOGIN, CRAM-MD5.
    pub auth_mechanisms: Vec<String>,
    /// Refuse address-literal senders.
    pub refuse_literal_senders: bool,
    /// Slow down, then hang up, on errors.
    pub error_limits: Option<ErrorLimitSettings>,
    /// Received lines before a message is taken to loop.
    pub max_hops: usize,
    /// Non-mail commands in a row before 421.
    pub nonmail_limit: Option<u32>,
    /// A two-line greeting.
    pub multiline_greeting: bool,
    /// Empty reply texts.
    pub terse_replies: bool,
    /// 550 or 450 for an unknown recipient.
    pub unknown_recipient: u16,
    /// 503 or 554 for DATA without a valid recipient.
    pub no_valid_recipients: u16,
    /// Greetings delayed under load.
    pub greeting_delay: Option<GreetingDelay>,
    /// Every reply sent this many milliseconds late (0: at once); a slow or distant
    /// server, for measuring clients and the harness against one.
    pub reply_delay_ms: u64,
    /// How the Maildir is written.
    pub maildir_format: MaildirFormat,
    /// How a round of stored messages is made durable: `files` or `file-system`.
    pub maildir_sync: String,
    /// The port speaks the PROXY protocol: `v1`, `v2` or `any` (absent: it does not).
    pub proxy: Option<String>,
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
            max_connections: None,
            recipients: None,
            users: BTreeMap::new(),
            auth_without_tls: false,
            require_tls: false,
            require_auth: false,
            verify: "answer".into(),
            greeting: "ready".into(),
            extensions: ExtensionSwitches::default(),
            tls: TlsFiles::default(),
            timeouts: Timeouts::default(),
            deviations: Vec::new(),
            variants: Vec::new(),
            bare_line_ends: "refuse".into(),
            size_refusal: c.size_refusal.get(),
            size_number: c.size_number,
            auth_mechanisms: c
                .auth_mechanisms
                .iter()
                .map(|m| m.name().to_owned())
                .collect(),
            refuse_literal_senders: c.refuse_literal_senders,
            error_limits: None,
            max_hops: c.max_hops,
            nonmail_limit: c.nonmail_limit,
            multiline_greeting: c.multiline_greeting,
            terse_replies: c.terse_replies,
            unknown_recipient: c.unknown_recipient.get(),
            no_valid_recipients: c.no_valid_recipients.get(),
            greeting_delay: None,
            reply_delay_ms: 0,
            maildir_format: MaildirFormat::default(),
            maildir_sync: "files".into(),
            proxy: None,
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
    pub fn resolve(mut self) -> Result<Settings, SettingsError> {
        for name in std::mem::take(&mut self.variants) {
            let v = Variant::from_name(&name).ok_or_else(|| {
                SettingsError(format!(
                    "variant {name:?} does not exist (see --list-variants)"
                ))
            })?;
            v.apply(&mut self);
            self.variants.push(name);
        }
        let one_of = |key: &str, got: u16, allowed: &[u16]| {
            if allowed.contains(&got) {
                ReplyCode::new(got).ok_or_else(|| SettingsError(format!("{key}: {got}")))
            } else {
                Err(SettingsError(format!(
                    "{key}: {got} is not one of {allowed:?}"
                )))
            }
        };
        // RFC 1870 §6.3 and RFC 5321 §4.3.2 list these for an over-size message.
        let size_refusal = one_of("size-refusal", self.size_refusal, &[552, 550])?;
        let unknown_recipient = one_of("unknown-recipient", self.unknown_recipient, &[550, 450])?;
        // RFC 5321 §3.3.
        let no_valid_recipients =
            one_of("no-valid-recipients", self.no_valid_recipients, &[503, 554])?;
        let bare_line_ends = choice(
            "bare-line-ends",
            &self.bare_line_ends,
            &[
                ("refuse", BareLineEnds::Refuse),
                ("refuse-with-550", BareLineEnds::RefuseWith550),
                ("close", BareLineEnds::Close),
            ],
        )?;
        let auth_mechanisms = self
            .auth_mechanisms
            .iter()
            .map(|n| {
                AuthMechanism::from_name(n).ok_or_else(|| {
                    SettingsError(format!(
                        "auth-mechanisms: {n:?} is not one of PLAIN, LOGIN, CRAM-MD5"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if auth_mechanisms.is_empty() && !self.users.is_empty() {
            return Err(SettingsError(
                "auth-mechanisms: empty, but users are given".into(),
            ));
        }
        let store_format = StoreFormat {
            lf: choice(
                "maildir-format.newlines",
                &self.maildir_format.newlines,
                &[("crlf", false), ("lf", true)],
            )?,
            return_path_name: self.maildir_format.return_path_name.clone(),
            sync: choice(
                "maildir-sync",
                &self.maildir_sync,
                &[
                    ("files", SyncMode::Files),
                    ("file-system", SyncMode::FileSystem),
                ],
            )?,
        };
        if !store_format
            .return_path_name
            .eq_ignore_ascii_case("return-path")
        {
            return Err(SettingsError(format!(
                "maildir-format.return-path-name: {:?} is not a spelling of Return-Path",
                store_format.return_path_name
            )));
        }
        if let Some(e) = &self.error_limits
            && e.close_after < e.sleep_after
        {
            return Err(SettingsError(
                "error-limits: close-after is below sleep-after".into(),
            ));
        }
        let listen: SocketAddr = self.listen.parse().map_err(|e| {
            SettingsError(format!(
                "listen: {:?} is not an address:port ({e})",
                self.listen
            ))
        })?;
        let verify = choice(
            "verify",
            &self.verify,
            &[
                ("cannot-verify", VerifyMode::CannotVerify),
                ("answer", VerifyMode::Answer),
                ("disabled", VerifyMode::Disabled),
            ],
        )?;
        let greeting = choice(
            "greeting",
            &self.greeting,
            &[
                ("ready", GreetingMode::Ready),
                ("no-service", GreetingMode::NoService),
                ("does-not-accept-mail", GreetingMode::DoesNotAcceptMail),
            ],
        )?;
        let proxy = match &self.proxy {
            None => None,
            Some(v) => Some(
                smtp_protocol::proxy::Accept::from_name(v)
                    .ok_or_else(|| SettingsError(format!("proxy: {v:?} is not v1, v2 or any")))?,
            ),
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
        if self.reply_delay_ms > 60_000 {
            return Err(SettingsError(format!(
                "reply-delay-ms: {} is over a minute; RFC 5321 §4.5.3.2's shortest client \
                 timeout is 2 minutes, and a test run waits for each reply",
                self.reply_delay_ms
            )));
        }
        if self.max_connections == Some(0) {
            return Err(SettingsError("max-connections: must be at least 1".into()));
        }
        let descriptors = crate::descriptors::limit();
        let max_connections = self
            .max_connections
            .unwrap_or_else(|| crate::descriptors::connections_for(descriptors));
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
            bare_line_ends,
            size_refusal,
            size_number: self.size_number,
            auth_mechanisms,
            refuse_literal_senders: self.refuse_literal_senders,
            error_limits: self.error_limits.map(|e| ErrorLimits {
                sleep_after: e.sleep_after,
                sleep_ms: e.sleep_ms,
                close_after: e.close_after,
            }),
            max_hops: self.max_hops,
            nonmail_limit: self.nonmail_limit,
            multiline_greeting: self.multiline_greeting,
            terse_replies: self.terse_replies,
            unknown_recipient,
            no_valid_recipients,
            deviations,
        };
        Ok(Settings {
            listen,
            protocol,
            store: self.store,
            maildir: self.maildir,
            store_format,
            greeting_delay: self.greeting_delay,
            reply_delay: Duration::from_millis(self.reply_delay_ms),
            variants: self.variants,
            max_connections,
            descriptors,
            tls: self.tls,
            proxy,
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
    /// How messages are written into it.
    pub store_format: StoreFormat,
    /// Greetings held back under load.
    pub greeting_delay: Option<GreetingDelay>,
    /// Every reply held back this long.
    pub reply_delay: Duration,
    /// The variants applied (by name), for the startup line.
    pub variants: Vec<String>,
    /// Simultaneous connections.
    pub max_connections: usize,
    /// The file-descriptor limit found when the settings were resolved, for the
    /// startup line (`smtpspec serve` raises it to the hard limit first).
    pub descriptors: u64,
    /// Certificate files.
    pub tls: TlsFiles,
    /// Waiting for a command.
    pub command_timeout: Duration,
    /// The PROXY header versions every connection must open with; `None`: no PROXY.
    pub proxy: Option<smtp_protocol::proxy::Accept>,
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
mod tests;

/// One of the named values a setting may take, or an error that lists them.
fn choice<T: Copy>(key: &str, got: &str, options: &[(&str, T)]) -> Result<T, SettingsError> {
    options
        .iter()
        .find(|(name, _)| *name == got)
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
            SettingsError(format!("{key}: {got:?} is not one of {}", names.join(", ")))
        })
}
