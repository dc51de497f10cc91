//! Running a delivery case: fake DNS and scripted servers up, the sender delivers (once,
//! or `runs` times to measure a spread), then the expectations are checked.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use smtp_protocol::address::{ForwardPath, Host, Mailbox, ReversePath};
use smtp_protocol::client::{ClientConfig, Outgoing, Timeouts};

use crate::outcome::{HarnessError, Unmet, Verdict};
use crate::roles::{Attempt, CaseResult, Role};

mod mta;
use crate::scenario::load::Case;
use crate::scenario::sender::{DeliveryDef, DeliveryExpect, Outcome};
use crate::send::{self, Delivery, SendOptions, SenderDeviation};
use crate::wire::{Dir, Event};

/// Who sends in delivery cases.
#[derive(Debug, Clone)]
pub enum Sender {
    /// smtpspec's reference client, misbehaving as told (the self-test).
    Reference(Vec<SenderDeviation>),
    /// No sender is under test in this run (a server target was given); delivery
    /// cases are skipped with this reason.
    Absent(String),
    /// A real MTA from a sender profile, and the message file it is handed.
    Mta(
        std::sync::Arc<crate::profile::sender::SenderProfile>,
        std::path::PathBuf,
    ),
}

impl Default for Sender {
    fn default() -> Self {
        Self::Reference(Vec::new())
    }
}

/// The reference client's timeouts in a case: the RFC's figures scaled down 200 times
/// (a 5-minute greeting wait becomes 1.5 s), so a silent server costs seconds.
const TIMEOUT_SCALE: f64 = 0.005;

/// The longest a delivery case may take per run.
pub const RUN_BUDGET: Duration = Duration::from_secs(20);

fn note(text: String) -> Event {
    Event {
        dir: Dir::Note,
        data: text.into_bytes(),
    }
}

impl Role for Sender {
    type Part = DeliveryDef;

    /// Each run may wait on a silent server or a DNS timeout.
    fn waits(def: &DeliveryDef) -> Duration {
        Duration::from_millis(500) * def.runs
    }

    /// A real MTA queues and retries on its own clock; the reference client's
    /// timeouts are scaled down.
    fn budget(&self, def: &DeliveryDef, _step_timeout: Duration) -> Duration {
        match self {
            Self::Mta(..) => Duration::from_secs(60) * def.runs,
            _ => RUN_BUDGET * def.runs,
        }
    }

    async fn attempt(&self, case: &Case, def: &DeliveryDef, _step_timeout: Duration) -> Attempt {
        Attempt::Done(run(case, def, self).await)
    }
}

/// Run one delivery case.
pub async fn run(case: &Case, def: &DeliveryDef, sender: &Sender) -> CaseResult {
    let start = Instant::now();
    let deviations = match sender {
        Sender::Absent(why) => {
            return CaseResult::new(case, Verdict::Skip, why.clone(), start, Vec::new());
        }
        Sender::Reference(d) => d.clone(),
        Sender::Mta(profile, message) => return mta::run(case, def, profile, message).await,
    };
    let error = |why: String| CaseResult::new(case, Verdict::Error, why, start, Vec::new());
    let dns = match crate::dns::serve(&def.zones, SocketAddr::from(([127, 0, 0, 1], 0))).await {
        Ok(d) => d,
        Err(e) => return error(e.0),
    };
    let scripts: Vec<_> = def.servers.iter().map(|(ip, s)| (*ip, s.clone())).collect();
    let servers = match crate::roles::script::start(&scripts, None).await {
        Ok(s) => s,
        Err(e) => {
            dns.stop().await;
            return error(e.0);
        }
    };
    let (message, options) = match prepare(def, dns.addr, servers.port) {
        Ok((m, mut o)) => {
            o.deviations = deviations;
            (m, o)
        }
        Err(e) => {
            dns.stop().await;
            return error(e.0);
        }
    };
    let seed = seed_of(&case.meta.id);
    let mut deliveries = Vec::new();
    for n in 0..def.runs {
        let mut o = options.clone();
        o.seed = seed.wrapping_add(u64::from(n));
        deliveries.push(send::deliver(&message, &o).await);
    }
    // Let the scripted servers finish counting what they saw.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let connections = servers.connections();
    let mut transcript = describe(&deliveries[0]);
    let outcome = judge(def, &deliveries, connections, &servers, &mut transcript);
    dns.stop().await;
    drop(servers);
    let (verdict, reason) = match outcome {
        Ok(why) => (Verdict::Pass, why),
        Err(why) => (case.level().unmet(), why.0),
    };
    CaseResult::new(case, verdict, reason, start, transcript)
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
        content: b"Subject: smtpspec delivery case\r\n\r\nHello.\r\n".to_vec(),
    };
    let mut options = SendOptions::new(ClientConfig::new(helo));
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

