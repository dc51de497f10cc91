//! The runner: discover the target once, then run every case on its own connection,
//! several at a time, each to a verdict with a reason and a transcript.

mod case;
pub mod delivery;
mod mta;
pub mod pacer;
pub mod script;
pub mod serving;
pub mod store;

pub use pacer::PacerStats;
pub use store::{Mailbox, StoreKind};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_protocol::ehlo::{EhloLine, EhloResponse, Extension};
use smtp_protocol::reply::{ParsedReply, ReplyCode};
use smtp_protocol::{AddressLiteral, Command, Domain, Host};

use crate::scenario::load::Case;
use crate::scenario::template::Vars;
use crate::scenario::{Level, Spec};
use crate::wire::{Conn, Event, TlsSettings};

pub use crate::outcome::Verdict;

/// What is known about the target before the cases run.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its greeting line(s).
    pub banner: String,
    /// The greeting's reply code.
    pub greeting_code: u16,
    /// EHLO lines as advertised (`SIZE 10240000`), parsed by the protocol crate.
    pub ehlo: Vec<EhloLine>,
    /// Variables for the scenarios.
    pub vars: Vars,
    /// EHLO lines after STARTTLS (RFC 3207 §4.2: a new list), when the target offers
    /// STARTTLS and the handshake worked.
    pub tls_ehlo: Option<Vec<EhloLine>>,
    /// Why there is no post-TLS list although STARTTLS is advertised.
    pub tls_problem: Option<String>,
    /// The SIZE limit advertised, if any and not 0.
    pub size_limit: Option<u64>,
    /// A Maildir whose `new/` holds what the target stored, when the profile gives one.
    pub mailbox: Option<Mailbox>,
    /// TLS settings of the profile.
    pub tls: TlsSettings,
    /// The target accepted `{{target.bad_rcpt}}` when asked at discovery (a catch-all
    /// domain): its reply. Cases that need a refused recipient are then skipped.
    pub catch_all: Option<String>,
    /// Who sends in delivery cases.
    pub sender: delivery::Sender,
    /// The client under test in client cases.
    pub client: serving::ClientUnderTest,
    /// The TLS identity smtpspec presents when it plays the server (client cases): a
    /// CA made for the run, whose PEM the client may be given.
    pub test_ca: Option<Arc<crate::test_ca::TestCa>>,
}

/// One case's outcome.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// `suite/id`.
    pub id: String,
    /// Suite name.
    pub suite: String,
    /// Title.
    pub title: String,
    /// Requirement.
    pub spec: Spec,
    /// The case's tags (CVEs and the like).
    pub tags: Vec<String>,
    /// Verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
    /// Wall time.
    pub duration: Duration,
    /// Both directions, secrets redacted.
    pub transcript: Vec<Event>,
    /// Attempts the target refused before this result (421, no greeting in time,
    /// connection refused), each with what happened; they were retried.
    pub retries: Vec<String>,
    /// smtpspec played the server (client cases): `send` is then the server's side.
    pub harness_serves: bool,
    /// The scenario itself was found wrong at run time (the run exits 2).
    pub scenario_error: bool,
}

impl CaseResult {
    fn new(
        case: &Case,
        verdict: Verdict,
        reason: String,
        start: Instant,
        transcript: Vec<Event>,
    ) -> Self {
        Self {
            id: case.id.clone(),
            suite: case.suite.clone(),
            title: case.title.clone(),
            spec: case.spec.clone(),
            tags: case.tags.clone(),
            verdict,
            reason,
            duration: start.elapsed(),
            transcript,
            retries: Vec::new(),
            harness_serves: case.client.is_some(),
            scenario_error: false,
        }
    }

