//! The network fuzzer: inputs made of the scenario language's client steps, sent to
//! a live server, kept when the target did something new, judged by oracles, and
//! written as reproducer suites.
//!
//! A campaign runs in generations: each draws `jobs × 4` inputs from the corpus with
//! one seeded generator and folds its results in input order, so the same seed sends
//! the same inputs in the same order (what the target answers may still vary). Two
//! generations are in flight at once: generation k + 2 is drawn when k is folded, so
//! the sessions of k + 1 fill the workers while k's slowest session (a reply timeout,
//! a hang) finishes. No instrumentation: the feedback is [`signature::Map`].

pub mod canary;
pub mod client;
pub mod compare;
pub mod confirm;
pub mod differ;
pub mod exec;
pub mod expect;
pub mod finding;
pub mod hash;
pub mod input;
pub mod latency;
pub mod logwatch;
pub mod minimise;
pub mod mutate;
pub mod oracle;
pub mod policy;
pub mod process;
pub mod signature;
pub mod store;
pub mod throttle;
pub mod waiting;
pub mod watch;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use exec::{End, Limits, Trace};
use finding::Finding;
use input::Input;
use mutate::Rng;
use oracle::{Judged, Oracle};
use waiting::Checks;

/// How a campaign runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server fuzzed.
    pub target: SocketAddr,
    /// Stop after this many sessions.
    pub runs: Option<u64>,
    /// Stop after this long.
    pub duration: Duration,
    /// The generator's seed.
    pub seed: u64,
    /// Sessions at once.
    pub jobs: usize,
    /// Session deadlines.
    pub limits: Limits,
    /// Most sessions per second (a remote target's cap); `None`: as fast as it goes.
    pub rate: Option<u32>,
    /// Most attempts spent minimising one finding.
    pub minimise_budget: usize,
    /// End the campaign at the first finding.
    pub stop_on_finding: bool,
    /// The target's process and logs, when they can be watched.
    pub watch: watch::WatchSpec,
    /// The canary transaction ([`canary::input`]); `None`: no state-regression oracle.
    pub canary: Option<Input>,
    /// The target's store, when it can be read: the `accepted-but-wrong` oracle.
    pub store: Option<crate::profile::store::MailStore>,
    /// The store is the campaign's own (the embedded server's temporary Maildir):
    /// emptied after each look. Never for a profile's store: those are the user's.
    pub store_disposable: bool,
    /// The store holds one copy of a message per recipient accepted, as a delivery
    /// agent writes them (a profile's store); the embedded server's holds one per
    /// message, whatever its recipients.
    pub store_per_recipient: bool,
    /// What the target's operator says it must refuse: the `policy` oracle.
    pub policy: crate::profile::PolicyOptions,
}