pub(super) fn list(ips: &[IpAddr]) -> String {
    if ips.is_empty() {
        "nothing".into()
    } else {
        ips.iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn judge(
    def: &DeliveryDef,
    deliveries: &[Delivery],
    connections: usize,
    servers: &crate::roles::script::Scripted,
    transcript: &mut Vec<Event>,
) -> Result<String, Unmet> {
    let e = &def.expect;
    for (n, d) in deliveries.iter().enumerate() {
        let run = if deliveries.len() > 1 {
            format!("run {}: ", n + 1)
        } else {
            String::new()
        };
        judge_run(e, &run, d)?;
    }
    if let Some(want) = e.connections
        && want != connections
    {
        return Err(crate::unmet!(
            "wanted {want} connection(s) to the scripted servers, saw {connections}"
        ));
    }
    if let Some(want) = e.delivered_to
        && servers.messages_at(want) == 0
    {
        return Err(crate::unmet!(
            "the scripted server at {want} took no message"
        ));
    }
    if !e.first_tried.is_empty() {
        return first_tried(e, deliveries, transcript);
    }
    let d = &deliveries[0];
    Ok(format!(
        "{}; tried {}",
        outcome_of(d).as_str(),
        list(&tried(d))
    ))
}

/// One delivery against the `expect:` block: outcome, addresses tried, where it was
/// delivered, the reason given.
fn judge_run(e: &DeliveryExpect, run: &str, d: &Delivery) -> Result<(), Unmet> {
    let got = outcome_of(d);
    let reasons: Vec<&str> = d.recipients.iter().map(|r| r.reason.as_str()).collect();
    if let Some(want) = &e.outcome
        && !want.allows(got)
    {
        return Err(crate::unmet!(
            "{run}wanted {}, got {} ({})",
            want.describe(),
            got.as_str(),
            reasons.join("; ")
        ));
    }
    if let Some(want) = &e.tried {
        let got = tried(d);
        if &got != want {
            return Err(crate::unmet!(
                "wanted the sender to try {}, it tried {}",
                list(want),
                list(&got)
            ));
        }
    }
    if let Some(want) = e.delivered_to {
        let got: Vec<IpAddr> = d
            .recipients
            .iter()
            .filter_map(|r| r.delivered_to.map(|a| a.ip()))
            .collect();
        if got.iter().any(|ip| *ip != want) || got.is_empty() {
            return Err(crate::unmet!(
                "{run}wanted delivery to {want}, got {}",
                list(&got)
            ));
        }
    }
    if let Some(pattern) = &e.reason {
        let re = regex::Regex::new(pattern).map_err(|e| Unmet(e.to_string()))?;
        if !reasons.iter().any(|r| re.is_match(r)) {
            return Err(crate::unmet!(
                "{run}no reason matches /{pattern}/: {}",
                reasons.join("; ")
            ));
        }
    }
    Ok(())
}

/// `first_tried`: over many runs, how often each address was tried first (RFC 5321
/// §5.1: equal preferences in random order).
fn first_tried(
    e: &DeliveryExpect,
    deliveries: &[Delivery],
    transcript: &mut Vec<Event>,
) -> Result<String, Unmet> {
    let mut first: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for d in deliveries {
        if let Some(ip) = tried(d).first() {
            *first.entry(*ip).or_default() += 1;
        }
    }
    let runs = deliveries.len() as f64;
    let shares: Vec<String> = first
        .iter()
        .map(|(ip, n)| format!("{ip} {n}/{}", deliveries.len()))
        .collect();
    transcript.push(note(format!(
        "first tried over {} runs: {}",
        deliveries.len(),
        shares.join(", ")
    )));
    for (ip, [low, high]) in &e.first_tried {
        let share = first.get(ip).copied().unwrap_or(0) as f64 / runs;
        if share < *low || share > *high {
            return Err(crate::unmet!(
                "{ip} was tried first in {:.0}% of {} runs, wanted {:.0}–{:.0}% ({})",
                share * 100.0,
                deliveries.len(),
                low * 100.0,
                high * 100.0,
                shares.join(", ")
            ));
        }
    }
    Ok(format!("first tried: {}", shares.join(", ")))
}
