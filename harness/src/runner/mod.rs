//! The runner: every case on its own connection, several at a time, paced to what the
//! target takes, each to a verdict through the role its case tests.

pub mod main_job;
pub mod pacer;

pub use crate::outcome::Verdict;
pub use crate::roles::server::{Target, discover, ehlo_name, probe_connections, survey};
pub use crate::roles::{Attempt, CaseResult};
pub use pacer::PacerStats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::roles::Role;
use crate::roles::client::{Client, ClientUnderTest};
use crate::roles::sender::Sender;
use crate::scenario::load::{Case, CaseKind};

/// What a run tests, one subject per role: the server its server cases talk to, the
/// sender its delivery cases watch, the client its client cases face. A role the run
/// does not test is `Absent` with the reason its cases are skipped.
#[derive(Debug, Clone)]
pub struct Subjects {
    /// The server under test, as discovered; none in a run that tests a client.
    pub server: Option<Target>,
    /// Who sends in delivery cases.
    pub sender: Sender,
    /// The client under test in client cases, and the run's test CA.
    pub client: Client,
}

impl Subjects {
    /// Only a server under test: client and delivery cases are skipped.
    pub fn server(server: Target) -> Self {
        Self {
            server: Some(server),
            sender: Sender::Absent("this run tests a server only".into()),
            client: Client {
                under_test: ClientUnderTest::Absent("this run tests a server only".into()),
                ca: None,
            },
        }
    }
}

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Cases at once, at most.
    pub jobs: usize,
    /// Longest wait for any one step.
    pub step_timeout: Duration,
    /// Times an attempt the target refused is retried before the case is `error`.
    pub retries: u32,
    /// Cases at once to start with (from [`probe_connections`]); `jobs` if `None`.
    pub initial_jobs: Option<usize>,
}

impl Options {
    /// `jobs` at once, `step_timeout` per step, the default retries.
    pub fn new(jobs: usize, step_timeout: Duration) -> Self {
        Self {
            jobs,
            step_timeout,
            retries: DEFAULT_RETRIES,
            initial_jobs: None,
        }
    }
}

/// Retries of a refused attempt: with the backoff below they wait 0.25 + 0.5 + 1 + 2 s,
/// long enough for a busy server to free a slot.
pub const DEFAULT_RETRIES: u32 = 4;

/// The wait before retry `n` (from 0).
fn backoff(n: u32) -> Duration {
    Duration::from_millis(250u64 << n.min(6))
}

/// How long a case waits on purpose, the least time it takes whatever the target does.
fn waits(case: &Case) -> Duration {
    match &case.kind {
        CaseKind::Server(steps) => Target::waits(steps),
        CaseKind::Client(script) => Client::waits(script),
        CaseKind::Sender(def) => Sender::waits(def),
    }
}

/// The cases of shard `index` (from 1) of `count`, as indices into `cases`, in
/// order: every case in exactly one shard, the same partition in every job that
/// loads the same cases (it goes by id, not by position), and the shards balanced by
/// the time their cases wait on purpose (one 30-second silence weighs as much as a
/// thousand quick cases), so that a CI matrix's jobs end together.
pub fn shard(cases: &[Case], index: usize, count: usize) -> Vec<usize> {
    /// What a case that does not wait on purpose takes, about.
    const QUICK: Duration = Duration::from_millis(30);
    let count = count.max(1);
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by(|&a, &b| {
        waits(&cases[b])
            .cmp(&waits(&cases[a]))
            .then_with(|| cases[a].meta.id.cmp(&cases[b].meta.id))
    });
    let mut load = vec![Duration::ZERO; count];
    let mut mine = Vec::new();
    for i in order {
        let lightest = (0..count).min_by_key(|&s| (load[s], s)).unwrap_or(0);
        load[lightest] += waits(&cases[i]) + QUICK;
        if lightest + 1 == index {
            mine.push(i);
        }
    }
    mine.sort_unstable();
    mine
}

/// Called as each case finishes (for a progress display).
pub type OnDone = Arc<dyn Fn(&CaseResult) + Send + Sync>;

/// Run `cases` against `subjects`; results come back in the order of `cases`.
pub async fn run(
    cases: &[Case],
    subjects: &Subjects,
    options: Options,
    on_done: Option<OnDone>,
) -> Vec<CaseResult> {
    run_paced(cases, subjects, options, on_done).await.0
}

