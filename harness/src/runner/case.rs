//! Running one case on a fresh connection, step by step, to a verdict.

use std::time::{Duration, Instant};

use smtp_protocol::Command;
use smtp_protocol::data::dot_stuff;
use smtp_protocol::ehlo::EhloResponse;
use smtp_protocol::reply::{ParsedReply, Reply, ReplyCode};

use super::conn::{Conn, ConnError};
use super::{CaseResult, Target, Verdict};
use crate::scenario::Level;
use crate::scenario::load::{Action, Case, Cuts, LocatedAction, Matcher};
use crate::scenario::template::{self, Vars};

/// How long `expect_stored: { absent: true }` watches the mailbox.
pub(super) const ABSENT_WAIT: Duration = Duration::from_secs(1);

/// How a step went wrong.
enum Failure {
    /// The target did something the requirement forbids.
    Mismatch(String),
    /// The harness could not decide (timeout, closed, I/O).
    Error(String),
}

/// Run `case` against `target`.
pub(super) async fn run(case: &Case, target: &Target, step_timeout: Duration) -> CaseResult {
    let start = Instant::now();
    if let Some(why) = gate(case, target) {
        return CaseResult::new(case, Verdict::Skip, why, start, Vec::new());
    }
    let mut conn = match Conn::open(target.addr, &target.tls, step_timeout).await {
        Ok(c) => c,
        Err(e) => {
            return CaseResult::new(
                case,
                Verdict::Error,
                format!("connect: {e}"),
                start,
                Vec::new(),
            );
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
    for (n, step) in case.steps.iter().enumerate() {
        outcome = run_step(&mut conn, step, target, &mut vars, &mut ehlo, step_timeout)
            .await
            .map_err(|f| (n + 1, step, f));
        if outcome.is_err() {
            break;
        }
    }
    let (verdict, reason) = match outcome {
        Ok(()) => (Verdict::Pass, "every step as expected".to_owned()),
        Err((n, step, failure)) => {
            let place = format!("step {n} ({} at line {})", step.name, step.line);
            match failure {
                Failure::Mismatch(why) => {
                    let v = match case.level() {
                        Level::Must => Verdict::Fail,
                        Level::Should | Level::May => Verdict::Warn,
                    };
                    (v, format!("{place}: {why}"))
                }
                Failure::Error(why) => (Verdict::Error, format!("{place}: {why}")),
            }
        }
    };
    CaseResult::new(case, verdict, reason, start, conn.into_transcript())
}

/// Why the case does not apply to this target, if it does not.
fn gate(case: &Case, target: &Target) -> Option<String> {
    let has = |list: &[String], k: &str| list.iter().any(|t| t.eq_ignore_ascii_case(k));
    let ready = [ReplyCode::SERVICE_READY.get()];
    let wanted: &[u16] = if case.requires_greeting.is_empty() {
        &ready
    } else {
        &case.requires_greeting
    };
    if !wanted.contains(&target.greeting_code) {
        return Some(format!(
            "the target greets with {}; the case is for {}",
            target.greeting_code,
            wanted
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    if let Some(missing) = case.requires.iter().find(|k| !has(&target.keywords, k)) {
        return Some(format!("the target does not advertise {missing}"));
    }
    if let Some(var) = case
        .uses
        .iter()
        .find(|v| *v != "case.token" && !target.vars.contains_key(*v))
    {
        return Some(format!("the target profile does not define {{{{{var}}}}}"));
    }
    if target.tls.implicit
        && case
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::Starttls | Action::Handshake))
    {
        return Some("the target speaks implicit TLS; the case negotiates STARTTLS".into());
    }
    if case.requires_after_tls.is_empty() {
        return None;
    }
    let Some(after) = &target.tls_keywords else {
        return Some(match &target.tls_problem {
            Some(p) => format!("no EHLO list after TLS ({p})"),
            None => "the target does not advertise STARTTLS".to_owned(),
        });
    };
    let missing = case.requires_after_tls.iter().find(|k| !has(after, k))?;
    Some(format!("the target does not advertise {missing} after TLS"))
}

fn conn_failure(e: ConnError) -> Failure {
    match e {
        // A reply that cannot be parsed is the target's fault, not the harness's.
        ConnError::Reply(r) => Failure::Mismatch(format!("malformed reply: {r}")),
        other => Failure::Error(other.to_string()),
    }
}

async fn run_step(
    conn: &mut Conn,
    step: &LocatedAction,
    target: &Target,
    vars: &mut Vars,
    ehlo: &mut Option<EhloResponse>,
    limit: Duration,
) -> Result<(), Failure> {
    match &step.action {
        Action::Send(line) => {
            let mut bytes = template::expand(line, vars).into_bytes();
            bytes.extend_from_slice(b"\r\n");
            conn.send(&bytes, limit).await.map_err(conn_failure)
        }
        Action::SendRaw(text) => {
            let bytes = template::unescape(&template::expand(text, vars))
                .map_err(|at| Failure::Error(format!("bad escape at {at} after expansion")))?;
            conn.send(&bytes, limit).await.map_err(conn_failure)
        }
        Action::SendBatch { lines, cuts } => {
            let mut bytes = Vec::new();
            for line in lines {
                bytes.extend_from_slice(template::expand(line, vars).as_bytes());
                bytes.extend_from_slice(b"\r\n");
            }
            let at: Vec<usize> = match cuts {
                Cuts::None => Vec::new(),
                Cuts::Each => (1..bytes.len()).collect(),
                Cuts::At(at) => {
                    if let Some(bad) = at.iter().find(|&&o| o >= bytes.len()) {
                        return Err(Failure::Error(format!(
                            "split offset {bad} is not inside the {}-octet batch",
                            bytes.len()
                        )));
                    }
                    at.clone()
                }
            };
            conn.send_pieces(&bytes, &at, limit)
                .await
                .map_err(conn_failure)
        }
        Action::SendBody {
            text,
            stuff,
            exceed_size,
        } => {
            let mut body = template::unescape(&template::expand(text, vars))
                .map_err(|at| Failure::Error(format!("bad escape at {at} after expansion")))?;
            if *exceed_size {
                let Some(limit) = target.size_limit else {
                    return Err(Failure::Error("the target advertises no SIZE limit".into()));
                };
                let line = [b'x'; 78];
                while (body.len() as u64) <= limit {
                    body.extend_from_slice(&line);
                    body.extend_from_slice(b"\r\n");
                }
            }
            let bytes = if *stuff { dot_stuff(&body) } else { body };
            conn.send(&bytes, limit).await.map_err(conn_failure)
        }
        Action::Expect(m) => {
            let got = conn.reply(limit).await.map_err(conn_failure)?;
            if got.reply.code.get() == 250 && got.reply.lines.len() > 1 {
                *ehlo = Some(EhloResponse::from_reply(&got.reply).0);
            }
            check(m, &got)?;
            if let Some(name) = &m.capture {
                // Lines joined by spaces: a captured value sent back must not smuggle
                // a line end into a command.
                vars.insert(name.clone(), got.reply.text().replace(['\r', '\n'], " "));
            }
            Ok(())
        }
        Action::ExpectEhlo(e) => {
            let Some(resp) = ehlo.as_ref() else {
                return Err(Failure::Mismatch(
                    "no EHLO reply was seen before this step".into(),
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
            if got.reply.code.get() != 220 {
                return Err(Failure::Mismatch(format!(
                    "STARTTLS got {}",
                    describe(&got.reply)
                )));
            }
            *ehlo = None;
            conn.handshake(limit).await.map_err(conn_failure)
        }
        Action::Handshake => {
            *ehlo = None;
            conn.handshake(limit).await.map_err(conn_failure)
        }
        Action::ExpectStored(e) => expect_stored(target, vars, e, limit).await,
        Action::Pause(d) => {
            tokio::time::sleep(*d).await;
            Ok(())
        }
    }
}

/// Find the stored message carrying this case's token and check its octets.
async fn expect_stored(
    target: &Target,
    vars: &Vars,
    check: &crate::scenario::load::StoredCheck,
    limit: Duration,
) -> Result<(), Failure> {
    let Some(mailbox) = &target.mailbox else {
        // No way to look: the step proves nothing either way.
        return Ok(());
    };
    let e = &check.spec;
    let token = vars.get("case.token").cloned().unwrap_or_default();
    if e.absent {
        let deadline = Instant::now() + ABSENT_WAIT.min(limit);
        while Instant::now() < deadline {
            if find_stored(&mailbox.dir.join("new"), token.as_bytes()).is_some() {
                return Err(Failure::Mismatch(format!(
                    "a message carrying {token} was stored"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        return Ok(());
    }
    let deadline = Instant::now() + limit;
    let message = loop {
        if let Some(m) = find_stored(&mailbox.dir.join("new"), token.as_bytes()) {
            break m;
        }
        if Instant::now() > deadline {
            return Err(Failure::Mismatch(format!(
                "no stored message carries {token} after {} ms",
                limit.as_millis()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let want = |t: &String| {
        let octets = template::unescape(&template::expand(t, vars))
            .unwrap_or_else(|_| t.clone().into_bytes());
        if mailbox.lf {
            crlf_to_lf(&octets)
        } else {
            octets
        }
    };
    let has = |needle: &[u8]| message.windows(needle.len().max(1)).any(|w| w == needle);
    for t in &e.contains {
        let n = want(t);
        if !has(&n) {
            return Err(Failure::Mismatch(format!(
                "the stored message lacks {:?}",
                String::from_utf8_lossy(&n)
            )));
        }
    }
    let text = String::from_utf8_lossy(&message);
    if let Some(p) = check.patterns.iter().find(|p| !p.is_match(&text)) {
        return Err(Failure::Mismatch(format!(
            "the stored message does not match /{}/",
            p.as_str()
        )));
    }
    for t in &e.lacks {
        let n = want(t);
        if has(&n) {
            return Err(Failure::Mismatch(format!(
                "the stored message contains {:?}",
                String::from_utf8_lossy(&n)
            )));
        }
    }
    Ok(())
}

/// What a Unix delivery agent makes of CRLF line ends.
fn crlf_to_lf(octets: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(octets.len());
    for (i, &b) in octets.iter().enumerate() {
        if !(b == b'\r' && octets.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

fn find_stored(dir: &std::path::Path, token: &[u8]) -> Option<Vec<u8>> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .find(|m| m.windows(token.len()).any(|w| w == token))
}

fn describe(r: &Reply) -> String {
    let text = r.text().replace('\n', " / ");
    let enhanced = r.enhanced.map(|e| format!(" {e}")).unwrap_or_default();
    format!("{}{enhanced} {text:?}", r.code)
}

fn check(m: &Matcher, got: &ParsedReply) -> Result<(), Failure> {
    let r = &got.reply;
    let code = r.code.get();
    let mismatch = || Failure::Mismatch(format!("wanted {}, got {}", m.describe(), describe(r)));
    if !m.codes.is_empty() && !m.codes.contains(&code) {
        return Err(mismatch());
    }
    if let Some(class) = &m.class
        && !code.to_string().starts_with(class.as_str())
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
