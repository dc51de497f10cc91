//! Running a delivery case: fake DNS and scripted servers up, the sender delivers (once,
//! or `runs` times to measure a spread), then the expectations are checked.
//!
//! The two senders differ only in how they are observed (`reference.rs`, `mta.rs`);
//! `judge.rs` is the one judge of the `expect:` block for both.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::outcome::{HarnessError, Outcome, Verdict};
use crate::profile::sender::SenderProfile;
use crate::roles::{Attempt, CaseResult, Role};

mod judge;
mod lookup;
mod mta;
mod policy_host;
mod reference;
mod relay;
mod submit;
mod tls;
use crate::scenario::load::Case;
use crate::scenario::{self, sender::DeliveryDef};
use crate::send::SenderDeviation;
use crate::send::sts::Cache;
use crate::test_ca::{KnownCa, TestCa};
use crate::wire::{Dir, Event};
pub use relay::Relayed;
use std::sync::Arc;

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
/// observed delivering, and one judge over what was seen, whoever sent. A case with
/// `before:` first has the sender deliver once in that world, which must arrive.
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
    let world = World {
        id: &case.meta.id,
        who,
        dns_at,
        port,
        dir: dir.path(),
        known: match sender {
            Sender::Mta(p, _) => p.ca.as_ref(),
            _ => None,
        },
        sts_cache: Arc::default(),
    };
    let mut earlier = Vec::new();
    let mut served_before = 0;
    if let Some(before) = &def.before {
        let primed = def.primed(before);
        earlier.push(note(
            "the first delivery (before:), which must arrive and is not judged otherwise:".into(),
        ));
        match world.deliver(&primed).await {
            Ok((seen, notes)) => {
                earlier.extend(notes);
                served_before = seen.policies_served;
                if let Err(unmet) = judge::judge(&primed, &seen, &mut earlier) {
                    let (why, _) = Outcome::Unmet(unmet).into_reason();
                    let why = format!(
                        "the first delivery (before:) did not arrive, so the sender holds \
                         nothing for the case to test: {why}"
                    );
                    return done(Verdict::Skip, why, earlier);
                }
            }
            Err((e, notes)) => {
                earlier.extend(notes);
                return done(Verdict::Error, e.0, earlier);
            }
        }
        if let Some(wait) = before
            .wait
            .as_deref()
            .and_then(crate::scenario::parse_duration)
        {
            earlier.push(note(format!("waited {} ms", wait.as_millis())));
            tokio::time::sleep(wait).await;
        }
        earlier.push(note("the judged delivery:".into()));
    }
    let observed = match world.deliver(def).await {
        Ok((mut seen, notes)) => {
            seen.policies_served += served_before;
            Ok((seen, [earlier, notes].concat()))
        }
        Err((e, notes)) => Err((e, [earlier, notes].concat())),
    };
    let (outcome, transcript, relayed) = judged(def, observed);
    let mut result = CaseResult::of(case, outcome, start, transcript);
    result.relayed = relayed;
    result
}

/// What one delivery of a case is made in: who sends, where the fake services go,
/// and what the case's deliveries share.
struct World<'a> {
    id: &'a str,
    who: Delivering<'a>,
    dns_at: SocketAddr,
    /// The MX port a real MTA connects to; `None` for the reference client (any).
    port: Option<u16>,
    dir: &'a Path,
    /// The CA a real MTA trusts.
    known: Option<&'a KnownCa>,
    /// The reference client's MTA-STS policies, across the case's deliveries.
    sts_cache: Arc<Cache>,
}

type Observed = Result<(judge::Observation, Vec<Event>), (HarnessError, Vec<Event>)>;

impl World<'_> {
    /// `def`'s zones, servers and policy host up, one delivery observed, all down.
    async fn deliver(&self, def: &DeliveryDef) -> Observed {
        let fail = |e: HarnessError| Err((e, Vec::new()));
        let (zones, ca) = match tls::prepare(def, self.dir, self.known) {
            Ok(z) => z,
            Err(e) => return fail(e),
        };
        let dns = match crate::dns::serve(&zones, self.dns_at).await {
            Ok(d) => d,
            Err(e) => return fail(e),
        };
        let scripts: Vec<_> = def.servers.iter().map(|(ip, s)| (*ip, s.clone())).collect();
        let acceptor = ca.as_ref().map(crate::roles::script::Identities::of);
        let servers = match crate::roles::script::start(&scripts, self.port, acceptor).await {
            Ok(s) => s,
            Err(e) => {
                dns.stop().await;
                return fail(e);
            }
        };
        let policy_host = match policy_host(def, ca.as_ref(), self.port).await {
            Ok(h) => h,
            Err(e) => {
                dns.stop().await;
                servers.stop().await;
                return fail(e);
            }
        };
        let observed = match &self.who {
            Delivering::Reference(d) => {
                let at = reference::At {
                    dns: dns.addr,
                    servers: &servers,
                    ca: ca.as_ref(),
                    https: policy_host.as_ref().map_or(443, |h| h.addr.port()),
                    sts_cache: Some(&self.sts_cache),
                };
                reference::observe(self.id, def, d, &at)
                    .await
                    .map_err(|e| (e, Vec::new()))
            }
            Delivering::Mta(profile, message) => {
                mta::observe(def, profile, message, &servers, &dns).await
            }
        };
        let questions = dns.log.lock().map(|l| l.clone()).unwrap_or_default();
        dns.stop().await;
        servers.stop().await;
        let (host_notes, served) = match policy_host {
            Some(host) => host.finish().await,
            None => (Vec::new(), 0),
        };
        observed.map(|(mut seen, transcript)| {
            seen.policies_served = served;
            seen.questions = questions;
            (seen, [transcript, host_notes].concat())
        })
    }
}