    /// The requirement level.
    pub fn level(&self) -> Level {
        self.spec.level
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

/// What discovery leaves to learn before the cases run: whether the target refuses
/// the recipient the profile calls unknown, and how many connections it takes at once
/// (the cases start at that many, up to `jobs`).
pub async fn survey(target: &mut Target, jobs: usize, limit: Duration) -> usize {
    if target.greeting_code == ReplyCode::SERVICE_READY.get() {
        target.catch_all = catch_all(target, limit).await;
    }
    probe_connections(target.addr, &target.tls, jobs, limit).await
}

/// Ask the target to take `{{target.bad_rcpt}}`: a positive reply means a catch-all.
/// Any other outcome (refused, or the transaction could not start) leaves the cases
/// to judge.
async fn catch_all(target: &Target, limit: Duration) -> Option<String> {
    let (from, bad) = (
        target.vars.get("client.from")?,
        target.vars.get("target.bad_rcpt")?,
    );
    let helo = target.vars.get("client.helo")?;
    let mut conn = Conn::open(target.addr, &target.tls, limit).await.ok()?;
    let greeting = conn.reply(limit).await.ok()?;
    if greeting.reply.code != ReplyCode::SERVICE_READY {
        return None;
    }
    let mut answer = None;
    if ask(&mut conn, format!("EHLO {helo}"), limit)
        .await?
        .reply
        .code
        .is_positive()
        && ask(&mut conn, format!("MAIL FROM:<{from}>"), limit)
            .await?
            .reply
            .code
            .is_positive()
    {
        let r = ask(&mut conn, format!("RCPT TO:<{bad}>"), limit).await?;
        if r.reply.code.is_positive() {
            answer = Some(format!(
                "{} {}",
                r.reply.code,
                r.reply.text().replace('\n', " / ")
            ));
        }
    }
    let _ = ask(&mut conn, "RSET".into(), limit).await;
    let _ = ask(&mut conn, "QUIT".into(), limit).await;
    answer
}

/// One command line and its reply.
async fn ask(conn: &mut Conn, line: String, limit: Duration) -> Option<ParsedReply> {
    conn.send(format!("{line}\r\n").as_bytes(), limit)
        .await
        .ok()?;
    conn.reply(limit).await.ok()
}

/// How many connections the target takes at once, up to `n`: open them together and
/// count the 220 greetings that come within `limit`. A server that limits connections
/// greets the rest with 421 (or drops them); the run then starts at what it took
/// instead of learning it from refused cases.
pub async fn probe_connections(
    addr: SocketAddr,
    tls: &TlsSettings,
    n: usize,
    limit: Duration,
) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..n.max(1) {
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr, &tls, limit).await.ok()?;
            let greeting = conn.reply(limit).await.ok()?;
            (greeting.reply.code == ReplyCode::SERVICE_READY).then_some(conn)
        }));
    }
    let mut open = Vec::new();
    for t in tasks {
        if let Ok(Some(conn)) = t.await {
            open.push(conn);
        }
    }
    let taken = open.len();
    for mut conn in open {
        let _ = conn.send(&Command::Quit.to_bytes(), limit).await;
        let _ = conn.reply(limit).await;
    }
    taken.max(1)
}

/// Greet the target once: banner and EHLO keywords, for the report and `requires`.
pub async fn discover(
    addr: SocketAddr,
    vars: Vars,
    mailbox: Option<Mailbox>,
    tls: TlsSettings,
    limit: Duration,
) -> Result<Target, String> {
    let mut conn = Conn::open(addr, &tls, limit)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let greeting = conn
        .reply(limit)
        .await
        .map_err(|e| format!("greeting: {e}"))?;
    let helo = vars
        .get("client.helo")
        .and_then(|h| Domain::parse(h).ok())
        .map_or_else(
            || Host::Literal(AddressLiteral::V4([127, 0, 0, 1].into())),
            Host::Domain,
        );
    // A server that refuses service at connection (554, 521) has no EHLO list to
    // offer, and may close at once; its cases are chosen by the greeting alone.
    let refused = greeting.reply.code != ReplyCode::SERVICE_READY;
    let reply = if refused {
        None
    } else {
        conn.send(&Command::Ehlo(helo.clone()).to_bytes(), limit)
            .await
            .map_err(|e| format!("EHLO: {e}"))?;
        Some(
            conn.reply(limit)
                .await
                .map_err(|e| format!("EHLO reply: {e}"))?,
        )
    };
    let ehlo = reply.as_ref().map_or_else(EhloResponse::empty, ehlo_of);
    let (mut tls_ehlo, mut tls_problem) = (None, None);
    if tls.implicit {
        // The whole session is TLS: the list just read is the one after TLS.
        tls_ehlo = Some(ehlo.lines.clone());
    } else if ehlo.has(Extension::StartTls) {
        match after_tls(&mut conn, &helo, limit).await {
            Ok(e) => tls_ehlo = Some(e.lines),
            Err(e) => tls_problem = Some(e),
        }
    }
    let _ = conn.send(&Command::Quit.to_bytes(), limit).await;
    Ok(Target {
        addr,
        banner: format!("{} {}", greeting.reply.code, greeting.reply.text()),
        greeting_code: greeting.reply.code.get(),
        size_limit: ehlo.size_limit().flatten(),
        ehlo: ehlo.lines,
        tls_ehlo,
        tls_problem,
        vars,
        mailbox,
        tls,
        catch_all: None,
        sender: delivery::Sender::default(),
        client: serving::ClientUnderTest::default(),
        test_ca: None,
    })
}

fn ehlo_of(reply: &ParsedReply) -> EhloResponse {
    if reply.reply.code.is_positive() {
        EhloResponse::from_reply(&reply.reply).0
    } else {
        EhloResponse::empty()
    }
}

