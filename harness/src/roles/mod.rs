//! The roles smtpspec tests, each a peer with the same small shape: a case of its kind
//! goes in, a [`CaseResult`] (or a refusal to retry) comes out.
//!
//! - [`server`]: smtpspec is the client and judges a server's replies and stored mail.
//! - [`client`]: smtpspec plays a scripted server and judges a client's commands.
//! - [`sender`]: smtpspec serves DNS and scripted MX hosts and judges a delivery.
//!
//! Roles sit above the wire, the scenario language and the profiles, and below the
//! runner, which paces cases over them; they never import the runner or the reports.

pub mod client;
pub mod script;
pub mod sender;
pub mod server;

use std::future::Future;
use std::time::{Duration, Instant};

use crate::outcome::{Level, Mismatch, Outcome, Verdict};
use crate::scenario::Spec;
use crate::scenario::load::Case;
use crate::wire::Event;

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
    /// What was wanted and what came, when the finding is a comparison.
    pub mismatch: Option<Mismatch>,
    /// Relay cases: what the sender did with the smuggled sequence.
    pub relayed: Option<sender::Relayed>,
}

impl CaseResult {
    pub(crate) fn new(
        case: &Case,
        verdict: Verdict,
        reason: String,
        start: Instant,
        transcript: Vec<Event>,
    ) -> Self {
        Self {
            id: case.meta.id.clone(),
            suite: case.meta.suite.clone(),
            title: case.meta.title.clone(),
            spec: case.meta.spec.clone(),
            tags: case.meta.tags.clone(),
            verdict,
            reason,
            duration: start.elapsed(),
            transcript,
            retries: Vec::new(),
            harness_serves: case.client().is_some(),
            scenario_error: false,
            mismatch: None,
            relayed: None,
        }
    }

    /// The result of `outcome` at the case's level.
    pub(crate) fn of(
        case: &Case,
        outcome: Outcome,
        start: Instant,
        transcript: Vec<Event>,
    ) -> Self {
        let verdict = outcome.verdict(case.level());
        let (reason, mismatch) = outcome.into_reason();
        let mut result = Self::new(case, verdict, reason, start, transcript);
        result.mismatch = mismatch;
        result
    }

    /// A case that never ran because the target could not be tested at all: an
    /// `error` with the reason, so that the reports a CI job uploads still list every
    /// case and say why.
    pub fn untested(case: &Case, reason: &str) -> Self {
        Self::new(
            case,
            Verdict::Error,
            reason.to_owned(),
            Instant::now(),
            Vec::new(),
        )
    }

    /// The requirement level.
    pub fn level(&self) -> Level {
        self.spec.level
    }
}

/// The shape every role has, so that the runner paces, bounds and retries any of them
/// alike. `Self` is the subject: who plays the role in this run (a discovered server,
/// a client command, a sender).
pub trait Role: Sync {
    /// What a case of this role carries: steps, a client script, a delivery.
    type Part: Sync + ?Sized;

    /// The least time a case waits on purpose (silences, pauses, watching a mailbox,
    /// a process starting), whatever the peer does; the runner starts such cases
    /// first so that they overlap the quick ones.
    fn waits(part: &Self::Part) -> Duration;

    /// The longest one attempt may take before the case is `error`.
    fn budget(&self, part: &Self::Part, step_timeout: Duration) -> Duration;

    /// One attempt at `case`: a verdict, or a refusal of service to retry.
    fn attempt<'a>(
        &'a self,
        case: &'a Case,
        part: &'a Self::Part,
        step_timeout: Duration,
    ) -> impl Future<Output = Attempt> + Send + 'a;
}

/// How one attempt at a case ended: a result, or a refusal of service (421, no greeting
/// in time, connection refused) that the runner retries.
pub enum Attempt {
    /// The case came to a verdict.
    Done(Box<CaseResult>),
    /// The target refused service before the case could be judged.
    Refused {
        /// What happened, for the case's `retries`.
        why: String,
        /// The attempt's transcript.
        transcript: Vec<Event>,
    },
}
