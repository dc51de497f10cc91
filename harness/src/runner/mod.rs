//! The runner: discover the target once, then run every case on its own connection,
//! several at a time, each to a verdict with a reason and a transcript.

mod case;
pub mod conn;
pub mod delivery;
mod mta;
pub mod script;
pub mod serving;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_protocol::ehlo::EhloResponse;
use smtp_protocol::reply::{ParsedReply, ReplyCode};
use smtp_protocol::{AddressLiteral, Command, Domain, Host};
use tokio::sync::Semaphore;

use crate::scenario::load::Case;
use crate::scenario::template::Vars;
use crate::scenario::{Level, Spec};
use conn::{Conn, Event};

/// The five verdicts of DESIGN.md, written exactly so in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// As required.
    Pass,
    /// A MUST broken.
    Fail,
    /// A SHOULD (or MAY) not met.
    Warn,
    /// Not applicable, with the reason.
    Skip,
    /// The harness could not decide.
    Error,
}

impl Verdict {
    /// As written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Warn => "warn",
            Self::Skip => "skip",
            Self::Error => "error",
        }
    }
}

/// What is known about the target before the cases run.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its greeting line(s).
    pub banner: String,
    /// The greeting's reply code.
    pub greeting_code: u16,
    /// EHLO keywords, upper case.
    pub keywords: Vec<String>,
    /// EHLO lines as advertised (`SIZE 10240000`).
    pub ehlo: Vec<String>,
    /// Variables for the scenarios.
    pub vars: Vars,
    /// EHLO keywords after STARTTLS (RFC 3207 §4.2: a new list), when the target
    /// offers STARTTLS and the handshake worked.
    pub tls_keywords: Option<Vec<String>>,
    /// EHLO lines after STARTTLS.
    pub tls_ehlo: Vec<String>,
    /// Why there is no post-TLS list although STARTTLS is advertised.
    pub tls_problem: Option<String>,
    /// The SIZE limit advertised, if any and not 0.
    pub size_limit: Option<u64>,
    /// A Maildir whose `new/` holds what the target stored, when the profile gives one.
    pub mailbox: Option<Mailbox>,
    /// TLS settings of the profile.
    pub tls: TlsSettings,
    /// Who sends in delivery cases.
    pub sender: delivery::Sender,
    /// The client under test in client cases.
    pub client: serving::ClientUnderTest,
}

/// How to speak TLS with a target.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// TLS from the first octet (submissions on port 465, RFC 8314) instead of
    /// STARTTLS.
    pub implicit: bool,
    /// The server name for SNI [default: smtpspec.target]. Certificates are not
    /// verified: smtpspec judges SMTP, not a PKI.
    pub server_name: Option<String>,
}

/// Where a target's accepted messages can be read.
#[derive(Debug, Clone)]
pub struct Mailbox {
    /// The Maildir (its `new/` is searched).
    pub dir: std::path::PathBuf,
    /// The delivery agent stores LF line ends (expected CRLF is matched as LF).
    pub lf: bool,
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
    /// Cases at once.
    pub jobs: usize,
    /// Longest wait for any one step.
    pub step_timeout: Duration,
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
    let keywords = keywords_of(&ehlo);
    let (mut tls_keywords, mut tls_ehlo, mut tls_problem) = (None, Vec::new(), None);
    if tls.implicit {
        // The whole session is TLS: the list just read is the one after TLS.
        tls_keywords = Some(keywords.clone());
        tls_ehlo = ehlo.lines.iter().map(ToString::to_string).collect();
    } else if keywords.iter().any(|k| k == "STARTTLS") {
        match after_tls(&mut conn, &helo, limit).await {
            Ok(e) => {
                tls_keywords = Some(keywords_of(&e));
                tls_ehlo = e.lines.iter().map(ToString::to_string).collect();
            }
            Err(e) => tls_problem = Some(e),
        }
    }
    let _ = conn.send(&Command::Quit.to_bytes(), limit).await;
    Ok(Target {
        addr,
        banner: format!("{} {}", greeting.reply.code, greeting.reply.text()),
        greeting_code: greeting.reply.code.get(),
        keywords,
        ehlo: ehlo.lines.iter().map(ToString::to_string).collect(),
        tls_keywords,
        tls_ehlo,
        tls_problem,
        size_limit: ehlo.size_limit().flatten(),
        vars,
        mailbox,
        tls,
        sender: delivery::Sender::default(),
        client: serving::ClientUnderTest::default(),
    })
}

fn ehlo_of(reply: &ParsedReply) -> EhloResponse {
    if reply.reply.code.is_positive() {
        EhloResponse::from_reply(&reply.reply).0
    } else {
        EhloResponse::empty()
    }
}

fn keywords_of(ehlo: &EhloResponse) -> Vec<String> {
    ehlo.lines
        .iter()
        .map(|l| l.keyword.to_ascii_uppercase())
        .collect()
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
    if ready.reply.code.get() != 220 {
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
            Action::Silence(d) | Action::Pause(d) => *d,
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
    let limit = Arc::new(Semaphore::new(options.jobs.max(1)));
    let target = Arc::new(target.clone());
    // Cases that must wait (silence, pauses) start first, so that they overlap the
    // quick ones instead of trailing the run; permits are granted in spawn order.
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(waits(&cases[i])));
    let mut tasks: Vec<Option<tokio::task::JoinHandle<CaseResult>>> =
        (0..cases.len()).map(|_| None).collect();
    for i in order {
        let case = cases[i].clone();
        let target = Arc::clone(&target);
        let limit = Arc::clone(&limit);
        let on_done = on_done.clone();
        tasks[i] = Some(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            // The whole case is bounded too: steps × step timeout, plus slack.
            let budget = match (&case.delivery, &case.client) {
                (Some(d), _) if matches!(target.sender, delivery::Sender::Mta(..)) => {
                    Duration::from_secs(60) * d.runs
                }
                (Some(d), _) => delivery::RUN_BUDGET * d.runs,
                // The client's own run limit (10 s by default) twice, plus the script.
                (_, Some(c)) => {
                    Duration::from_secs(25) + options.step_timeout * (c.script.len() as u32 + 2)
                }
                _ => options.step_timeout * (case.steps.len() as u32 + 2),
            };
            let work = async {
                match (&case.delivery, &case.client) {
                    (Some(d), _) => delivery::run(&case, d, &target.sender).await,
                    (_, Some(c)) => {
                        serving::run(&case, c, &target.client, options.step_timeout).await
                    }
                    _ => case::run(&case, &target, options.step_timeout).await,
                }
            };
            let result = match tokio::time::timeout(budget, work).await {
                Ok(r) => r,
                Err(_) => CaseResult::new(
                    &case,
                    Verdict::Error,
                    format!("the case took longer than {} ms", budget.as_millis()),
                    Instant::now(),
                    Vec::new(),
                ),
            };
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
    results
}
