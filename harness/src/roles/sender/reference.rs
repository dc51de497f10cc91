//! The reference client as the sender: it delivers through the case's fake DNS to the
//! scripted servers, misbehaving as its deviations say, and gives its own account of
//! each delivery (every address tried, where each recipient went, and why).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use smtp_protocol::address::{ForwardPath, Host, Mailbox, ReversePath};
use smtp_protocol::client::{ClientConfig, Outgoing, Timeouts};

use super::judge::{Account, Observation, Run};
use super::note;
use crate::outcome::HarnessError;
use crate::roles::script::Scripted;
use crate::scenario::sender::{DeliveryDef, Outcome};
use crate::send::sts::Fetch;
use crate::send::{self, Delivery, SendOptions, SenderDeviation};
use crate::test_ca::TestCa;
use crate::wire::Event;

/// The reference client's timeouts in a case: the RFC's figures scaled down 200 times
/// (a 5-minute greeting wait becomes 1.5 s), so a silent server costs seconds.
const TIMEOUT_SCALE: f64 = 0.005;

/// Where the case's fake services are.
pub(super) struct At<'a> {
    /// The fake DNS.
    pub dns: SocketAddr,
    /// The scripted MX servers.
    pub servers: &'a Scripted,
    /// The run's CA, when the case has TLS servers.
    pub ca: Option<&'a TestCa>,
    /// The MTA-STS policy host's port.
    pub https: u16,
    /// The MTA-STS cache the case's deliveries share (a case with `before:`).
    pub sts_cache: Option<&'a Arc<crate::send::sts::Cache>>,
}

/// Deliver `runs` times (each with its own shuffle seed, the same for the same case)
/// and observe: the first run's account goes to the transcript.
pub(super) async fn observe(
    id: &str,
    def: &DeliveryDef,
    deviations: &[SenderDeviation],
    at: &At<'_>,
) -> Result<(Observation, Vec<Event>), HarnessError> {
    let servers = at.servers;
    let (message, mut options) = prepare(def, at.dns, servers.port)?;
    options.deviations = deviations.to_vec();
    if let Some(ca) = at.ca {
        // The run's CA is the only root: the policy host's and the MX hosts'
        // certificates chain to it (RFC 8461 §3.3, §4.2).
        options.mta_sts = Some(Fetch::new(at.https, ca.roots()?, Duration::from_secs(1)));
    }
    if let Some(cache) = at.sts_cache {
        options.sts_cache = Arc::clone(cache);
    }
    let seed = seed_of(id);
    let mut deliveries = Vec::new();
    for n in 0..def.runs {
        let mut o = options.clone();
        o.seed = seed.wrapping_add(u64::from(n));
        deliveries.push(send::deliver(&message, &o).await);
    }
    // Let the scripted servers finish counting what they saw.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let transcript = deliveries.first().map(describe).unwrap_or_default();
    let runs = deliveries
        .iter()
        .map(|d| Run {
            outcome: Some(outcome_of(d)),
            tried: tried(d),
            account: Some(Account {
                delivered_to: d
                    .recipients
                    .iter()
                    .filter_map(|r| r.delivered_to.map(|a| a.ip()))
                    .collect(),
                reasons: d.recipients.iter().map(|r| r.reason.clone()).collect(),
            }),
            handover: None,
        })
        .collect();
    let seen = Observation::new(runs, servers, true);
    Ok((seen, transcript))
}

/// The same case always gets the same sequence of shuffles.
fn seed_of(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn prepare(
    def: &DeliveryDef,
    dns: SocketAddr,
    port: u16,
) -> Result<(Outgoing, SendOptions), HarnessError> {
    let first_zone = def.zones.keys().next().cloned().unwrap_or_default();
    let to: Vec<String> = if def.to.is_empty() {
        vec![format!("user@{}", first_zone.trim_end_matches('.'))]
    } else {
        def.to.clone()
    };
    let mailbox = |s: &str| Mailbox::parse(s).map_err(|e| crate::harness_error!("{s:?}: {e}"));
    let from = mailbox(def.from.as_deref().unwrap_or("sender@client.smtpspec.test"))?;
    let helo = def.helo.as_deref().unwrap_or("client.smtpspec.test");
    let helo = Host::parse(helo).map_err(|e| crate::harness_error!("helo {helo:?}: {e}"))?;
    let message = Outgoing {
        from: ReversePath::Mailbox(from),
        to: to
            .iter()
            .map(|t| mailbox(t).map(ForwardPath::Mailbox))
            .collect::<Result<_, _>>()?,
        content: match def.content_octets() {
            Some(octets) => {
                octets.map_err(|at| crate::harness_error!("content: bad escape at {at}"))?
            }
            None => b"Subject: smtpspec delivery case\r\n\r\nHello.\r\n".to_vec(),
        },
    };
    let mut client = ClientConfig::new(helo);
    client.requiretls = def.requiretls;
    let mut options = SendOptions::new(client);
    options.dns = Some(dns);
    options.port = port;
    options.timeouts = Timeouts::default().scaled(TIMEOUT_SCALE);
    options.connect_timeout = Duration::from_secs(1);
    options.dns_timeout = Duration::from_secs(1);
    options.rounds = def.rounds;
    options.retry_delay = Duration::from_millis(100);
    Ok((message, options))
}

/// The first run, as notes and the attempts' own transcripts.
fn describe(d: &Delivery) -> Vec<Event> {
    let mut out = Vec::new();
    for round in &d.rounds {
        for r in &round.routes {
            out.push(note(r.describe(round.number)));
        }
        for a in &round.attempts {
            out.push(note(a.describe()));
            out.extend(a.transcript.iter().cloned());
        }
    }
    for r in &d.recipients {
        out.push(note(r.describe()));
    }
    out
}

fn outcome_of(d: &Delivery) -> Outcome {
    match d.exit_code() {
        0 => Outcome::Delivered,
        1 => Outcome::Bounced,
        _ => Outcome::Deferred,
    }
}

fn tried(d: &Delivery) -> Vec<IpAddr> {
    d.attempts()
        .filter_map(|a| a.address.map(|s| s.ip()))
        .collect()
}
