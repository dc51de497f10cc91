//! Sender profiles: a real MTA as the sender of delivery cases
//! (`smtpspec run scenarios/dns --sender PROFILE.yaml`).
//!
//! The MTA must resolve through the fake DNS and connect to the scripted servers, so
//! smtpspec and the MTA share a network namespace where the fake DNS answers on port
//! 53 (glibc's resolver has no other port) and the MX hosts listen on the MTA's SMTP
//! port. `scripts/peers/postfix-mx.sh` sets one up for Postfix and writes the profile:
//!
//! ```yaml
//! name: postfix
//! dns: 127.0.0.1:53            # where the fake DNS listens: the MTA's resolv.conf
//! port: 25                     # the SMTP port the MTA connects to
//! from: root@localhost         # envelope sender
//! helo: mta.smtpspec.test      # the MTA's own name (cases about self-MX need it)
//! reset: [sh, -c, "postsuper -c DIR -d ALL; postfix -c DIR reload"]   # before each case
//! inject: [sh, -c, "sendmail -C DIR -f {from} {to} < {message}"]      # hand over one message
//! submit: 127.0.0.1:2525       # an SMTP listener of the MTA that relays for smtpspec
//! queued: [sh, -c, "postqueue -c DIR -p | grep -q '^[0-9A-F]'"]     # exit 0: still queued
//! settle: 6s                   # how long to watch for its deliveries
//! max_runs: 5                  # cases that need more deliveries are skipped
//! ca: { cert: ca.pem, key: ca.key }  # a CA the MTA trusts (MTA-STS cases need one)
//! ```

use crate::test_ca::KnownCa;
use crate::yaml::LoadError;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    name: Option<String>,
    dns: String,
    #[serde(default = "smtp_port")]
    port: u16,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    helo: Option<String>,
    #[serde(default)]
    reset: Option<Vec<String>>,
    inject: Vec<String>,
    #[serde(default)]
    submit: Option<String>,
    #[serde(default)]
    queued: Option<Vec<String>>,
    #[serde(default)]
    settle: Option<String>,
    #[serde(default)]
    max_runs: Option<u32>,
    #[serde(default)]
    dir: Option<PathBuf>,
    #[serde(default)]
    ca: Option<CaFiles>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaFiles {
    cert: PathBuf,
    key: PathBuf,
}

fn smtp_port() -> u16 {
    25
}

/// A real MTA to test as a sender.
#[derive(Debug, Clone)]
pub struct SenderProfile {
    /// Name in reports.
    pub name: String,
    /// Where the fake DNS must listen.
    pub dns: SocketAddr,
    /// The SMTP port of the MX hosts.
    pub port: u16,
    /// Envelope sender for injected messages.
    pub from: String,
    /// The MTA's own name.
    pub helo: Option<String>,
    /// Run before each case (empty the queue, forget failed hosts).
    pub reset: Option<Vec<String>>,
    /// Hand one message over: `{from}`, `{to}` (several recipients separated by spaces),
    /// `{message}`.
    pub inject: Vec<String>,
    /// An SMTP listener of the MTA that relays for smtpspec's address: relay cases
    /// hand their raw content over here, octet for octet, as an attacker would
    /// (sendmail(1) reads lines and would rewrite the very line ends under test).
    pub submit: Option<SocketAddr>,
    /// Exits 0 while the message waits in the MTA's queue: tells a deferred message
    /// (still queued) from a bounced one (gone, and no server took it).
    pub queued: Option<Vec<String>>,
    /// How long to watch a delivery.
    pub settle: Duration,
    /// Most deliveries one case may ask for.
    pub max_runs: u32,
    /// Working directory of the commands.
    pub dir: Option<PathBuf>,
    /// A CA the MTA trusts, which signs the certificates of the case's TLS servers
    /// and MTA-STS policy hosts; without it MTA-STS cases are skipped (a real MTA
    /// checks those certificates against its roots, RFC 8461 §4.2).
    pub ca: Option<KnownCa>,
}

impl SenderProfile {
    /// Read a sender profile.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let f: File = crate::yaml::read_yaml(path)?;
        let at = |what: String| LoadError::file(path, what);
        let dns = f.dns.parse().map_err(|_| {
            at(format!(
                "dns {:?} is not an address like 127.0.0.1:53",
                f.dns
            ))
        })?;
        let submit = match &f.submit {
            Some(a) => Some(a.parse().map_err(|_| {
                at(format!(
                    "submit {a:?} is not an address like 127.0.0.1:2525"
                ))
            })?),
            None => None,
        };
        let settle = match &f.settle {
            Some(s) => crate::scenario::parse_duration(s)
                .ok_or_else(|| at(format!("settle {s:?} is not a duration")))?,
            None => Duration::from_secs(6),
        };
        if f.inject.is_empty() || f.reset.as_ref().is_some_and(Vec::is_empty) {
            return Err(at("inject and reset must be commands".into()));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let ca = match &f.ca {
            Some(files) => {
                let read = |p: &PathBuf| {
                    let p = base.join(p);
                    std::fs::read_to_string(&p).map_err(|e| at(format!("ca: {}: {e}", p.display())))
                };
                Some(KnownCa {
                    cert_pem: read(&files.cert)?,
                    key_pem: read(&files.key)?,
                })
            }
            None => None,
        };
        Ok(Self {
            name: f.name.unwrap_or_else(|| {
                path.file_stem()
                    .map_or_else(|| "sender".into(), |s| s.to_string_lossy().into_owned())
            }),
            dns,
            port: f.port,
            from: f.from.unwrap_or_else(|| "root@localhost".into()),
            helo: f.helo,
            reset: f.reset,
            inject: f.inject,
            submit,
            queued: f.queued.filter(|q| !q.is_empty()),
            settle,
            max_runs: f.max_runs.unwrap_or(5),
            dir: f.dir.map(|d| base.join(d)),
            ca,
        })
    }
}
