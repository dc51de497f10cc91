//! Each step of a server case on the wire: what it sends, what it reads, and how what
//! it read is judged. A new step kind is one arm of [`run_step`] (and of [`waits`] if it
//! waits on purpose); its language side is `scenario/step/`.

use std::time::Duration;

use smtp_protocol::Command;
use smtp_protocol::data::dot_stuff;
use smtp_protocol::ehlo::EhloResponse;
use smtp_protocol::reply::{ReplyCode, ReplyTo};

use super::judge::{check, describe, not_ended, real_end, unreached};
use super::stored::{ABSENT_WAIT, expect_stored};
use super::{Failure, Target, conn_failure, ended, expand, send_failure, unasked_421, unescaped};
use crate::scenario::ExpectEhlo;
use crate::scenario::load::{Action, Cuts, LocatedAction, Matcher};
use crate::scenario::template::Vars;
use crate::wire::{Conn, ConnError};

/// How long a step waits on purpose, whatever the target does.
pub(super) fn waits(action: &Action) -> Duration {
    match action {
        Action::Silence(d) | Action::Pause(d) | Action::NotEnded { wait: d, .. } => *d,
        Action::ExpectStored(c) if c.spec.absent => ABSENT_WAIT,
        _ => Duration::ZERO,
    }
}

/// What the steps of one case share on their connection.
pub(super) struct Session<'a> {
    pub conn: Conn,
    pub target: &'a Target,
    pub vars: Vars,
    /// The last multiline 250 (an EHLO reply), for `expect_ehlo`; a TLS handshake
    /// clears it (RFC 3207 §4.2: the list is asked for again).
    pub ehlo: Option<EhloResponse>,
    /// The step timeout.
    pub limit: Duration,
    /// The case has sent something: before the greeting, that makes it an early
    /// talker, and a 421 greeting then answers the talk rather than a busy server.
    pub talked: bool,
}

/// Run one step; SHOULD-level findings that do not stop the case go to `warnings`.
pub(super) async fn run_step(
    s: &mut Session<'_>,
    step: &LocatedAction,
    warnings: &mut Vec<String>,
) -> Result<(), Failure> {
    let limit = s.limit;
    if matches!(
        step.action,
        Action::Send(_) | Action::SendRaw(_) | Action::SendBatch { .. } | Action::SendBody { .. }
    ) {
        s.talked = true;
    }
    match &step.action {
        Action::Send(line) => {
            let mut bytes = expand(line, &s.vars)?.into_bytes();
            bytes.extend_from_slice(b"\r\n");
            send(&mut s.conn, &bytes, limit).await
        }
        Action::SendRaw(text) => {
            let bytes = unescaped(text, &s.vars)?;
            send(&mut s.conn, &bytes, limit).await
        }
        Action::SendBatch { lines, cuts } => send_batch(s, lines, cuts).await,
        Action::SendBody {
            text,
            stuff,
            exceed_size,
        } => {
            let bytes = body(s, text, *stuff, *exceed_size)?;
            send(&mut s.conn, &bytes, limit).await
        }
        Action::Expect(m) => expect(s, m, warnings).await,
        Action::NotEnded {
            wait,
            end,
            must_survive,
        } => {
            not_ended(&mut s.conn, *wait, *must_survive).await?;
            match end {
                Some(end) => {
                    let bytes = unescaped(end, &s.vars)?;
                    real_end(&mut s.conn, &bytes, limit).await
                }
                None => Ok(()),
            }
        }
        Action::ExpectEhlo(e) => expect_ehlo(s.ehlo.as_ref(), e),
        Action::ExpectClose => s
            .conn
            .closed(limit)
            .await
            .map_err(|e| Failure::Mismatch(crate::unmet!("the connection stayed open: {e}"))),
        Action::ExpectAnswer => answer(&mut s.conn, limit).await,
        Action::Silence(d) => silence(&mut s.conn, *d).await,
        Action::Starttls => starttls(s).await,
        Action::Handshake => {
            s.ehlo = None;
            s.conn.handshake(limit).await.map_err(conn_failure)
        }
        Action::ExpectStored(e) => match expect_stored(s.target, &s.vars, e, limit).await {
            Err(Failure::Mismatch(why)) if e.spec.given => Err(unreached(&why)),
            other => other,
        },
        Action::Pause(d) => {
            tokio::time::sleep(*d).await;
            Ok(())
        }
    }
}

