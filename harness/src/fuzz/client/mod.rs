//! Client fuzzing (`smtpspec fuzz --client`): smtpspec plays the server to an SMTP
//! client under test and breaks its replies: malformed multiline forms, codes, long
//! and NUL-bearing lines, 10,000 continuation lines, unasked replies, replies dripped
//! an octet at a time, replies injected before the TLS handshake, TLS alerts. Each
//! session starts the client once (a command from its profile, or the reference
//! client), plays one [`plan::Plan`] and judges what the client did
//! ([`judge::Class`]).
//!
//! The engine is the network fuzzer's: one seeded generator, a corpus of plans kept
//! when the client did something new (its path of verbs, its exit, its reaction to a
//! fault at a place, folded into the same [`crate::fuzz::signature::Map`]), findings
//! identified by class and detail, minimised (faults dropped while the finding
//! stays), replayed to confirm them, and written as reproducers the project reads: a
//! client suite ([`repro`]) and the transcript.

pub mod judge;
pub mod plan;
pub mod repro;
pub mod serve;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::outcome::HarnessError;
use crate::roles::client::ClientUnderTest;
use crate::scenario::client::ClientMode;
use crate::send::route::Rng;
use crate::test_ca::TestCa;
use judge::{Class, Seen};
use plan::Plan;
use repro::ClientFinding;
use serve::{Limits, Trace};

/// How a client campaign runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The client under test.
    pub client: ClientUnderTest,
    /// The modes of its profile that sessions run it in.
    pub modes: Vec<ClientMode>,
    /// Stop after this long.
    pub duration: Duration,
    /// Stop after this many sessions.
    pub runs: Option<u64>,
    /// The generator's seed.
    pub seed: u64,
    /// Clients at once.
    pub jobs: usize,
    /// Session deadlines.
    pub limits: Limits,
    /// End the campaign at the first finding.
    pub stop_on_finding: bool,
}

/// Findings of one class minimised and written at most; the rest are counted.
const WRITTEN_PER_CLASS: usize = 8;

/// Replays of a minimised finding that confirm it.
const REPLAYS: usize = 2;

/// What a client campaign did, as `stats.json` has it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Sessions run (minimisation and replays not counted).
    pub sessions: u64,
    /// Wall time.
    pub elapsed_s: f64,
    /// Sessions per second.
    pub sessions_per_s: f64,
    /// Distinct behaviours of the client seen (bits set in the signature map).
    pub signature_bits: usize,
    /// Plans kept.
    pub corpus: usize,
    /// Distinct findings by class, written or not.
    pub findings: BTreeMap<String, usize>,
    /// How the client runs ended: `0`, `1`, ... by status, `signal`, `killed` (still
    /// running after the close), `no-connection`.
    pub exits: BTreeMap<String, u64>,
    /// Sessions by mode.
    pub modes: BTreeMap<String, u64>,
    /// Sessions spent minimising and confirming findings.
    pub minimise_sessions: u64,
    /// Sessions the harness could not run (the client could not start).
    pub errors: u64,
    /// Findings that did not show again in any replay: counted, not written.
    pub unconfirmed: u64,
}

/// A campaign's result.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Counts.
    pub stats: Stats,
    /// The findings, minimised.
    pub findings: Vec<ClientFinding>,
    /// The plans kept.
    pub corpus: Vec<Plan>,
}

/// The features of a session: the client's path of verbs, how it ended, and how it
/// reacted to a fault at each place.
fn features(t: &Trace) -> Vec<u64> {
    let h = |parts: &[&str]| super::hash::hash(parts.join("\0").as_bytes());
    let exit = exit_key(t);
    let mut f = vec![h(&["exit", &exit])];
    let names: Vec<&str> = t
        .verbs
        .iter()
        .map(|v| v.map_or("?", |v| v.as_str()))
        .collect();
    f.extend(names.windows(2).map(|w| h(&["edge", w[0], w[1]])));
    f.push(h(&["length", &t.steps.len().min(64).to_string()]));
    for fault in &t.plan.faults {
        let at = format!("{:?}", fault.at);
        let last = names.last().copied().unwrap_or("-");
        f.push(h(&["reaction", &at, &exit, last]));
    }
    f
}

fn exit_key(t: &Trace) -> String {
    if t.no_connection {
        return "no-connection".into();
    }
    match &t.exit {
        None => "killed".into(),
        Some(e) => e.code.map_or_else(|| "signal".into(), |c| c.to_string()),
    }
}

/// The next plan: mostly a mutation of one kept, sometimes a fresh one.
fn next_plan(corpus: &[Plan], modes: &[ClientMode], rng: &mut Rng) -> Plan {
    if corpus.is_empty() || rng.below(4) == 0 {
        plan::generate(modes, rng)
    } else {
        plan::mutate(rng.pick(corpus), rng)
    }
}