/// [`run`], and what the pacing went through.
pub async fn run_paced(
    cases: &[Case],
    subjects: &Subjects,
    options: Options,
    on_done: Option<OnDone>,
) -> (Vec<CaseResult>, PacerStats) {
    let pacer = pacer::Pacer::new(options.jobs, options.initial_jobs.unwrap_or(options.jobs));
    let subjects = Arc::new(subjects.clone());
    // Cases that must wait (silence, pauses) start first, so that they overlap the
    // quick ones instead of trailing the run.
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(waits(&cases[i])));
    // Slots go to the cases in this order.
    let queue = Arc::new(tokio::sync::Semaphore::new(1));
    let mut tasks: Vec<Option<tokio::task::JoinHandle<CaseResult>>> =
        (0..cases.len()).map(|_| None).collect();
    for i in order {
        let case = cases[i].clone();
        let subjects = Arc::clone(&subjects);
        let pacer = Arc::clone(&pacer);
        let on_done = on_done.clone();
        let ticket = Arc::clone(&queue).acquire_owned();
        tasks[i] = Some(tokio::spawn(async move {
            let result = run_with_retries(&case, &subjects, options, &pacer, ticket).await;
            if let Some(f) = &on_done {
                f(&result);
            }
            result
        }));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for (task, case) in tasks.into_iter().zip(cases) {
        let Some(task) = task else { continue };
        results.push(match task.await {
            Ok(r) => r,
            Err(e) => CaseResult::new(
                case,
                Verdict::Error,
                format!("harness task failed: {e}"),
                Instant::now(),
                Vec::new(),
            ),
        });
    }
    (results, pacer.stats())
}

/// One case to its verdict: attempts the target refused are retried with backoff, at
/// fewer cases at once, and only after the last one is the case `error`.
async fn run_with_retries(
    case: &Case,
    subjects: &Subjects,
    options: Options,
    pacer: &Arc<pacer::Pacer>,
    ticket: impl std::future::Future<
        Output = Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::AcquireError>,
    >,
) -> CaseResult {
    let start = Instant::now();
    let mut retries = Vec::new();
    // Slots are handed out in the order the cases were queued.
    let mut first = Some(ticket);
    loop {
        let slot = match first.take() {
            Some(ticket) => {
                let held = ticket.await;
                let slot = pacer.acquire().await;
                drop(held);
                slot
            }
            None => pacer.acquire().await,
        };
        let attempt = attempt(case, subjects, options).await;
        drop(slot);
        match attempt {
            Attempt::Done(mut r) => {
                pacer.served();
                r.retries = retries;
                r.duration = start.elapsed();
                return *r;
            }
            Attempt::Refused { why, transcript } => {
                pacer.refused();
                if retries.len() as u32 >= options.retries || !pacer.worth_retrying() {
                    let n = retries.len() + 1;
                    let mut r = CaseResult::new(
                        case,
                        Verdict::Error,
                        format!("target refused service ({why}) in {n} attempts"),
                        start,
                        transcript,
                    );
                    retries.push(why);
                    r.retries = retries;
                    return r;
                }
                let wait = backoff(retries.len() as u32);
                retries.push(why);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// One attempt at a case, through the role it tests.
async fn attempt(case: &Case, subjects: &Subjects, options: Options) -> Attempt {
    let step = options.step_timeout;
    match &case.kind {
        CaseKind::Server(steps) => match &subjects.server {
            Some(server) => bounded(case, server, steps.as_slice(), step).await,
            None => Attempt::Done(Box::new(CaseResult::new(
                case,
                Verdict::Skip,
                "a server case tests an SMTP server; this run tests none".into(),
                Instant::now(),
                Vec::new(),
            ))),
        },
        CaseKind::Client(script) => bounded(case, &subjects.client, script.as_ref(), step).await,
        CaseKind::Sender(def) => bounded(case, &subjects.sender, def.as_ref(), step).await,
    }
}

/// One attempt bounded as a whole by the role's budget for it.
async fn bounded<R: Role>(case: &Case, role: &R, part: &R::Part, step: Duration) -> Attempt {
    let budget = role.budget(part, step);
    match tokio::time::timeout(budget, role.attempt(case, part, step)).await {
        Ok(a) => a,
        Err(_) => Attempt::Done(Box::new(CaseResult::new(
            case,
            Verdict::Error,
            format!("the case took longer than {} ms", budget.as_millis()),
            Instant::now(),
            Vec::new(),
        ))),
    }
}