async fn send(conn: &mut Conn, bytes: &[u8], limit: Duration) -> Result<(), Failure> {
    match conn.send(bytes, limit).await {
        Ok(()) => Ok(()),
        Err(e) => Err(send_failure(conn, e).await),
    }
}

/// A pipelined batch (RFC 2920 §3.1), in one write or cut where the step says.
async fn send_batch(s: &mut Session<'_>, lines: &[String], cuts: &Cuts) -> Result<(), Failure> {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(expand(line, &s.vars)?.as_bytes());
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
    match s.conn.send_pieces(&bytes, &at, s.limit).await {
        Ok(()) => Ok(()),
        Err(e) => Err(send_failure(&mut s.conn, e).await),
    }
}

/// A message body, dot-stuffed and terminated if asked, padded past SIZE if asked.
fn body(s: &Session<'_>, text: &str, stuff: bool, exceed_size: bool) -> Result<Vec<u8>, Failure> {
    let mut body = unescaped(text, &s.vars)?;
    if exceed_size {
        let Some(limit) = s.target.size_limit else {
            return Err(Failure::Unobservable(
                "the target advertises no SIZE limit to exceed".into(),
            ));
        };
        // Over the limit however the target counts: with LF or CRLF line ends (one
        // octet per line apart), and by 10% more for headers it adds.
        let line = [b'x'; 78];
        let mut lines = 0u64;
        while (body.len() as u64) <= limit + limit / 10 + lines {
            body.extend_from_slice(&line);
            body.extend_from_slice(b"\r\n");
            lines += 1;
        }
    }
    Ok(if stuff { dot_stuff(&body) } else { body })
}

/// Any reply at all: a close or reset in its place is judged by [`ended`].
async fn answer(conn: &mut Conn, limit: Duration) -> Result<(), Failure> {
    match conn.reply(limit).await {
        Ok(_) => Ok(()),
        Err(e @ (ConnError::Closed | ConnError::Io(_))) => Err(ended(conn, e)),
        // The step's deadline is the case's, seconds: a target that says nothing by
        // then and keeps the connection open has stopped answering (RFC 5321 §4.2).
        Err(ConnError::Timeout(d)) => Err(Failure::Mismatch(crate::unmet!(
            "no answer within {} ms and the connection still open: the target stopped \
             answering (RFC 5321 §4.2: every command gets a reply)",
            d.as_millis()
        ))),
        Err(e) => Err(conn_failure(e)),
    }
}

/// One reply, judged by the matcher; a multiline 250 is kept for `expect_ehlo`.
async fn expect(
    s: &mut Session<'_>,
    m: &Matcher,
    warnings: &mut Vec<String>,
) -> Result<(), Failure> {
    let got = match s.conn.reply(s.limit).await {
        Ok(got) => got,
        Err(ConnError::Closed | ConnError::Io(_)) if m.or_refused => {
            return Err(Failure::Settled(
                "the target closed the connection, an answer this step permits: it would not \
                 go on with what was sent"
                    .into(),
            ));
        }
        // The step lists every permitted answer; silence is none of them. The greeting
        // is the exception: a slow one is not the case's failure.
        Err(ConnError::Timeout(d)) if m.or_refused && m.answers != Some(ReplyTo::Greeting) => {
            return Err(Failure::Mismatch(crate::unmet!(
                "no reply within {} ms and the connection open: the target neither answered \
                 nor refused, and waits for what it was already sent",
                d.as_millis()
            )));
        }
        // A malformed reply where the case only needs one is not what it tests.
        Err(e) => {
            return Err(match ended(&s.conn, e) {
                Failure::Mismatch(why) if m.given => unreached(&why),
                other => other,
            });
        }
    };
    if got.reply.code == ReplyCode::OK && got.reply.lines.len() > 1 {
        s.ehlo = Some(EhloResponse::from_reply(&got.reply).0);
    }
    if let Err(f) = check(m, &got, warnings) {
        // A 421 greeting to a case that has sent nothing is a busy server; otherwise,
        // where the step permits a refusal, it refuses what was sent, as a 421 does at
        // an odd end of data (or "you talk too soon" to an early talker).
        let busy = m.answers == Some(ReplyTo::Greeting) && !s.talked;
        if let Some(refused) = unasked_421(&got)
            && (busy || !m.or_refused)
        {
            return Err(refused);
        }
        if m.or_refused && got.reply.code.is_negative() {
            return Err(Failure::Settled(format!(
                "the target refused with {}, an answer this step permits: it would not go on \
                 with what was sent",
                describe(&got.reply)
            )));
        }
        return Err(f);
    }
    if let Some(name) = &m.capture {
        // Lines joined by spaces: a captured value sent back must not smuggle a line
        // end into a command.
        s.vars
            .insert(name.clone(), got.reply.text().replace(['\r', '\n'], " "));
    }
    Ok(())
}

