//! The embedded target: the reference server on 127.0.0.1:0, configured the way the
//! catalogue's variables describe it, so that `smtpspec run` needs no setup.

use crate::outcome::HarnessError;
use std::path::PathBuf;

use reference_server::settings::{FileSettings, StoreKind};
use reference_server::{RunningServer, Server, Variant};
use smtp_protocol::server::Deviation;

use crate::scenario::template::Vars;

/// The domain of the embedded server.
pub const DOMAIN: &str = "smtpspec.test";

/// Variables for a target whose domain is `domain`, with the harness's own client
/// names, and AUTH credentials when they are known (cases that use them are skipped
/// otherwise).
pub fn vars(domain: &str, rcpt: &str, bad_rcpt: &str, credentials: Option<(&str, &str)>) -> Vars {
    let mut v = Vars::new();
    v.insert("client.helo".into(), "client.smtpspec.test".into());
    v.insert("client.from".into(), "sender@client.smtpspec.test".into());
    v.insert("target.domain".into(), domain.into());
    v.insert("target.rcpt".into(), rcpt.into());
    v.insert("target.bad_rcpt".into(), bad_rcpt.into());
    if let Some((user, password)) = credentials {
        super::vars::add_credentials(&mut v, user, password);
    }
    v
}

/// The embedded server, its variables, and the Maildir it stores into (kept alive with
/// the server and removed after).
pub struct Embedded {
    /// The running server.
    pub server: RunningServer,
    /// Variables for the scenarios.
    pub vars: Vars,
    /// Its Maildir, for `expect_stored`.
    pub mailbox: PathBuf,
    /// The Maildir holds LF line ends (a variant's store format).
    pub mailbox_lf: bool,
    /// The port speaks PROXY (the `proxy-protocol` variant, or the `proxy-lenient`
    /// deviation, which needs a PROXY port to show): the header version the harness
    /// sends on every connection.
    pub proxy: Option<smtp_protocol::proxy::Version>,
    _dir: tempfile::TempDir,
}

impl Embedded {
    /// Where the harness reads what the server stored.
    pub fn store(&self) -> super::store::MailStore {
        super::store::MailStore {
            kind: super::store::StoreKind::Maildir,
            dir: self.mailbox.clone(),
            lf: self.mailbox_lf,
        }
    }
}

/// Start the reference server (with `deviations`).
pub async fn start(deviations: &[Deviation]) -> Result<Embedded, HarnessError> {
    start_configured(deviations, |_| {}).await
}

/// Start the reference server with `deviations` and permitted `variants`.
pub async fn start_with(
    deviations: &[Deviation],
    variants: &[Variant],
) -> Result<Embedded, HarnessError> {
    start_configured(deviations, |f| {
        for v in variants {
            v.apply(f);
        }
    })
    .await
}

/// Start the reference server with its settings adjusted by `configure` (tests use it
/// for the greeting modes of RFC 5321 §3.1 and RFC 7504).
pub async fn start_configured(
    deviations: &[Deviation],
    configure: impl FnOnce(&mut FileSettings),
) -> Result<Embedded, HarnessError> {
    start_in(None, deviations, configure).await
}

/// The same, its Maildir under `base` instead of the system's temporary directory.
/// The fuzzer stores thousands of messages a second and empties the store as it
/// goes: on a memory file system (`/dev/shm`) that costs nothing, on a disk mounted
/// with `discard` every removal is a trim.
pub async fn start_in(
    base: Option<&std::path::Path>,
    deviations: &[Deviation],
    configure: impl FnOnce(&mut FileSettings),
) -> Result<Embedded, HarnessError> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("smtpspec-run-");
    let dir = match base {
        Some(base) => builder.tempdir_in(base),
        None => builder.tempdir(),
    }
    .map_err(|e| crate::harness_error!("temporary Maildir: {e}"))?;
    let mailbox = dir.path().join("Maildir");
    let mut file = FileSettings {
        listen: "127.0.0.1:0".into(),
        hostname: DOMAIN.into(),
        store: StoreKind::Maildir,
        maildir: Some(mailbox.clone()),
        recipients: Some(vec![format!("alice@{DOMAIN}")]),
        ..FileSettings::default()
    };
    file.users.insert("user".into(), "password".into());
    file.max_message_size = 1_000_000;
    configure(&mut file);
    if deviations.contains(&Deviation::ProxyLenient) {
        file.proxy.get_or_insert_with(|| "any".into());
    }
    // v2 where the port takes it: the binary header has more to get wrong.
    let proxy = file
        .proxy
        .as_deref()
        .and_then(smtp_protocol::proxy::Accept::from_name)
        .map(|a| match a {
            smtp_protocol::proxy::Accept::V1 => smtp_protocol::proxy::Version::V1,
            _ => smtp_protocol::proxy::Version::V2,
        });
    let mut settings = file.resolve().map_err(HarnessError::of)?;
    // The deviations as values, not names to be parsed again.
    settings.protocol.deviations = deviations.iter().copied().collect();
    let mailbox_lf = settings.store_format.lf;
    let server = Server::bind(settings).await.map_err(HarnessError::of)?;
    let running = server.spawn().map_err(HarnessError::of)?;
    let vars = vars(
        DOMAIN,
        &format!("alice@{DOMAIN}"),
        &format!("nobody@{DOMAIN}"),
        Some(("user", "password")),
    );
    Ok(Embedded {
        server: running,
        vars,
        mailbox,
        mailbox_lf,
        proxy,
        _dir: dir,
    })
}

/// The catalogue: `scenarios/` in the working directory (a source tree being
/// edited), or the copy built into this binary ([`crate::shipped`]).
pub fn catalogue() -> PathBuf {
    crate::shipped::local_or_shipped("scenarios")
}
