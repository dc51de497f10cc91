//! The server under test, decided once from `--target` (none: the embedded reference
//! server; `*.yaml`: a profile, launched when it says how; else HOST:PORT) and started
//! or found: what `run` and `fuzz` share.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use reference_server::Variant;
use smtp_protocol::server::Deviation;
use smtpspec::outcome::HarnessError;
use smtpspec::profile::embedded::{self, Embedded};
use smtpspec::profile::launch::{self, Launched};
use smtpspec::profile::store::MailStore;
use smtpspec::profile::{PolicyOptions, Profile, TlsOptions};
use smtpspec::scenario::template::Vars;
use smtpspec::wire::TlsSettings;

use super::{CliError, unix_now};

/// The server under test, decided once from `--target`.
pub(crate) enum TargetArg {
    /// No `--target`: the reference server, started for the run.
    Embedded,
    /// `--target PROFILE.yaml`.
    Profile(Box<Profile>),
    /// `--target HOST:PORT`.
    Address(String),
}

impl TargetArg {
    /// What the target must refuse: the profile's `policy`; for the embedded server,
    /// what its configuration does (AUTH only after STARTTLS, mail only for its own
    /// recipients); nothing for a bare address. The fuzzer's policy oracle and the
    /// cases that need a policy (`requires_policy`) both judge by it.
    pub(crate) fn policy(&self) -> PolicyOptions {
        match self {
            Self::Profile(p) => p.policy.clone(),
            Self::Embedded => PolicyOptions {
                auth_requires_tls: true,
                foreign_domains: vec![smtpspec::fuzz::policy::FOREIGN_TEST_DOMAIN.to_owned()],
                ..PolicyOptions::default()
            },
            Self::Address(_) => PolicyOptions::default(),
        }
    }
}

/// A profile that cannot be read is a configuration error (2), not an untestable
/// target (3).
pub(crate) fn target_arg(target: Option<&str>, port: u16) -> Result<TargetArg, CliError> {
    Ok(match target {
        None => TargetArg::Embedded,
        Some(t) if is_profile(t) => TargetArg::Profile(Box::new(Profile::load(Path::new(t))?)),
        Some(t) => TargetArg::Address(with_port(t, port)),
    })
}

/// `HOST:PORT` as given, or with the SMTP port when none is (RFC 5321 §4.5.4.2:
/// "the SMTP port (specified by IANA as port 25)"): `mx.test`, `127.0.0.1`, `::1` and `[::1]` all
/// mean port 25.
fn with_port(target: &str, port: u16) -> String {
    let t = target.trim();
    if t.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{t}]:{port}")
    } else if t.starts_with('[') && t.ends_with(']') || !t.contains(':') {
        format!("{t}:{port}")
    } else {
        t.to_owned()
    }
}

pub(crate) fn is_profile(target: &str) -> bool {
    target.ends_with(".yaml") || target.ends_with(".yml")
}

/// The server under test, up and reachable, until dropped.
pub(crate) struct Started {
    /// The embedded reference server, when it is the target.
    pub(crate) embedded: Option<Embedded>,
    /// The launched server, stopped when this is dropped.
    pub(crate) launched: Option<Launched>,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// The variables its cases use.
    pub(crate) vars: Vars,
    /// Its mail store, when readable.
    pub(crate) mailbox: Option<MailStore>,
    /// How to speak TLS to it.
    pub(crate) tls: TlsSettings,
}

impl Started {
    /// The embedded reference server as the target: its variables, its Maildir.
    pub(crate) fn embedded(e: Embedded) -> Self {
        Self {
            addr: e.server.addr(),
            vars: e.vars.clone(),
            mailbox: Some(e.store()),
            launched: None,
            tls: TlsSettings {
                proxy: e.proxy,
                ..TlsSettings::default()
            },
            embedded: Some(e),
        }
    }
}

/// Start (or find) the server under test.
pub(crate) async fn start(
    target: &TargetArg,
    deviations: &[Deviation],
    variants: &[Variant],
) -> Result<Started, HarnessError> {
    match target {
        TargetArg::Embedded => Ok(Started::embedded(
            embedded::start_with(deviations, variants).await?,
        )),
        TargetArg::Profile(profile) => {
            let addr = profile.addr()?;
            let mut launched = None;
            if let Some(l) = &profile.launch {
                let up = launch::start(l, addr).await?;
                eprintln!(
                    "smtpspec: launched {} ({} ms to accept connections; log {})",
                    l.command.join(" "),
                    up.ready_after.as_millis(),
                    up.log.display()
                );
                launched = Some(up);
            }
            Ok(Started {
                embedded: None,
                launched,
                addr,
                vars: profile.vars(),
                mailbox: profile.store(),
                tls: TlsSettings {
                    proxy: profile.proxy.map(|p| p.version()),
                    ..tls_settings(&profile.tls)
                },
            })
        }
        TargetArg::Address(t) => {
            let addr: SocketAddr = t
                .to_socket_addrs()
                .map_err(|e| HarnessError::during(&format!("--target {t}"), e))?
                .next()
                .ok_or_else(|| HarnessError(format!("--target {t}: no address")))?;
            let domain = "localhost";
            let vars = embedded::vars(
                domain,
                &format!("postmaster@{domain}"),
                &format!("smtpspec-no-such-user-{}@{domain}", unix_now()),
                None,
            );
            Ok(Started {
                embedded: None,
                launched: None,
                addr,
                vars,
                mailbox: None,
                tls: TlsSettings::default(),
            })
        }
    }
}

fn tls_settings(tls: &TlsOptions) -> TlsSettings {
    TlsSettings {
        implicit: tls.implicit,
        server_name: tls.server_name.clone(),
        ..TlsSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::with_port;

    #[test]
    fn a_target_without_a_port_is_on_port_25() {
        assert_eq!(with_port("127.0.0.1", 25), "127.0.0.1:25");
        assert_eq!(with_port("localhost", 25), "localhost:25");
        assert_eq!(with_port("::1", 25), "[::1]:25");
        assert_eq!(with_port("[::1]", 465), "[::1]:465");
        assert_eq!(with_port("127.0.0.1:2525", 25), "127.0.0.1:2525");
        assert_eq!(with_port("[::1]:2525", 25), "[::1]:2525");
    }
}
