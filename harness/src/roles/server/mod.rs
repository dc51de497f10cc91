//! The server role: smtpspec is the client. One case runs on a fresh connection,
//! step by step, to a verdict on the server's replies (and stored mail).

use std::time::{Duration, Instant};

use smtp_protocol::reply::{ParsedReply, ReplyCode};

use super::{Attempt, CaseResult, Role};
use crate::outcome::{Outcome, Unmet, Verdict};
use crate::scenario::load::{Action, Case, LocatedAction};
use crate::scenario::template::{self, Vars};
use crate::wire::{Conn, ConnError};

mod discover;
mod gate;
mod judge;
mod prelude;
mod step;
mod stored;

pub use discover::{Restraint, Target, discover, ehlo_name, probe_connections, survey};

use gate::gate;
use judge::describe;
use step::{Session, run_step};

impl Role for Target {
    type Part = [LocatedAction];

    fn waits(steps: &[LocatedAction]) -> Duration {
        steps.iter().map(|s| step::waits(&s.action)).sum()
    }

    /// Every step may take the step timeout, plus slack for the greeting and the
    /// close, plus what the case waits on purpose.
    fn budget(&self, steps: &[LocatedAction], step_timeout: Duration) -> Duration {
        step_timeout * (steps.len() as u32 + 2) + Self::waits(steps)
    }

    fn attempt<'a>(
        &'a self,
        case: &'a Case,
        _steps: &'a [LocatedAction],
        step_timeout: Duration,
    ) -> impl std::future::Future<Output = Attempt> + Send + 'a {
        run(case, self, step_timeout)
    }
}

/// How a step went wrong.
enum Failure {
    /// The target did something the requirement forbids.
    Mismatch(Unmet),
    /// The harness could not decide (timeout, closed, I/O).
    Error(String),
    /// The target refused service (421, no greeting in time): not a verdict on what
    /// the case tests; the attempt is retried.
    Refused(String),
    /// The target showed what the case looks for and it is safe: the case passes here
    /// and the rest of its steps do not apply (a refusal of a bare LF, say).
    Settled(String),
    /// The step cannot be judged on this target (nothing to observe); the case is
    /// skipped with the reason.
    Unobservable(String),
    /// The scenario itself is wrong (found only at run time): `error`, and the run
    /// exits 2, for it says nothing about the target.
    Scenario(String),
}

/// How the case's connection opens. On a port that requires TLS or AUTH first, the
/// session does them before the case, unless the case is about them (prelude.rs); a
/// case for a PROXY port sends its own header, before any prelude could.
fn opening(case: &Case, target: &Target) -> crate::wire::TlsSettings {
    let own_header = case.meta.proxy_port == Some(true);
    crate::wire::TlsSettings {
        prelude: prelude::prelude_for(case, target).filter(|_| !own_header),
        proxy: target.tls.proxy.filter(|_| !own_header),
        ..target.tls.clone()
    }
}