/// What a campaign did, as `stats.json` has it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Sessions run (minimisation not counted).
    pub sessions: u64,
    /// Wall time.
    pub elapsed_s: f64,
    /// Sessions per second.
    pub sessions_per_s: f64,
    /// Distinct states seen (bits set in the signature map).
    pub signature_bits: usize,
    /// The same bits by the feature that set them (reply transitions, verb and
    /// code, enhanced codes, wording, …): a campaign whose states keep growing shows
    /// here which part of the target's answers makes each session new.
    pub signature_bits_by_feature: BTreeMap<String, usize>,
    /// Inputs kept.
    pub corpus: usize,
    /// Findings by class (deduplicated).
    pub findings: BTreeMap<String, usize>,
    /// Sessions the target refused (421, a greeting other than 220): its protection,
    /// not a finding.
    pub throttled: u64,
    /// The same, by the reply that refused (digits as `#`; 16 wordings at most):
    /// what limit the target applied, and so which setting lifts it.
    pub throttled_by: BTreeMap<String, u64>,
    /// Sessions that could not connect and then did again (a full backlog).
    pub unreachable: u64,
    /// Sessions the target closed right after refusing a command (4xx or 5xx): it
    /// said why, so not a silent close.
    pub closed_after_refusal: u64,
    /// The same, by the last refusal before the close (as `throttled_by`): an error
    /// limit shows here (Exim's "Too many syntax or protocol errors").
    pub closed_after_refusal_by: BTreeMap<String, u64>,
    /// Steps whose replies did not all come within the reply timeout: the target
    /// waits for more input, or is slower than `--timeout`.
    pub unanswered_steps: u64,
    /// Sessions that showed a finding which the same input, sent again at once, did
    /// not show: timing, not a bug the input reproduces; not reported as findings.
    pub unconfirmed: u64,
    /// The same, by the class the session seemed to show (an oracle's name, or
    /// `disagreement` in a differential campaign): where timing misleads.
    pub unconfirmed_by: BTreeMap<String, u64>,
    /// The target's process group (memory, descriptors), when it was watched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<watch::Figures>,
    /// A differential campaign's disagreements, by target and class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differential: Option<compare::Matrix>,
    /// Canary transactions run (the first, the baseline, not counted).
    pub canaries: u64,
    /// Canaries the target refused with 421 or no service: its protection.
    pub canaries_throttled: u64,
    /// Replies over their command's latency bar that came after refusals in their
    /// session: the target's error sleep, not a latency outlier.
    pub slowed_after_errors: u64,
    /// Replies over their command's latency bar, slow again when the input was sent
    /// again, and not slow when its commands went one write each: the target held
    /// replies while pipelined input was pending (RFC 2920 §3.1 lets it), not work
    /// the input causes.
    pub slowed_pipelined: u64,
    /// Suspected findings never checked: met while every checking slot was taken,
    /// and still waiting when the campaign ended (or past the queue's bound); and
    /// store excesses met when bisections had taken their share of the time.
    pub unchecked: u64,
}

/// The end of a campaign.
pub struct Outcome {
    /// Its figures.
    pub stats: Stats,
    /// Its findings, minimised.
    pub findings: Vec<Finding>,
    /// The inputs kept.
    pub corpus: Vec<Input>,
    /// The target died (no connection after it accepted them).
    pub died: bool,
}

/// The state of a campaign between generations.
struct Campaign {
    options: Options,
    corpus: Vec<Input>,
    /// Seeds not yet run as they are.
    fresh: std::vec::IntoIter<Input>,
    map: signature::Map,
    seen: HashSet<u64>,
    rng: Rng,
    stats: Stats,
    findings: Vec<Finding>,
    watcher: Option<watch::Watcher>,
    canary: Option<canary::Canary>,
    store: Option<store::StoreWatch>,
    latencies: latency::Latencies,
    /// Times the campaign paused (every worker held) to probe the target.
    pauses: std::sync::atomic::AtomicU64,
    /// Findings being confirmed beside the campaign.
    confirming: confirm::Confirming,
}

