//! A differential campaign: each input goes to every party — the reference server
//! first, then each target — at once, and the parties' views ([`compare::view`]) are
//! compared. Inputs that set a new bit in any party's signature are kept, as in a
//! single-target campaign; a disagreement is confirmed by sending the input to every
//! party again, minimised with every party, and counted in the matrix. Confirming
//! and minimising run beside the campaign (two at once): each takes up to
//! [`minimise::TIME`], and run inline they took most of a campaign's time.
//!
//! The oracles of a single-target campaign are not run here: a disagreement says
//! where servers part, and the single-target campaign on the one that stands apart
//! says whether it breaks a rule.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::{Id, JoinHandle, JoinSet};

use super::compare::{self, Disagreement, Matrix};
use super::exec::{self, Limits, Trace};
use super::input::Input;
use super::minimise::{self, Probe};
use super::mutate::Rng;
use super::waiting::{Checks, Waiting};
use super::{Stats, signature, throttle};

/// One server of the comparison.
#[derive(Debug, Clone)]
pub struct Party {
    /// As the user named it (or `reference`).
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its deadlines ([`Limits::whole`] set).
    pub limits: Limits,
}

/// How a differential campaign runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The reference server first, then the targets.
    pub parties: Vec<Party>,
    /// Stop after this many inputs.
    pub runs: Option<u64>,
    /// Stop after this long.
    pub duration: Duration,
    /// The generator's seed.
    pub seed: u64,
    /// Inputs at once (each to every party).
    pub jobs: usize,
    /// Most inputs spent minimising one disagreement.
    pub minimise_budget: usize,
    /// End at the first disagreement.
    pub stop_on_finding: bool,
}

/// One disagreement, confirmed and minimised.
#[derive(Debug, Clone)]
pub struct Found {
    /// What and who.
    pub disagreement: Disagreement,
    /// The input that shows it, minimised.
    pub input: Input,
    /// Every party's session on it, in party order.
    pub traces: Vec<Trace>,
    /// Steps before minimisation.
    pub original_steps: usize,
}

/// The end of a differential campaign.
pub struct Outcome {
    /// Its figures; `stats.differential` holds the matrix.
    pub stats: Stats,
    /// The disagreements, most damaging class first.
    pub found: Vec<Found>,
    /// The inputs kept.
    pub corpus: Vec<Input>,
}

