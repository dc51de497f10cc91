//! Running a delivery case: fake DNS and scripted servers up, the sender delivers (once,
//! or `runs` times to measure a spread), then the expectations are checked.
//!
//! The two senders differ only in how they are observed (`reference.rs`, `mta.rs`);
//! `judge.rs` is the one judge of the `expect:` block for both.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::outcome::{Outcome, Verdict};
use crate::profile::sender::SenderProfile;
use crate::roles::{Attempt, CaseResult, Role};

mod judge;
mod mta;
mod policy_host;
mod reference;
mod relay;
mod submit;
mod tls;
use crate::scenario::load::Case;
use crate::scenario::sender::DeliveryDef;
use crate::send::SenderDeviation;
use crate::test_ca::TestCa;
use crate::wire::{Dir, Event};
pub use relay::Relayed;

/// Who sends in delivery cases.
#[derive(Debug, Clone)]
pub enum Sender {
    /// smtpspec's reference client, misbehaving as told (the self-test).
    Reference(Vec<SenderDeviation>),
    /// No sender is under test in this run (a server target was given); delivery
    /// cases are skipped with this reason.
    Absent(String),
    /// A real MTA from a sender profile, and the message file it is handed.
    Mta(std::sync::Arc<SenderProfile>, std::path::PathBuf),
}

impl Default for Sender {
    fn default() -> Self {
        Self::Reference(Vec::new())
    }
}

/// The longest a delivery case may take per run.
pub const RUN_BUDGET: Duration = Duration::from_secs(20);

pub(super) fn note(text: String) -> Event {
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
        Attempt::Done(Box::new(run(case, def, self).await))
    }
}

/// Who delivers in a case that runs.
enum Delivering<'a> {
    Reference(&'a [SenderDeviation]),
    Mta(&'a SenderProfile, &'a Path),
}

/// Run one delivery case: the case's fake DNS and scripted servers up, the sender
/// observed delivering, and one judge over what was seen, whoever sent.
pub async fn run(case: &Case, def: &DeliveryDef, sender: &Sender) -> CaseResult {
    let start = Instant::now();
    let done =
        |verdict, why: String, transcript| CaseResult::new(case, verdict, why, start, transcript);
    let (who, dns_at, port) = match sender {
        Sender::Absent(why) => return done(Verdict::Skip, why.clone(), Vec::new()),
        Sender::Reference(d) => (
            Delivering::Reference(d),
            SocketAddr::from(([127, 0, 0, 1], 0)),
            None,
        ),
        Sender::Mta(profile, message) => {
            if let Some(why) = mta::gate(def, profile) {
                return done(Verdict::Skip, why, Vec::new());
            }
            (
                Delivering::Mta(profile, message),
                profile.dns,
                Some(profile.port),
            )
        }
    };
    let Ok(dir) = tempfile::tempdir() else {
        return done(Verdict::Error, "no temporary directory".into(), Vec::new());
    };
    let known = match sender {
        Sender::Mta(p, _) => p.ca.as_ref(),
        _ => None,
    };
    let (zones, ca) = match tls::prepare(def, dir.path(), known) {
        Ok(z) => z,
        Err(e) => return done(Verdict::Error, e.0, Vec::new()),
    };
    let dns = match crate::dns::serve(&zones, dns_at).await {
        Ok(d) => d,
        Err(e) => return done(Verdict::Error, e.0, Vec::new()),
    };
    let scripts: Vec<_> = def.servers.iter().map(|(ip, s)| (*ip, s.clone())).collect();
    let acceptor = ca.as_ref().map(crate::roles::script::Identities::of);
    let servers = match crate::roles::script::start(&scripts, port, acceptor).await {
        Ok(s) => s,
        Err(e) => {
            dns.stop().await;
            return done(Verdict::Error, e.0, Vec::new());
        }
    };
    let policy_host = match policy_host(def, ca.as_ref(), port).await {
        Ok(h) => h,
        Err(e) => {
            dns.stop().await;
            servers.stop().await;
            return done(Verdict::Error, e.0, Vec::new());
        }
    };
    let observed = match who {
        Delivering::Reference(d) => {
            let https = policy_host.as_ref().map_or(443, |h| h.addr.port());
            let at = reference::At {
                dns: dns.addr,
                servers: &servers,
                ca: ca.as_ref(),
                https,
            };
            reference::observe(&case.meta.id, def, d, &at)
                .await
                .map_err(|e| (e, Vec::new()))
        }
        Delivering::Mta(profile, message) => {
            mta::observe(def, profile, message, &servers, &dns).await
        }
    };
    dns.stop().await;
    let observed = observed.map(|(seen, mut transcript)| {
        if let Some(host) = policy_host {
            transcript.extend(host.finish());
        }
        (seen, transcript)
    });
    let (outcome, transcript, relayed) = judged(def, observed);
    servers.stop().await;
    let mut result = CaseResult::of(case, outcome, start, transcript);
    result.relayed = relayed;
    result
}

/// What was observed, judged: the outcome, the transcript with the judge's notes, and
/// for a relay case what became of the smuggled sequence.
fn judged(
    def: &DeliveryDef,
    observed: Result<(judge::Observation, Vec<Event>), (crate::outcome::HarnessError, Vec<Event>)>,
) -> (Outcome, Vec<Event>, Option<Relayed>) {
    let (seen, mut transcript) = match observed {
        Ok(o) => o,
        Err((why, transcript)) => return (Outcome::Error(why), transcript, None),
    };
    if let Some(why) = mta::refused_requiretls(def, &seen) {
        return (Outcome::Inconclusive(why), transcript, None);
    }
    if let Some(rule) = &def.expect.relayed {
        let (outcome, fact) = relay::judge(rule, &seen, &mut transcript);
        return (outcome, transcript, fact);
    }
    let outcome = match judge::judge(def, &seen, &mut transcript) {
        Ok(why) => Outcome::Pass(why),
        Err(unmet) => Outcome::Unmet(unmet),
    };
    (outcome, transcript, None)
}

/// The case's MTA-STS policy host, if it has one: on port 443 for a real MTA (which
/// knows no other), on any port for the reference client.
async fn policy_host(
    def: &DeliveryDef,
    ca: Option<&TestCa>,
    mta_port: Option<u16>,
) -> Result<Option<policy_host::PolicyHost>, crate::outcome::HarnessError> {
    let (Some(host), Some(ca)) = (&def.mta_sts, ca) else {
        return Ok(None);
    };
    let acceptor = crate::roles::script::Identities::of(ca).pick(host.certificate);
    let port = if mta_port.is_some() { 443 } else { 0 };
    policy_host::PolicyHost::start(host, port, acceptor)
        .await
        .map(Some)
}