/// Run a campaign from `seeds`; `status` is called after every generation.
pub async fn run(seeds: Vec<Input>, options: Options, mut status: impl FnMut(&Stats)) -> Outcome {
    let started = Instant::now();
    let seeds: Vec<Input> = seeds.into_iter().map(Input::bounded).collect();
    let mut c = Campaign {
        rng: Rng::new(options.seed),
        corpus: Vec::new(),
        fresh: seeds.into_iter(),
        map: signature::Map::default(),
        seen: HashSet::new(),
        stats: Stats::default(),
        findings: Vec::new(),
        watcher: watch::Watcher::new(&options.watch),
        canary: None,
        store: options.store.clone().map(|s| {
            store::StoreWatch::new(s, options.store_disposable, options.store_per_recipient)
        }),
        pauses: Default::default(),
        confirming: Default::default(),
        latencies: latency::Latencies::default(),
        options,
    };
    if let Some(input) = c.options.canary.clone() {
        let (target, limits) = (c.options.target, c.options.limits);
        c.canary = Some(canary::Canary::start(input, target, limits).await);
    }
    let mut died = false;
    let permits = Arc::new(Semaphore::new(c.options.jobs.max(1)));
    c.confirming.permits = Some(Arc::clone(&permits));
    c.confirming.gap = c.options.rate.map(|r| Duration::from_secs(1) / r.max(1));
    let mut inflight = Inflight::new();
    for _ in 0..DEPTH {
        let batch = c.draw();
        if !batch.is_empty() {
            inflight.push_back(c.spawn_batch(batch, &permits).await);
        }
    }
    while let Some((batch, tasks)) = inflight.pop_front() {
        let mut traces = Vec::with_capacity(tasks.len());
        for t in tasks {
            traces.push(
                t.await.unwrap_or_else(|e| {
                    Trace::unreachable(format!("the session's task failed: {e}"))
                }),
            );
        }
        // What the off-the-wire oracles tie a death, a log line or a growth to: this
        // generation, then those in flight (their sessions may have run already).
        let mut suspects: Vec<watch::Suspect> = Vec::new();
        if c.watcher.is_some() || traces.iter().any(|t| matches!(t.end, End::Unreachable(_))) {
            suspects.extend(
                batch
                    .iter()
                    .cloned()
                    .zip(traces.iter().map(watch::ended_early)),
            );
            for (next, _) in &inflight {
                suspects.extend(next.iter().cloned().map(|i| (i, false)));
            }
            suspects.extend(c.confirming.inputs().cloned().map(|i| (i, false)));
        }
        let mut unreachable = false;
        for (input, trace) in batch.into_iter().zip(traces) {
            unreachable |= c.fold(input, trace).await;
        }
        c.collect_confirmations(false).await;
        died |= c.watch(&suspects, &permits).await;
        if !died {
            c.fly_canary(&permits).await;
        }
        if !died && unreachable && !alive(c.options.target, c.options.limits).await {
            died = true;
            c.note_death("the target stopped accepting connections".into(), &suspects);
        }
        c.stats.elapsed_s = started.elapsed().as_secs_f64();
        c.stats.sessions_per_s = c.stats.sessions as f64 / c.stats.elapsed_s.max(1e-9);
        c.stats.signature_bits = c.map.len();
        c.stats.signature_bits_by_feature = c.map.by_kind();
        c.stats.corpus = c.corpus.len();
        c.stats.target = c.watcher.as_ref().and_then(watch::Watcher::figures);
        status(&c.stats);
        if died || (c.options.stop_on_finding && !c.findings.is_empty()) {
            for (_, tasks) in inflight.drain(..) {
                tasks.iter().for_each(JoinHandle::abort);
            }
            break;
        }
        c.refill(&mut inflight, &permits, started).await;
    }
    c.finish(died).await
}

impl Campaign {
    /// The campaign's end. What is being confirmed is a finding or not: say which.
    /// A dead target confirms nothing more; a campaign stopped at its first finding
    /// does not wait. Findings in the order of severity, then identity: the same
    /// findings, the same report.
    async fn finish(mut self, died: bool) -> Outcome {
        if died {
            self.keep_confirmed().await;
        } else if !self.options.stop_on_finding || self.findings.is_empty() {
            self.check_the_rest().await;
        }
        self.confirming.waiting.abandon();
        self.stats.unchecked += self.confirming.waiting.dropped;
        self.findings.sort_by_key(|f| (f.oracle, f.key));
        Outcome {
            stats: self.stats,
            findings: self.findings,
            corpus: self.corpus,
            died,
        }
    }
}

impl Stats {
    /// One more `class` the input, sent again, did not show.
    pub(crate) fn unconfirm(&mut self, class: &str) {
        self.unconfirmed += 1;
        *self.unconfirmed_by.entry(class.to_owned()).or_default() += 1;
    }
}