/// A keyword (and parameter) of the last EHLO list, present or absent.
fn expect_ehlo(ehlo: Option<&EhloResponse>, e: &ExpectEhlo) -> Result<(), Failure> {
    let Some(resp) = ehlo else {
        return Err(Failure::Scenario(
            "no multiline 250 reply to EHLO was read before this step (send EHLO and expect \
             its reply first)"
                .into(),
        ));
    };
    let line = resp
        .lines
        .iter()
        .find(|l| l.keyword.eq_ignore_ascii_case(&e.keyword));
    match (line, e.present) {
        (None, true) => Err(Failure::Mismatch(crate::unmet!(
            "{} is not advertised",
            e.keyword
        ))),
        (Some(_), false) => Err(Failure::Mismatch(crate::unmet!(
            "{} is advertised",
            e.keyword
        ))),
        (Some(l), true) => match &e.param {
            Some(p) if !l.params.iter().any(|x| x.eq_ignore_ascii_case(p)) => Err(
                Failure::Mismatch(crate::unmet!("{} lacks the parameter {p}: {l}", e.keyword)),
            ),
            _ => Ok(()),
        },
        (None, false) => Ok(()),
    }
}

/// Nothing may arrive for `quiet`; a close sends nothing, so it keeps the silence
/// (later steps see the close), and a 421 is a refusal, not a finding.
async fn silence(conn: &mut Conn, quiet: Duration) -> Result<(), Failure> {
    match conn.silence(quiet).await {
        Ok(None) | Err(ConnError::Closed) => Ok(()),
        Ok(Some(bytes)) if is_421(&bytes) => Err(Failure::Refused(format!(
            "the target said {:?}",
            String::from_utf8_lossy(&bytes).trim_end()
        ))),
        Ok(Some(bytes)) => Err(Failure::Mismatch(crate::unmet!(
            "expected silence for {} ms, got {:?}",
            quiet.as_millis(),
            String::from_utf8_lossy(&bytes)
        ))),
        Err(e) => Err(conn_failure(e)),
    }
}

/// STARTTLS, its 220, and the handshake (RFC 3207 §4).
async fn starttls(s: &mut Session<'_>) -> Result<(), Failure> {
    s.conn
        .send(&Command::StartTls.to_bytes(), s.limit)
        .await
        .map_err(conn_failure)?;
    let got = s.conn.reply(s.limit).await.map_err(conn_failure)?;
    if got.reply.code != ReplyCode::SERVICE_READY {
        return Err(unasked_421(&got).unwrap_or_else(|| {
            Failure::Mismatch(crate::unmet!("STARTTLS got {}", describe(&got.reply)))
        }));
    }
    s.ehlo = None;
    s.conn.handshake(s.limit).await.map_err(conn_failure)
}

/// Whether octets the target sent unasked are a 421 reply (read by the protocol
/// crate's reply parser, as every reply is).
fn is_421(bytes: &[u8]) -> bool {
    let mut parser = smtp_protocol::reply::ReplyParser::new();
    parser.push(bytes);
    matches!(parser.next_reply(), Some(Ok(got)) if got.reply.code == ReplyCode::SERVICE_NOT_AVAILABLE)
}