/// Run a differential campaign from `seeds`; `status` after every generation.
pub async fn run(seeds: Vec<Input>, options: Options, mut status: impl FnMut(&Stats)) -> Outcome {
    let started = Instant::now();
    let names: Vec<String> = options.parties.iter().map(|p| p.name.clone()).collect();
    let mut fresh = seeds
        .into_iter()
        .map(Input::bounded)
        .collect::<Vec<_>>()
        .into_iter();
    let mut rng = Rng::new(options.seed);
    let permits = Arc::new(Semaphore::new(options.jobs.max(1)));
    let mut c = Diff {
        stats: Stats {
            differential: Some(Matrix::new(&names)),
            ..Stats::default()
        },
        parties: Arc::new(options.parties.clone()),
        names,
        corpus: Vec::new(),
        map: signature::Map::default(),
        seen: HashSet::new(),
        found: Vec::new(),
        budget: options.minimise_budget,
        checking: JoinSet::new(),
        checking_keys: HashMap::new(),
        waiting: Waiting::default(),
    };
    let mut inputs_run = 0u64;
    let mut inflight = std::collections::VecDeque::new();
    loop {
        // Two generations in flight: one folds while the other's sessions run.
        while inflight.len() < DEPTH && !over(&options, inputs_run, started) {
            let mut size = options.jobs.max(1) * 4;
            if let Some(runs) = options.runs {
                let queued: usize = inflight.iter().map(|(b, _): &Generation| b.len()).sum();
                size = size.min((runs - inputs_run).saturating_sub(queued as u64) as usize);
            }
            let batch = super::draw(&mut fresh, &c.corpus, &mut rng, size);
            if batch.is_empty() {
                break;
            }
            let tasks = spawn(&batch, &c.parties, &permits);
            inflight.push_back((batch, tasks));
        }
        let Some((batch, tasks)) = inflight.pop_front() else {
            break;
        };
        for (input, task) in batch.into_iter().zip(tasks) {
            if let Ok(traces) = task.await {
                inputs_run += 1;
                c.fold(input, traces);
            }
        }
        c.collect(false).await;
        c.stats.elapsed_s = started.elapsed().as_secs_f64();
        c.stats.sessions_per_s = c.stats.sessions as f64 / c.stats.elapsed_s.max(1e-9);
        c.stats.signature_bits = c.map.len();
        c.stats.signature_bits_by_feature = c.map.by_kind();
        c.stats.corpus = c.corpus.len();
        status(&c.stats);
        if options.stop_on_finding && !c.found.is_empty() {
            inflight
                .iter()
                .flat_map(|(_, t)| t)
                .for_each(JoinHandle::abort);
            break;
        }
    }
    // What is being confirmed is a disagreement or not: say which.
    if !options.stop_on_finding || c.found.is_empty() {
        c.check_the_rest().await;
    }
    c.waiting.abandon();
    c.stats.unchecked = c.waiting.dropped;
    // By class, then identity: the same disagreements, the same report.
    c.found
        .sort_by_key(|f| (f.disagreement.class, f.disagreement.key));
    Outcome {
        stats: c.stats,
        found: c.found,
        corpus: c.corpus,
    }
}

/// Generations in flight at once.
const DEPTH: usize = 2;

/// Disagreements confirmed and minimised at once.
const AT_ONCE: usize = 2;

/// A generation: its inputs and, for each, the task sending it to every party.
type Generation = (Vec<Input>, Vec<JoinHandle<Vec<Trace>>>);

fn spawn(
    batch: &[Input],
    parties: &Arc<Vec<Party>>,
    permits: &Arc<Semaphore>,
) -> Vec<JoinHandle<Vec<Trace>>> {
    batch
        .iter()
        .map(|input| {
            let (permits, parties) = (Arc::clone(permits), Arc::clone(parties));
            let input = input.clone();
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                everyone(&parties, &input).await
            })
        })
        .collect()
}

/// A differential campaign between generations.
struct Diff {
    stats: Stats,
    parties: Arc<Vec<Party>>,
    names: Vec<String>,
    corpus: Vec<Input>,
    map: signature::Map,
    seen: HashSet<u64>,
    found: Vec<Found>,
    budget: usize,
    /// Disagreements being confirmed and minimised, and each task's identity.
    checking: JoinSet<Option<Found>>,
    checking_keys: HashMap<Id, u64>,
    /// Disagreements met while every slot was taken, most damaging class first.
    waiting: Waiting<compare::Class>,
}

impl Diff {
    /// Take one input's sessions in: keep it if any party did something new; a new
    /// disagreement sent to be confirmed and minimised.
    fn fold(&mut self, input: Input, traces: Vec<Trace>) {
        self.stats.sessions += traces.len() as u64;
        let mut new = 0;
        for (k, t) in traces.iter().enumerate() {
            // Each party its own bits: a state one party reaches is new for it.
            new += self.map.observe_as(k as u64, &input, t);
            self.stats.unanswered_steps += t.short as u64;
        }
        if let Some((k, t)) = traces
            .iter()
            .enumerate()
            .find(|(_, t)| compare::incomparable(t))
        {
            self.stats.throttled += 1;
            let why = format!("{}: {}", self.names[k], t.throttled_by());
            throttle::count(&mut self.stats.throttled_by, why);
        } else if let Some(d) = disagreement(&input, &traces, &self.names)
            && !self.seen.contains(&d.key)
            && !self.checking_keys.values().any(|&k| k == d.key)
        {
            if self.checking.len() < AT_ONCE {
                self.check(d.key, input.clone());
            } else {
                self.waiting.push(d.class, d.key, &input);
            }
        }
        if new > 0 {
            self.corpus.push(input);
        }
    }