/// Generations in flight at once. Generations are folded in the order they were
/// drawn (so a seed draws the same inputs from the same corpus); while one waits
/// for a straggler (a session out to its reply deadline, or to the sync suffix's
/// hang deadline of a second), the others keep every worker busy. Four (768
/// sessions with `--jobs 48`) ran dry behind a one-second straggler: against
/// Postfix the workers were busy 30% of the time, 520-1,010 sessions/s; sixteen,
/// 1,180-1,770.
const DEPTH: usize = 16;

/// Generations in flight: their inputs and their sessions' tasks.
type Inflight = std::collections::VecDeque<(Vec<Input>, Vec<JoinHandle<Trace>>)>;

impl Campaign {
    /// After a generation is folded: the next one drawn and started. A look at the
    /// store wants every session folded, so none starts until those in flight are;
    /// then the look, then [`DEPTH`] again.
    async fn refill(
        &mut self,
        inflight: &mut Inflight,
        permits: &Arc<Semaphore>,
        started: Instant,
    ) {
        let quiet = self.store_look_due();
        if quiet && inflight.is_empty() {
            // Their messages are counted before the store is.
            self.collect_confirmations(true).await;
            self.look_at_store(permits).await;
        }
        if self.over(started) {
            return;
        }
        let refill = if quiet {
            usize::from(inflight.is_empty()) * DEPTH
        } else {
            1
        };
        for _ in 0..refill {
            let next = self.draw();
            if !next.is_empty() {
                inflight.push_back(self.spawn_batch(next, permits).await);
            }
        }
    }

    fn over(&self, started: Instant) -> bool {
        self.options.runs.is_some_and(|r| self.stats.sessions >= r)
            || started.elapsed() >= self.options.duration
    }

    /// The next generation: seeds first as they are, then mutants of the corpus.
    fn draw(&mut self) -> Vec<Input> {
        let mut size = self.options.jobs.max(1) * 4;
        if let Some(runs) = self.options.runs {
            size = size.min((runs - self.stats.sessions) as usize);
        }
        draw(&mut self.fresh, &self.corpus, &mut self.rng, size)
    }

