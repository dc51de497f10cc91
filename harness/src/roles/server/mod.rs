//! The server role: smtpspec is the client. One case runs on a fresh connection,
//! step by step, to a verdict on the server's replies (and stored mail).

use std::time::{Duration, Instant};

use smtp_protocol::Command;
use smtp_protocol::data::dot_stuff;
use smtp_protocol::ehlo::EhloResponse;
use smtp_protocol::reply::{ParsedReply, ReplyCode};

use super::{Attempt, CaseResult, Role};
use crate::outcome::Verdict;
use crate::scenario::load::{Action, Case, Cuts, LocatedAction};
use crate::scenario::template::{self, Vars};
use crate::wire::{Conn, ConnError};

mod discover;
mod gate;
mod judge;
mod stored;

pub use discover::{Target, discover, probe_connections, survey};

pub(crate) use stored::ABSENT_WAIT;

use gate::gate;
use judge::{check, describe, not_ended, real_end};
use stored::expect_stored;

impl Role for Target {
    type Part = [LocatedAction];

    fn waits(steps: &[LocatedAction]) -> Duration {
        steps
            .iter()
            .map(|s| match &s.action {
                Action::Silence(d) | Action::Pause(d) | Action::NotEnded { wait: d, .. } => *d,
                Action::ExpectStored(c) if c.spec.absent => ABSENT_WAIT,
                _ => Duration::ZERO,
            })
            .sum()
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
    Mismatch(String),
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

/// Run `case` against `target`.
pub async fn run(case: &Case, target: &Target, step_timeout: Duration) -> Attempt {
    let start = Instant::now();
    let done = |verdict, reason, transcript| {
        Attempt::Done(CaseResult::new(case, verdict, reason, start, transcript))
    };
    if let Some(why) = gate(case, target) {
        return done(Verdict::Skip, why, Vec::new());
    }
    let mut conn = match Conn::open(target.addr, &target.tls, step_timeout).await {
        Ok(c) => c,
        // No connection at all is the target not serving now, like a 421.
        Err(e) => {
            return Attempt::Refused {
                why: format!("connect: {e}"),
                transcript: Vec::new(),
            };
        }
    };
    let mut vars = target.vars.clone();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    vars.insert(
        "case.token".into(),
        format!("smtpspec-{}-{nanos:x}", case.id.replace(['/', '.'], "-")),
    );
    let mut ehlo: Option<EhloResponse> = None;
    let mut outcome = Ok(());
    let mut warnings: Vec<(usize, &LocatedAction, String)> = Vec::new();
    for (n, step) in case.steps().iter().enumerate() {
        let mut noted = Vec::new();
        let result = run_step(
            &mut conn,
            step,
            target,
            &mut vars,
            &mut ehlo,
            step_timeout,
            &mut noted,
        )
        .await;
        // Only silence before the greeting is a busy server; a greeting that came
        // broken or endless is the target's own doing.
        let greeting = n == 0 && !conn.heard_anything();
        outcome = result.map_err(|f| (n + 1, step, refusal(f, greeting)));
        warnings.extend(noted.into_iter().map(|w| (n + 1, step, w)));
        if outcome.is_err() {
            break;
        }
    }
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
                Failure::Mismatch(why) => {
                    let v = case.level().unmet();
                    (v, format!("{place}: {why}"))
                }
                Failure::Error(why) => (Verdict::Error, format!("{place}: {why}")),
                Failure::Scenario(why) => {
                    let mut r = CaseResult::new(
                        case,
                        Verdict::Error,
                        format!(
                            "scenario error at {}:{}: step {n} ({}): {why}",
                            case.file.display(),
                            step.line,
                            step.name
                        ),
                        start,
                        conn.into_transcript(),
                    );
                    r.scenario_error = true;
                    return Attempt::Done(r);
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

/// A greeting that did not come at all (in time, or before a close) is the target not
/// serving now, whatever the case tests.
fn refusal(f: Failure, greeting: bool) -> Failure {
    match f {
        Failure::Error(why) if greeting => Failure::Refused(format!("no greeting: {why}")),
        other => other,
    }
}

fn conn_failure(e: ConnError) -> Failure {
    match e {
        // A reply that cannot be parsed is the target's fault, not the harness's.
        ConnError::Reply(r) => Failure::Mismatch(format!("malformed reply: {r}")),
        other => Failure::Error(other.to_string()),
    }
}

/// A 421 the step did not ask for: RFC 5321 §3.8 lets a server send it after any
/// command when it must stop serving, so it is never a verdict on what the case tests.
fn unasked_421(got: &ParsedReply) -> Option<Failure> {
    (got.reply.code == ReplyCode::SERVICE_NOT_AVAILABLE)
        .then(|| Failure::Refused(format!("the target said {}", describe(&got.reply))))
}

/// Whether octets the target sent unasked are a 421 reply (read by the protocol
/// crate's reply parser, as every reply is).
fn is_421(bytes: &[u8]) -> bool {
    let mut parser = smtp_protocol::reply::ReplyParser::new();
    parser.push(bytes);
    matches!(parser.next_reply(), Some(Ok(got)) if got.reply.code == ReplyCode::SERVICE_NOT_AVAILABLE)
}

/// A send failed: if the target hung up after a 421 it sent first, that is the story.
async fn send_failure(conn: &mut Conn, e: ConnError) -> Failure {
    if matches!(e, ConnError::Io(_) | ConnError::Closed)
        && let Ok(got) = conn.reply(Duration::from_millis(200)).await
        && let Some(f) = unasked_421(&got)
    {
        return f;
    }
    conn_failure(e)
}

async fn run_step(
    conn: &mut Conn,
    step: &LocatedAction,
    target: &Target,
    vars: &mut Vars,
    ehlo: &mut Option<EhloResponse>,
    limit: Duration,
    warnings: &mut Vec<String>,
) -> Result<(), Failure> {
    match &step.action {
        Action::Send(line) => {
            let mut bytes = expand(line, vars)?.into_bytes();
            bytes.extend_from_slice(b"\r\n");
            match conn.send(&bytes, limit).await {
                Ok(()) => Ok(()),
                Err(e) => Err(send_failure(conn, e).await),
            }
        }
        Action::SendRaw(text) => {
            let bytes = unescaped(text, vars)?;
            match conn.send(&bytes, limit).await {
                Ok(()) => Ok(()),
                Err(e) => Err(send_failure(conn, e).await),
            }
        }
        Action::SendBatch { lines, cuts } => {
            let mut bytes = Vec::new();
            for line in lines {
                bytes.extend_from_slice(expand(line, vars)?.as_bytes());
                bytes.extend_from_slice(b"\r\n");
            }
            let at: Vec<usize> = match cuts {
                Cuts::None => Vec::new(),
                Cuts::Each => (1..bytes.len()).collect(),
                Cuts::At(at) => {
                    if let Some(bad) = at.iter().find(|&&o| o >= bytes.len()) {
                        return Err(Failure::Scenario(format!(
                            "split offset {bad} is not inside the {}-octet batch",
                            bytes.len()
                        )));
                    }
                    at.clone()
                }
            };
            match conn.send_pieces(&bytes, &at, limit).await {
                Ok(()) => Ok(()),
                Err(e) => Err(send_failure(conn, e).await),
            }
        }
        Action::SendBody {
            text,
            stuff,
            exceed_size,
        } => {
            let mut body = unescaped(text, vars)?;
            if *exceed_size {
                let Some(limit) = target.size_limit else {
                    return Err(Failure::Unobservable(
                        "the target advertises no SIZE limit to exceed".into(),
                    ));
                };
                // Over the limit however the target counts: with LF or CRLF line ends
                // (one octet per line apart), and by 10% more for headers it adds.
                let line = [b'x'; 78];
                let mut lines = 0u64;
                while (body.len() as u64) <= limit + limit / 10 + lines {
                    body.extend_from_slice(&line);
                    body.extend_from_slice(b"\r\n");
                    lines += 1;
                }
            }
            let bytes = if *stuff { dot_stuff(&body) } else { body };
            match conn.send(&bytes, limit).await {
                Ok(()) => Ok(()),
                Err(e) => Err(send_failure(conn, e).await),
            }
        }
        Action::Expect(m) => {
            let got = conn.reply(limit).await.map_err(conn_failure)?;
            if got.reply.code == ReplyCode::OK && got.reply.lines.len() > 1 {
                *ehlo = Some(EhloResponse::from_reply(&got.reply).0);
            }
            if let Err(f) = check(m, &got, warnings) {
                return Err(unasked_421(&got).unwrap_or(f));
            }
            if let Some(name) = &m.capture {
                // Lines joined by spaces: a captured value sent back must not smuggle
                // a line end into a command.
                vars.insert(name.clone(), got.reply.text().replace(['\r', '\n'], " "));
            }
            Ok(())
        }
        Action::NotEnded { wait, end } => {
            not_ended(conn, *wait).await?;
            match end {
                Some(end) => {
                    let bytes = unescaped(end, vars)?;
                    real_end(conn, &bytes, limit).await
                }
                None => Ok(()),
            }
        }
        Action::ExpectEhlo(e) => {
            let Some(resp) = ehlo.as_ref() else {
                return Err(Failure::Scenario(
                    "no multiline 250 reply to EHLO was read before this step (send EHLO and \
                     expect its reply first)"
                        .into(),
                ));
            };
            let line = resp
                .lines
                .iter()
                .find(|l| l.keyword.eq_ignore_ascii_case(&e.keyword));
            match (line, e.present) {
                (None, true) => Err(Failure::Mismatch(format!(
                    "{} is not advertised",
                    e.keyword
                ))),
                (Some(_), false) => Err(Failure::Mismatch(format!("{} is advertised", e.keyword))),
                (Some(l), true) => match &e.param {
                    Some(p) if !l.params.iter().any(|x| x.eq_ignore_ascii_case(p)) => Err(
                        Failure::Mismatch(format!("{} lacks the parameter {p}: {l}", e.keyword)),
                    ),
                    _ => Ok(()),
                },
                (None, false) => Ok(()),
            }
        }
        Action::ExpectClose => conn
            .closed(limit)
            .await
            .map_err(|e| Failure::Mismatch(format!("the connection stayed open: {e}"))),
        Action::Silence(d) => match conn.silence(*d).await {
            Ok(None) => Ok(()),
            Ok(Some(bytes)) if is_421(&bytes) => Err(Failure::Refused(format!(
                "the target said {:?}",
                String::from_utf8_lossy(&bytes).trim_end()
            ))),
            Ok(Some(bytes)) => Err(Failure::Mismatch(format!(
                "expected silence for {} ms, got {:?}",
                d.as_millis(),
                String::from_utf8_lossy(&bytes)
            ))),
            // A close sends no reply: the silence holds (later steps will see the close).
            Err(ConnError::Closed) => Ok(()),
            Err(e) => Err(conn_failure(e)),
        },
        Action::Starttls => {
            conn.send(&Command::StartTls.to_bytes(), limit)
                .await
                .map_err(conn_failure)?;
            let got = conn.reply(limit).await.map_err(conn_failure)?;
            if got.reply.code != ReplyCode::SERVICE_READY {
                return Err(unasked_421(&got).unwrap_or_else(|| {
                    Failure::Mismatch(format!("STARTTLS got {}", describe(&got.reply)))
                }));
            }
            *ehlo = None;
            conn.handshake(limit).await.map_err(conn_failure)
        }
        Action::Handshake => {
            *ehlo = None;
            conn.handshake(limit).await.map_err(conn_failure)
        }
        Action::ExpectStored(e) => match expect_stored(target, vars, e, limit).await {
            Err(Failure::Mismatch(why)) if e.spec.given => Err(Failure::Unobservable(format!(
                "a precondition was not met ({why}); the case could not reach what it tests"
            ))),
            other => other,
        },
        Action::Pause(d) => {
            tokio::time::sleep(*d).await;
            Ok(())
        }
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