/// Run `case` against `target`.
pub async fn run(case: &Case, target: &Target, step_timeout: Duration) -> Attempt {
    let start = Instant::now();
    let done = |verdict, reason, transcript| {
        Attempt::Done(Box::new(CaseResult::new(
            case, verdict, reason, start, transcript,
        )))
    };
    if let Some(why) = gate(case, target) {
        return done(Verdict::Skip, why, Vec::new());
    }
    let conn = match Conn::open(target.addr, &opening(case, target), step_timeout).await {
        Ok(c) => c,
        // No connection at all is the target not serving now, like a 421.
        Err(e) => {
            return Attempt::Refused {
                why: format!("connect: {e}"),
                transcript: Vec::new(),
            };
        }
    };
    let mut session = Session {
        conn,
        target,
        vars: case_vars(case, target),
        ehlo: None,
        limit: step_timeout,
        talked: false,
    };
    let mut outcome = Ok(());
    let mut warnings: Vec<(usize, &LocatedAction, String)> = Vec::new();
    for (n, step) in case.steps().iter().enumerate() {
        let mut noted = Vec::new();
        let result = run_step(&mut session, step, &mut noted).await;
        // Only silence before the greeting is a busy server; a greeting that came
        // broken or endless is the target's own doing.
        let greeting = n == 0 && !session.conn.heard_anything();
        outcome = result.map_err(|f| {
            let f = precondition(f, n, step, case);
            (n + 1, step, refusal(f, greeting))
        });
        warnings.extend(noted.into_iter().map(|w| (n + 1, step, w)));
        if outcome.is_err() {
            break;
        }
    }
    let conn = session.conn;
    let (verdict, reason) = match outcome {
        Ok(()) if !warnings.is_empty() => (
            Verdict::Warn,
            warnings
                .iter()
                .map(|(n, step, w)| format!("step {n} ({} at line {}): {w}", step.name, step.line))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Ok(()) => (Verdict::Pass, "every step as expected".to_owned()),
        Err((n, step, failure)) => {
            let place = format!("step {n} ({} at line {})", step.name, step.line);
            match failure {
                Failure::Mismatch(unmet) => {
                    let outcome = Outcome::Unmet(unmet.at(&place));
                    let result = CaseResult::of(case, outcome, start, conn.into_transcript());
                    return Attempt::Done(Box::new(result));
                }
                Failure::Error(why) => (Verdict::Error, format!("{place}: {why}")),
                Failure::Scenario(why) => {
                    let mut r = CaseResult::new(
                        case,
                        Verdict::Error,
                        format!(
                            "scenario error at {}:{}: step {n} ({}): {why}",
                            case.meta.file.display(),
                            step.line,
                            step.name
                        ),
                        start,
                        conn.into_transcript(),
                    );
                    r.scenario_error = true;
                    return Attempt::Done(Box::new(r));
                }
                Failure::Settled(why) => (Verdict::Pass, format!("{place}: {why}")),
                Failure::Unobservable(why) => (Verdict::Skip, format!("{place}: {why}")),
                Failure::Refused(why) => {
                    return Attempt::Refused {
                        why: format!("{place}: {why}"),
                        transcript: conn.into_transcript(),
                    };
                }
            }
        }
    };
    done(verdict, reason, conn.into_transcript())
}

/// The profile's variables, and a token unique to this attempt (`{{case.token}}`), so
/// that a stored message can be told from any other.
fn case_vars(case: &Case, target: &Target) -> Vars {
    let mut vars = target.vars.clone();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    vars.insert(
        "case.token".into(),
        format!(
            "smtpspec-{}-{nanos:x}",
            case.meta.id.replace(['/', '.'], "-")
        ),
    );
    vars
}

/// A greeting that did not come at all (in time, or before a close) is the target not
/// serving now, whatever the case tests.
/// The greeting is a precondition of every case that goes on past it: a greeting that
/// came wrong (malformed, endless, not the expected code) fails the cases that consist
/// of it alone (`rfc5321.session/greeting-220`, `rfc5321.replies/greeting-names-server`,
/// RFC 5321 §3.1, §4.2) and leaves every other case unable to reach what it tests.
fn precondition(f: Failure, n: usize, step: &LocatedAction, case: &Case) -> Failure {
    match f {
        Failure::Mismatch(why)
            if n == 0 && case.steps().len() > 1 && matches!(step.action, Action::Expect(_)) =>
        {
            judge::unreached(&why)
        }
        other => other,
    }
}

fn refusal(f: Failure, greeting: bool) -> Failure {
    match f {
        Failure::Error(why) if greeting => Failure::Refused(format!("no greeting: {why}")),
        other => other,
    }
}

fn conn_failure(e: ConnError) -> Failure {
    match e {
        // A reply that cannot be parsed is the target's fault, not the harness's.
        ConnError::Reply(r) => Failure::Mismatch(crate::unmet!("malformed reply: {r}")),
        other => Failure::Error(other.to_string()),
    }
}

/// A 421 the step did not ask for: RFC 5321 §3.8 lets a server send it after any
/// command when it must stop serving, so it is never a verdict on what the case tests.
fn unasked_421(got: &ParsedReply) -> Option<Failure> {
    (got.reply.code == ReplyCode::SERVICE_NOT_AVAILABLE)
        .then(|| Failure::Refused(format!("the target said {}", describe(&got.reply))))
}

/// A send failed: if the target hung up after a 421 it sent first, that is the story.
async fn send_failure(conn: &mut Conn, e: ConnError) -> Failure {
    if matches!(e, ConnError::Io(_) | ConnError::Closed)
        && let Ok(got) = conn.reply(Duration::from_millis(200)).await
        && let Some(f) = unasked_421(&got)
    {
        return f;
    }
    ended(conn, e)
}

/// The connection ended (closed, or reset) where a reply was due, or under a send.
/// Before a whole reply came it is the target not serving ([`refusal`]). After a refusal
/// RFC 5321 §7.8 lets a server end a session it judges hostile, so what the case
/// tests cannot be seen: skipped, with the reason. Anywhere else it is the target's
/// fault, not the harness's: RFC 5321 §3.8 allows a close only after QUIT's 221,
/// with a 421, or at a timeout (Exim 4.96 resets the connection on an RSET after a
/// BDAT chunk: before, that was an `error` nobody read as a crash).
fn ended(conn: &Conn, e: ConnError) -> Failure {
    let how = match &e {
        ConnError::Closed => "closed the connection".to_owned(),
        ConnError::Io(io) => format!("ended the connection ({io})"),
        _ => return conn_failure(e),
    };
    match conn.last_code() {
        // Not one whole reply yet (no greeting, or a broken one): no session began.
        None => conn_failure(e),
        Some(code) if code.is_negative() => Failure::Unobservable(format!(
            "the target {how} after refusing with {code}: RFC 5321 §7.8 lets a server end a \
             session it judges hostile, so the rest of the case cannot be seen"
        )),
        _ => Failure::Mismatch(crate::unmet!(
            "the target {how} where a reply was due (RFC 5321 §3.8: a server closes only \
             after QUIT's 221, with a 421, or at a timeout)"
        )),
    }
}

/// A template expanded; a variable that expands to nothing is a fault of the profile or
/// scenario, not of the target.
fn expand(text: &str, vars: &Vars) -> Result<String, Failure> {
    if let Some(empty) = template::names(text)
        .unwrap_or_default()
        .into_iter()
        .find(|n| vars.get(*n).is_none_or(String::is_empty))
    {
        return Err(Failure::Scenario(format!(
            "{{{{{empty}}}}} expands to nothing"
        )));
    }
    Ok(template::expand(text, vars))
}

/// A `send_raw` or body text: expanded, then unescaped.
fn unescaped(text: &str, vars: &Vars) -> Result<Vec<u8>, Failure> {
    template::unescape(&expand(text, vars)?).map_err(|at| {
        Failure::Scenario(format!(
            "bad escape at offset {at} once the variables are expanded"
        ))
    })
}
