//! Judging what the target said: replies against their matchers (preferred codes,
//! preconditions), and the three-way judgement of odd line and data ends.

use std::time::{Duration, Instant};

use smtp_protocol::reply::{ParsedReply, Reply};

use super::{Failure, conn_failure, send_failure};
use crate::outcome::Unmet;
use crate::scenario::load::Matcher;
use crate::wire::{Conn, ConnError};

/// After octets that end a line or the data only in a way RFC 5321 forbids (a bare LF,
/// `<LF>.<LF>`): did the target take them as an end? Watched for `window`:
/// - nothing: it waits for a real end, as it must; the case goes on;
/// - a positive reply, or two replies (the second one answering what followed): it
///   took them as an end, the finding;
/// - one refusal (4xx/5xx), with or without a close, or a close: it refused the odd
///   line end, which is safe; the case passes here. With `must_survive`, a close with
///   no reply before it fails instead: the session died (RFC 5321 §3.8).
pub(super) async fn not_ended(
    conn: &mut Conn,
    window: Duration,
    must_survive: bool,
) -> Result<(), Failure> {
    let deadline = Instant::now() + window;
    let mut replies: Vec<Reply> = Vec::new();
    let closed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break false;
        }
        match conn.reply(left).await {
            Ok(got) => {
                let positive = got.reply.code.is_positive();
                replies.push(got.reply);
                if positive || replies.len() > 1 {
                    break false;
                }
            }
            Err(ConnError::Timeout(_)) => break false,
            Err(ConnError::Closed | ConnError::Io(_)) => break true,
            Err(e) => return Err(conn_failure(e)),
        }
    };
    let seen: Vec<String> = replies.iter().map(describe).collect();
    match (replies.as_slice(), closed) {
        ([], false) => Ok(()),
        ([], true) if must_survive => Err(Failure::Mismatch(crate::unmet!(
            "the target closed the connection without a reply: its session died on what was \
             sent (RFC 5321 §3.8 allows a close only after QUIT, a 421 or a timeout)"
        ))),
        ([], true) => Err(Failure::Settled(
            "the target closed the connection: it did not take that as an end".into(),
        )),
        ([one], _) if one.code.is_negative() => Err(Failure::Settled(format!(
            "the target refused it with {}{}: it did not take that as an end",
            seen[0],
            if closed {
                " and closed the connection"
            } else {
                ""
            }
        ))),
        ([one], _) => Err(Failure::Mismatch(crate::unmet!(
            "the target took it as an end: it answered {}",
            describe(one)
        ))),
        _ => Err(Failure::Mismatch(crate::unmet!(
            "the target took it as an end: it answered {} and then {}, a reply to what followed",
            seen[0],
            seen[1]
        ))),
    }
}

/// The target waited through the odd end: send the real one. It must be answered,
/// once: a second reply would answer something that came before it as a command.
pub(super) async fn real_end(conn: &mut Conn, end: &[u8], limit: Duration) -> Result<(), Failure> {
    if let Err(e) = conn.send(end, limit).await {
        return Err(send_failure(conn, e).await);
    }
    let first = match conn.reply(limit).await {
        Ok(r) => r,
        Err(ConnError::Closed | ConnError::Io(_)) => {
            return Err(Failure::Settled(
                "the target waited for a real end, and closed the connection at it".into(),
            ));
        }
        // Silent at the real end too: the silence before proves nothing.
        Err(e) => {
            return Err(Failure::Error(format!(
                "no reply to the real end either ({e}): the target's silence before it shows \
                 nothing"
            )));
        }
    };
    match conn.silence(Duration::from_millis(300)).await {
        Ok(None) | Err(ConnError::Closed) => Ok(()),
        Ok(Some(more)) => Err(Failure::Mismatch(crate::unmet!(
            "the real end got two replies, {} and then {:?}: the data had ended before it, \
             at what was sent earlier",
            describe(&first.reply),
            String::from_utf8_lossy(&more).trim_end()
        ))),
        Err(e) => Err(conn_failure(e)),
    }
}

/// A step the case only needs, not what it tests, went wrong: the case is skipped with
/// the reason, never failed for it.
pub(super) fn unreached(why: &dyn std::fmt::Display) -> Failure {
    Failure::Unobservable(format!(
        "a precondition was not met ({why}); the case could not reach what it tests"
    ))
}

pub(super) fn describe(r: &Reply) -> String {
    let text = r.text().replace('\n', " / ");
    let enhanced = r.enhanced.map(|e| format!(" {e}")).unwrap_or_default();
    format!("{}{enhanced} {text:?}", r.code)
}

/// Judge a reply: a mismatch of a precondition skips the case; an accepted code the
/// RFC does not prefer is a warning, kept while the case goes on.
pub(super) fn check(
    m: &Matcher,
    got: &ParsedReply,
    warnings: &mut Vec<String>,
) -> Result<(), Failure> {
    let code = got.reply.code.get().to_string();
    if !m.given_class.is_empty() && !m.given_class.iter().any(|c| code.starts_with(c.as_str())) {
        let classes: Vec<String> = m
            .given_class
            .iter()
            .map(|c| format!("{c}{}", "x".repeat(3 - c.len())))
            .collect();
        return Err(Failure::Unobservable(format!(
            "got {}; the case is about a {} reply, so it could not judge this one",
            describe(&got.reply),
            classes.join(" or ")
        )));
    }
    match matches(m, got) {
        Err(Failure::Mismatch(why)) if m.given => Err(unreached(&why)),
        Err(f) => Err(f),
        Ok(()) => {
            let code = got.reply.code.get();
            if !m.prefer.is_empty() && !m.prefer.contains(&code) {
                let best = m
                    .prefer
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ");
                warnings.push(format!(
                    "got {}, accepted, but {best} is preferred{}",
                    describe(&got.reply),
                    m.because
                        .as_deref()
                        .map(|b| format!(" ({b})"))
                        .unwrap_or_default()
                ));
            }
            Ok(())
        }
    }
}

fn matches(m: &Matcher, got: &ParsedReply) -> Result<(), Failure> {
    let r = &got.reply;
    let code = r.code.get();
    let mismatch = || {
        let answers = m
            .answers
            .map(|to| format!(" to {}", crate::scenario::load::replies::describe(to)))
            .unwrap_or_default();
        Failure::Mismatch(Unmet::wanted(
            format!("{}{answers}", m.describe()),
            describe(r),
        ))
    };
    if !m.codes.is_empty() && !m.codes.contains(&code) {
        return Err(mismatch());
    }
    if !m.class.is_empty()
        && !m
            .class
            .iter()
            .any(|c| code.to_string().starts_with(c.as_str()))
    {
        return Err(mismatch());
    }
    if let Some(pattern) = &m.enhanced {
        let Some(e) = r.enhanced else {
            return Err(mismatch());
        };
        let parts = [
            e.class.to_string(),
            e.subject.to_string(),
            e.detail.to_string(),
        ];
        if !pattern
            .split('.')
            .zip(parts.iter())
            .all(|(p, v)| p == "x" || p == v)
        {
            return Err(mismatch());
        }
    }
    if let Some(re) = &m.text
        && !re.is_match(&r.text())
    {
        return Err(mismatch());
    }
    match m.multiline {
        Some(true) if r.lines.len() < 2 => return Err(mismatch()),
        Some(false) if r.lines.len() > 1 => return Err(mismatch()),
        _ => {}
    }
    Ok(())
}