    /// Confirm and minimise the disagreement of identity `key` that `input` showed,
    /// beside the campaign.
    fn check(&mut self, key: u64, input: Input) {
        let mut probe = Everyone {
            parties: Arc::clone(&self.parties),
            names: self.names.clone(),
            key,
        };
        let budget = self.budget;
        let task = self.checking.spawn(async move {
            let again = probe.shows(&input).await?;
            let original_steps = input.steps.len();
            let (small, (disagreement, traces)) =
                minimise::shrink(&mut probe, budget, input, again).await;
            Some(Found {
                disagreement,
                input: small,
                traces,
                original_steps,
            })
        });
        self.checking_keys.insert(task.id(), key);
    }
}

/// Disagreements are checked [`AT_ONCE`] at a time, most damaging class first.
impl Checks for Diff {
    fn start_waiting(&mut self) {
        while self.checking.len() < AT_ONCE
            && let Some((_, key, input)) = self.waiting.pop()
        {
            if !self.seen.contains(&key) {
                self.check(key, input);
            }
        }
    }

    fn nothing_waits(&self) -> bool {
        self.waiting.is_empty()
    }

    async fn collect(&mut self, wait: bool) {
        loop {
            let next = if wait {
                self.checking.join_next_with_id().await
            } else {
                self.checking.try_join_next_with_id()
            };
            let Some(done) = next else {
                if !wait {
                    self.start_waiting();
                }
                return;
            };
            let id = match &done {
                Ok((id, _)) => *id,
                Err(e) => e.id(),
            };
            let key = self.checking_keys.remove(&id);
            let (Ok((_, found)), Some(key)) = (done, key) else {
                continue;
            };
            let Some(f) = found else {
                self.stats.unconfirm("disagreement");
                continue;
            };
            if !self.seen.insert(key) {
                continue;
            }
            let d = &f.disagreement;
            *self
                .stats
                .findings
                .entry(d.class.name().into())
                .or_default() += 1;
            if let Some(m) = self.stats.differential.as_mut() {
                m.add(d);
            }
            self.found.push(f);
        }
    }
}

fn over(options: &Options, inputs: u64, started: Instant) -> bool {
    options.runs.is_some_and(|r| inputs >= r) || started.elapsed() >= options.duration
}

/// `input` sent to every party at once; the traces in party order.
async fn everyone(parties: &[Party], input: &Input) -> Vec<Trace> {
    let tasks: Vec<_> = parties
        .iter()
        .map(|p| {
            let (addr, limits, input) = (p.addr, p.limits, input.clone());
            tokio::spawn(async move { exec::run(addr, &input, limits).await })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(
            t.await
                .unwrap_or_else(|e| Trace::unreachable(format!("the session's task failed: {e}"))),
        );
    }
    out
}

/// The worst disagreement in `traces`, if every party can be compared.
fn disagreement(input: &Input, traces: &[Trace], names: &[String]) -> Option<Disagreement> {
    if traces.iter().any(compare::incomparable) {
        return None;
    }
    let views: Vec<compare::View> = traces.iter().map(|t| compare::view(input, t)).collect();
    compare::compare(input, &views, names)
}

/// Every party, one disagreement: the same identity must show again.
struct Everyone {
    parties: Arc<Vec<Party>>,
    names: Vec<String>,
    key: u64,
}

impl Probe for Everyone {
    type Evidence = (Disagreement, Vec<Trace>);

    async fn shows(&mut self, candidate: &Input) -> Option<Self::Evidence> {
        let traces = everyone(&self.parties, candidate).await;
        disagreement(candidate, &traces, &self.names)
            .filter(|d| d.key == self.key)
            .map(|d| (d, traces))
    }
}