/// What was observed, judged: the outcome, the transcript with the judge's notes, and
/// for a relay case what became of the smuggled sequence.
fn judged(def: &DeliveryDef, observed: Observed) -> (Outcome, Vec<Event>, Option<Relayed>) {
    let (seen, mut transcript) = match observed {
        Ok(o) => o,
        Err((why, transcript)) => return (Outcome::Error(why), transcript, None),
    };
    if let Some(why) = mta::refused_requiretls(def, &seen) {
        return (Outcome::Inconclusive(why), transcript, None);
    }
    if let Some(why) = unasked(def, &seen) {
        return (Outcome::Inconclusive(why), transcript, None);
    }
    let survived = match lookup::survived(def, &seen) {
        lookup::Survival::Judged(outcome) => return (outcome, transcript, None),
        lookup::Survival::Answered(how) => Some(how),
        lookup::Survival::NotAsked => None,
    };
    if let Some(rule) = &def.expect.relayed {
        let (outcome, fact) = relay::judge(rule, &seen, &mut transcript);
        return (outcome, transcript, fact);
    }
    let outcome = match (judge::judge(def, &seen, &mut transcript), survived) {
        (Ok(why), Some(how)) => Outcome::Pass(format!("{how}; {why}")),
        (Ok(why), None) => Outcome::Pass(why),
        (Err(unmet), _) => Outcome::Unmet(unmet),
    };
    (outcome, transcript, None)
}

/// Why a case that wants the message kept from a host under an MTA-STS policy has no
/// evidence, if it has none: the sender never fetched the policy, so its not
/// delivering cannot be MTA-STS at work (a sender whose policy daemon is down defers
/// everything).
fn unasked(def: &DeliveryDef, seen: &judge::Observation) -> Option<String> {
    let has_policy =
        def.mta_sts.is_some() || def.before.as_ref().is_some_and(|b| b.mta_sts.is_some());
    let wants_kept = def
        .expect
        .outcome
        .as_ref()
        .is_some_and(|o| !o.allows(scenario::sender::Outcome::Delivered));
    let delivered = seen
        .runs
        .iter()
        .any(|r| r.outcome == Some(scenario::sender::Outcome::Delivered));
    (has_policy && wants_kept && !delivered && seen.policies_served == 0).then(|| {
        "the sender never fetched the MTA-STS policy (the policy host handed it to \
         nobody), so its not delivering shows nothing about MTA-STS"
            .to_string()
    })
}

/// The case's MTA-STS policy host, if it has one: on port 443 for a real MTA (which
/// knows no other), on any port for the reference client.
async fn policy_host(
    def: &DeliveryDef,
    ca: Option<&TestCa>,
    mta_port: Option<u16>,
) -> Result<Option<policy_host::PolicyHost>, HarnessError> {
    let (Some(host), Some(ca)) = (&def.mta_sts, ca) else {
        return Ok(None);
    };
    let acceptor = crate::roles::script::Identities::of(ca).pick(host.certificate);
    let port = if mta_port.is_some() { 443 } else { 0 };
    policy_host::PolicyHost::start(host, port, acceptor)
        .await
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::sender::{DeliveryExpect, Outcomes, PolicyHostDef};
    use scenario::sender::Outcome as Ended;

    fn case(mta_sts: bool, want: Outcomes) -> DeliveryDef {
        let yaml = "zones: {}\nexpect: {}\n";
        let mut def: DeliveryDef = serde_saphyr::from_str(yaml).unwrap();
        def.mta_sts = mta_sts.then(|| PolicyHostDef {
            address: std::net::Ipv4Addr::new(127, 0, 0, 20),
            policy: String::new(),
            status: 200,
            certificate: Default::default(),
        });
        def.expect = DeliveryExpect {
            outcome: Some(want),
            ..DeliveryExpect::default()
        };
        def
    }

    fn seen(outcome: Ended, served: usize) -> judge::Observation {
        judge::Observation {
            runs: vec![judge::Run {
                outcome: Some(outcome),
                tried: Vec::new(),
                account: None,
                handover: None,
            }],
            connections: Vec::new(),
            taken: Default::default(),
            sees_refused: false,
            received: Vec::new(),
            policies_served: served,
            questions: Vec::new(),
        }
    }

    #[test]
    fn keeping_mail_back_proves_mta_sts_only_after_the_policy_was_fetched() {
        let kept = Outcomes::Many(vec![Ended::Deferred, Ended::Bounced]);
        // Never fetched: not delivering shows nothing.
        assert!(unasked(&case(true, kept.clone()), &seen(Ended::Deferred, 0)).is_some());
        // Fetched: judged.
        assert!(unasked(&case(true, kept.clone()), &seen(Ended::Deferred, 1)).is_none());
        // Delivered: a failure the judge shows, whatever was fetched.
        assert!(unasked(&case(true, kept.clone()), &seen(Ended::Delivered, 0)).is_none());
        // No policy in the case, or delivery wanted: nothing to prove.
        assert!(unasked(&case(false, kept), &seen(Ended::Deferred, 0)).is_none());
        let delivered = Outcomes::One(Ended::Delivered);
        assert!(unasked(&case(true, delivered), &seen(Ended::Deferred, 0)).is_none());
    }
}