    /// Start a generation's sessions; at most `jobs` run at once over all
    /// generations (the semaphore is first come, first served, so a generation's
    /// sessions start before the next one's). With `rate`, starts are paced.
    async fn spawn_batch(
        &self,
        batch: Vec<Input>,
        permits: &Arc<Semaphore>,
    ) -> (Vec<Input>, Vec<JoinHandle<Trace>>) {
        let mut tasks = Vec::with_capacity(batch.len());
        let gap = self.options.rate.map(|r| Duration::from_secs(1) / r.max(1));
        for input in &batch {
            if let Some(gap) = gap {
                tokio::time::sleep(gap).await;
            }
            let permits = Arc::clone(permits);
            let (input, target, limits) = (input.clone(), self.options.target, self.options.limits);
            tasks.push(tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                exec::run(target, &input, limits).await
            }));
        }
        (batch, tasks)
    }

    /// Take one session's result in: keep the input if it was new, record a finding;
    /// true when the target could not be reached.
    async fn fold(&mut self, input: Input, trace: Trace) -> bool {
        self.stats.sessions += 1;
        self.stats.unanswered_steps += trace.short as u64;
        if let Some(w) = self.store.as_mut() {
            w.fold(&input, &trace);
        }
        let new = self.map.observe(&input, &trace);
        match oracle::judge(&input, &trace) {
            Judged::Clean => {
                self.judge_latency(&input, &trace);
                self.judge_policy(&input, &trace).await;
            }
            Judged::Throttled => {
                self.stats.throttled += 1;
                throttle::count(&mut self.stats.throttled_by, trace.throttled_by());
            }
            Judged::ClosedAfterRefusal => {
                self.stats.closed_after_refusal += 1;
                let why = trace.refusals.before_close();
                throttle::count(&mut self.stats.closed_after_refusal_by, why);
            }
            Judged::Unreachable => {
                self.stats.unreachable += 1;
                return true;
            }
            Judged::Finding { .. } if self.injection_explains(&input, &trace).await => {}
            Judged::Finding {
                oracle, verb, what, ..
            } => {
                let key = oracle::key(oracle, &verb, &what);
                match oracle::hang_cut(&input, &trace).filter(|_| oracle == Oracle::Hang) {
                    Some(cut) => self.start_confirming(&cut, oracle, key),
                    None => self.start_confirming(&input, oracle, key),
                }
            }
        }
        self.latencies.add(&input, &trace);
        if new > 0 {
            self.corpus.push(input);
        }
        false
    }

    /// A reply over its command's latency bar: sent again (beside the campaign,
    /// [`confirm`]) twice, with patient deadlines, it must be that slow both times.
    fn judge_latency(&mut self, input: &Input, trace: &Trace) {
        let o = match self.latencies.judge(input, trace) {
            latency::Seen::Usual => return,
            latency::Seen::AfterErrors => {
                self.stats.slowed_after_errors += 1;
                return;
            }
            latency::Seen::Slow(o) => o,
        };
        let key = oracle::key(Oracle::LatencyOutlier, &o.verb, "slow");
        if self.latencies.explained_enough(key) {
            self.stats.slowed_pipelined += 1;
            return;
        }
        self.start_confirming_slow(input, key, o);
    }

    /// The smallest input that shows the same finding (`minimise.rs`).
    async fn minimise(
        &mut self,
        oracle: Oracle,
        key: u64,
        input: Input,
        trace: Trace,
        what: String,
    ) -> Finding {
        let mut shrink = minimise::Shrink {
            target: self.options.target,
            limits: if oracle == Oracle::Hang {
                self.options.limits.probing()
            } else {
                self.options.limits
            },
            budget: self.options.minimise_budget,
            oracle,
            key,
            aside: Default::default(),
        };
        let f = shrink.run(input, trace, what).await;
        self.add_aside(shrink.aside);
        f
    }

    /// Sessions run aside from the generations: the store counts their messages.
    pub(super) fn add_aside(&mut self, aside: store::Aside) {
        if let Some(w) = self.store.as_mut() {
            w.aside(aside);
        }
    }

    /// One session run aside: the store counts its messages.
    pub(super) fn ran_aside(&mut self, input: &Input, trace: &Trace) {
        let mut aside = store::Aside::default();
        aside.add(input, trace);
        self.add_aside(aside);
    }

    /// A finding, counted by class.
    fn push(&mut self, f: Finding) {
        *self
            .stats
            .findings
            .entry(f.oracle.name().into())
            .or_default() += 1;
        self.findings.push(f);
    }

    /// A finding not minimised (its evidence is off the wire, or in the state the
    /// campaign left: each try costs a pause); `baseline`, what the input got at the
    /// start, for the reproducer to expect.
    fn record(
        &mut self,
        oracle: Oracle,
        key: u64,
        input: Input,
        trace: Trace,
        what: String,
        baseline: Option<Trace>,
    ) {
        let mut f = Finding::shown((oracle, key), input.steps.len(), input, trace, what);
        f.baseline = baseline;
        self.push(f);
    }
}

/// `size` inputs: the seeds not yet run as they are, then mutants of the corpus
/// (fewer when both are used up).
fn draw(
    fresh: &mut std::vec::IntoIter<Input>,
    corpus: &[Input],
    rng: &mut Rng,
    size: usize,
) -> Vec<Input> {
    let mut out = Vec::with_capacity(size);
    while out.len() < size {
        if let Some(seed) = fresh.next() {
            out.push(seed);
            continue;
        }
        if corpus.is_empty() {
            break;
        }
        let a = rng.below(corpus.len());
        let b = rng.below(corpus.len());
        out.push(mutate::mutate(&corpus[a], &corpus[b], rng));
    }
    out
}

/// The target accepts a connection and greets within three tries over a second.
async fn alive(target: SocketAddr, limits: Limits) -> bool {
    for _ in 0..3 {
        let probe = exec::run(target, &Input::default(), limits).await;
        if !matches!(probe.end, End::Unreachable(_)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    false
}