/// Run a campaign; `progress` sees the stats after each session.
pub async fn run(
    options: Options,
    ca: Arc<TestCa>,
    mut progress: impl FnMut(&Stats),
) -> Result<Outcome, HarnessError> {
    let started = Instant::now();
    let mut rng = Rng::new(options.seed);
    let mut out = Outcome::default();
    let mut map = super::signature::Map::default();
    let mut keys: BTreeMap<u64, ()> = BTreeMap::new();
    let mut sessions = JoinSet::new();
    let mut launched = 0u64;
    let mut first_error = None;
    loop {
        let over = started.elapsed() >= options.duration
            || options.runs.is_some_and(|n| launched >= n)
            || (options.stop_on_finding && !out.findings.is_empty());
        while !over && sessions.len() < options.jobs {
            let plan = next_plan(&out.corpus, &options.modes, &mut rng);
            let (client, ca, limits) = (options.client.clone(), ca.clone(), options.limits);
            sessions.spawn(async move { serve::session(&client, &plan, &ca, limits).await });
            launched += 1;
        }
        let Some(done) = sessions.join_next().await else {
            break;
        };
        let trace = match done.map_err(HarnessError::of).and_then(|r| r) {
            Ok(t) => t,
            Err(e) => {
                out.stats.errors += 1;
                first_error.get_or_insert(e);
                if out.stats.sessions == 0 && out.stats.errors >= 3 {
                    sessions.abort_all();
                    return Err(first_error.unwrap_or_else(|| crate::harness_error!("no session")));
                }
                continue;
            }
        };
        out.stats.sessions += 1;
        *out.stats.exits.entry(exit_key(&trace)).or_default() += 1;
        *out.stats
            .modes
            .entry(trace.plan.mode.as_str().into())
            .or_default() += 1;
        let new = features(&trace).into_iter().filter(|&f| map.add(f)).count();
        if new > 0 && !trace.no_connection {
            out.corpus.push(trace.plan.clone());
        }
        for seen in judge::judge(&trace, options.limits.client) {
            if keys.insert(seen.key, ()).is_some() {
                continue;
            }
            let class = seen.class.name().to_owned();
            let count = out.stats.findings.entry(class).or_default();
            *count += 1;
            if *count > WRITTEN_PER_CLASS {
                continue;
            }
            let f = minimise(&options, &ca, trace.clone(), seen, &mut out.stats).await;
            if f.confirmed.0 == 0 {
                out.stats.unconfirmed += 1;
            } else {
                out.findings.push(f);
            }
        }
        out.stats.elapsed_s = started.elapsed().as_secs_f64();
        out.stats.sessions_per_s = out.stats.sessions as f64 / out.stats.elapsed_s.max(1e-9);
        out.stats.signature_bits = map.len();
        out.stats.corpus = out.corpus.len();
        progress(&out.stats);
    }
    out.stats.elapsed_s = started.elapsed().as_secs_f64();
    Ok(out)
}

/// Whether a session of `plan` shows `seen` again.
async fn shows(
    options: &Options,
    ca: &TestCa,
    plan: &Plan,
    seen: &Seen,
    stats: &mut Stats,
) -> Option<Trace> {
    stats.minimise_sessions += 1;
    let t = serve::session(&options.client, plan, ca, options.limits)
        .await
        .ok()?;
    judge::judge(&t, options.limits.client)
        .iter()
        .any(|s| s.key == seen.key)
        .then_some(t)
}

/// Drop faults while the finding stays (first all of them: a finding without faults
/// is the client's ordinary behaviour), then replay the smallest plan to confirm it.
async fn minimise(
    options: &Options,
    ca: &TestCa,
    trace: Trace,
    seen: Seen,
    stats: &mut Stats,
) -> ClientFinding {
    let original_faults = trace.plan.faults.len();
    let mut best = trace;
    // A hang costs a whole run limit per try: only the fault-free try.
    let tries = if seen.class == Class::Hang {
        0
    } else {
        best.plan.faults.len()
    };
    let bare = Plan {
        mode: best.plan.mode,
        faults: Vec::new(),
    };
    if !best.plan.faults.is_empty()
        && let Some(t) = shows(options, ca, &bare, &seen, stats).await
    {
        best = t;
    }
    for k in (0..tries.min(best.plan.faults.len())).rev() {
        if best.plan.faults.len() <= 1 || k >= best.plan.faults.len() {
            continue;
        }
        let mut smaller = best.plan.clone();
        smaller.faults.remove(k);
        if let Some(t) = shows(options, ca, &smaller, &seen, stats).await {
            best = t;
        }
    }
    let mut confirmed = 0;
    for _ in 0..REPLAYS {
        if shows(options, ca, &best.plan, &seen, stats).await.is_some() {
            confirmed += 1;
        }
    }
    // The words as the smallest session shows them: the faults it names are the
    // ones the reproducer replays, not the original session's.
    let seen = judge::judge(&best, options.limits.client)
        .into_iter()
        .find(|s| s.key == seen.key)
        .unwrap_or(seen);
    ClientFinding {
        seen,
        trace: best,
        original_faults,
        confirmed: (confirmed, REPLAYS),
    }
}