/// STARTTLS, handshake and EHLO again, for the post-TLS keyword list.
async fn after_tls(conn: &mut Conn, helo: &Host, limit: Duration) -> Result<EhloResponse, String> {
    conn.send(&Command::StartTls.to_bytes(), limit)
        .await
        .map_err(|e| format!("STARTTLS: {e}"))?;
    let ready = conn
        .reply(limit)
        .await
        .map_err(|e| format!("STARTTLS reply: {e}"))?;
    if ready.reply.code != ReplyCode::SERVICE_READY {
        return Err(format!("STARTTLS got {}", ready.reply.code));
    }
    conn.handshake(limit)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    conn.send(&Command::Ehlo(helo.clone()).to_bytes(), limit)
        .await
        .map_err(|e| format!("EHLO after TLS: {e}"))?;
    let reply = conn
        .reply(limit)
        .await
        .map_err(|e| format!("EHLO reply after TLS: {e}"))?;
    Ok(ehlo_of(&reply))
}

/// How long a case waits on purpose (silences, pauses, watching a mailbox), the least
/// time it takes whatever the target does.
fn waits(case: &Case) -> Duration {
    use crate::scenario::load::Action;
    if let Some(d) = &case.delivery {
        // Each run may wait on a silent server or a DNS timeout.
        return Duration::from_millis(500) * d.runs;
    }
    if let Some(c) = &case.client {
        // A client process starts, and the script may wait in silences.
        return Duration::from_millis(300)
            + c.script
                .iter()
                .map(|s| match s.action {
                    crate::scenario::serving::Serve::Silence(d) => d,
                    _ => Duration::ZERO,
                })
                .sum::<Duration>();
    }
    case.steps
        .iter()
        .map(|s| match &s.action {
            Action::Silence(d) | Action::Pause(d) | Action::NotEnded { wait: d, .. } => *d,
            Action::ExpectStored(c) if c.spec.absent => case::ABSENT_WAIT,
            _ => Duration::ZERO,
        })
        .sum()
}

/// Called as each case finishes (for a progress display).
pub type OnDone = Arc<dyn Fn(&CaseResult) + Send + Sync>;

/// Run `cases` against `target`; results come back in the order of `cases`.
pub async fn run(
    cases: &[Case],
    target: &Target,
    options: Options,
    on_done: Option<OnDone>,
) -> Vec<CaseResult> {
    run_paced(cases, target, options, on_done).await.0
}

/// [`run`], and what the pacing went through.
pub async fn run_paced(
    cases: &[Case],
    target: &Target,
    options: Options,
    on_done: Option<OnDone>,
) -> (Vec<CaseResult>, PacerStats) {
    let pacer = pacer::Pacer::new(options.jobs, options.initial_jobs.unwrap_or(options.jobs));
    let target = Arc::new(target.clone());
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
        let target = Arc::clone(&target);
        let pacer = Arc::clone(&pacer);
        let on_done = on_done.clone();
        let ticket = Arc::clone(&queue).acquire_owned();
        tasks[i] = Some(tokio::spawn(async move {
            let result = run_with_retries(&case, &target, options, &pacer, ticket).await;
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
    target: &Target,
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
        let attempt = attempt(case, target, options).await;
        drop(slot);
        match attempt {
            case::Attempt::Done(mut r) => {
                pacer.served();
                r.retries = retries;
                r.duration = start.elapsed();
                return r;
            }
            case::Attempt::Refused { why, transcript } => {
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

/// One attempt at a case, bounded as a whole: steps × step timeout, plus slack.
async fn attempt(case: &Case, target: &Target, options: Options) -> case::Attempt {
    let budget = match (&case.delivery, &case.client) {
        (Some(d), _) if matches!(target.sender, delivery::Sender::Mta(..)) => {
            Duration::from_secs(60) * d.runs
        }
        (Some(d), _) => delivery::RUN_BUDGET * d.runs,
        // The client's own run limit (10 s by default) twice, plus the script.
        (_, Some(c)) => {
            Duration::from_secs(25) + options.step_timeout * (c.script.len() as u32 + 2)
        }
        _ => options.step_timeout * (case.steps.len() as u32 + 2) + waits(case),
    };
    let work = async {
        match (&case.delivery, &case.client) {
            (Some(d), _) => case::Attempt::Done(delivery::run(case, d, &target.sender).await),
            (_, Some(c)) => case::Attempt::Done(
                serving::run(
                    case,
                    c,
                    &target.client,
                    target.test_ca.as_deref(),
                    options.step_timeout,
                )
                .await,
            ),
            _ => case::run(case, target, options.step_timeout).await,
        }
    };
    match tokio::time::timeout(budget, work).await {
        Ok(a) => a,
        Err(_) => case::Attempt::Done(CaseResult::new(
            case,
            Verdict::Error,
            format!("the case took longer than {} ms", budget.as_millis()),
            Instant::now(),
            Vec::new(),
        )),
    }
}
