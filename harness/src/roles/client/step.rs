//! Each step of a client script on the wire, smtpspec playing the server: what it
//! sends, what it reads from the client, and how that is judged. A new step kind of
//! client scripts is one arm of [`serve_step`]; its language side is
//! `scenario/client.rs`.

use std::time::Duration;

use smtp_protocol::Verb;
use tokio_rustls::TlsAcceptor;

use super::io::{
    Read, Stuffing, answer, check_stuffing, harness, next_line, read_data, refused_certificate,
};
use super::{Miss, Played, Seen};
use crate::outcome::Unmet;
use crate::scenario::client::{CommandCheck, DataMatch, Serve};
use crate::wire::ConnError;
use crate::wire::served::Served;

/// What the steps of one script share on the connection the client opened.
pub(super) struct Session<'a> {
    /// The connection the client opened, and its command lines.
    pub wire: Served,
    /// The step timeout.
    pub step: Duration,
    pub acceptor: &'a TlsAcceptor,
    pub seen: Seen,
}

/// After a step: go on, or the script is over.
pub(super) enum Flow {
    Next,
    Stop(Played),
}

/// Play step `n` of the script.
pub(super) async fn serve_step(
    s: &mut Session<'_>,
    n: usize,
    action: &Serve,
) -> Result<Flow, Miss> {
    match action {
        Serve::Send(bytes) => reply(s, bytes).await,
        Serve::Expect(check) => expect(s, n, check).await,
        Serve::ExpectData(check) => expect_data(s, check).await,
        Serve::Silence(quiet) => silence(s, *quiet).await.map(|()| Flow::Next),
        Serve::NeedsEhlo if s.seen.hello == Some(Verb::Helo) => Ok(Flow::Stop(Played::Skip(
            "the client opened with HELO and so asked for no extension (RFC 5321 §3.2 allows \
             that): this case needs a client that says EHLO"
                .into(),
        ))),
        Serve::NeedsEhlo => Ok(Flow::Next),
        Serve::ExpectClose => expect_close(s).await,
        Serve::Starttls(may_close) => starttls(s, *may_close).await,
        Serve::TlsAlert => tls_alert(s).await,
    }
}

/// Send octets; a client that went away ends the script.
async fn reply(s: &mut Session<'_>, bytes: &[u8]) -> Result<Flow, Miss> {
    let sent = answer(&mut s.wire, bytes, s.step, &mut s.seen).await?;
    Ok(if sent {
        Flow::Next
    } else {
        Flow::Stop(Played::Done)
    })
}

/// One command line from the client, judged, and answered if the step says so.
async fn expect(s: &mut Session<'_>, n: usize, check: &CommandCheck) -> Result<Flow, Miss> {
    let wanted = if check.verbs.is_empty() {
        "a command".to_string()
    } else {
        check
            .verbs
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let ready = s.wire.lines.has_input();
    let read = match next_line(&mut s.wire, s.step).await {
        Err(Read::Conn(_)) if s.seen.gone => Ok(None),
        other => other,
    };
    let line = match read {
        Ok(Some(l)) => l,
        Ok(None) if !check.required => return Ok(Flow::Stop(Played::Done)),
        Ok(None) => {
            return Err(Miss::Client(crate::unmet!(
                "the client closed the connection; wanted {wanted}"
            )));
        }
        Err(Read::Timeout) => {
            return Err(Miss::Client(crate::unmet!(
                "the client sent nothing within {} ms; wanted {wanted}",
                s.step.as_millis()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let text = String::from_utf8_lossy(&line).into_owned();
    let verb = Verb::of_line(&line);
    note_command(&mut s.seen, verb, ready && n > 0);
    if let Some(v) = verb.filter(|v| check.skip_on.contains(v)) {
        return Ok(Flow::Stop(Played::Skip(format!(
            "the client sent {} here: {}",
            v.as_str(),
            check.skip_why
        ))));
    }
    judge_command(check, verb, &text, &wanted)?;
    match check.answer.iter().find(|(v, _)| Some(*v) == verb) {
        Some((_, bytes)) => reply(s, bytes).await,
        None => Ok(Flow::Next),
    }
}

/// What a command tells about the client: QUIT, its greeting verb, and whether it
/// was sent before the reply to the one before (`early`: pipelined).
fn note_command(seen: &mut Seen, verb: Option<Verb>, early: bool) {
    seen.quit |= verb == Some(Verb::Quit);
    seen.pipelined |= early;
    if let Some(v @ (Verb::Ehlo | Verb::Helo)) = verb
        && seen.hello.is_none()
    {
        seen.hello = Some(v);
    }
}

/// The verb and the patterns of an `expect`.
fn judge_command(
    check: &CommandCheck,
    verb: Option<Verb>,
    text: &str,
    wanted: &str,
) -> Result<(), Miss> {
    if !check.verbs.is_empty() && !verb.is_some_and(|v| check.verbs.contains(&v)) {
        let sent = format!("{text:?}");
        return Err(Miss::Client(
            Unmet::wanted(wanted, &sent).said(format!("wanted {wanted}, the client sent {sent}")),
        ));
    }
    if let Some(re) = &check.matches
        && !re.is_match(text)
    {
        return Err(Miss::Client(crate::unmet!(
            "{text:?} does not match /{re}/"
        )));
    }
    if let Some(re) = &check.lacks
        && re.is_match(text)
    {
        return Err(Miss::Client(crate::unmet!(
            "{text:?} matches /{re}/, which it must not"
        )));
    }
    Ok(())
}

/// The content after 354: stuffed as RFC 5321 §4.5.2 says, holding and lacking what
/// the step says.
async fn expect_data(s: &mut Session<'_>, check: &DataMatch) -> Result<Flow, Miss> {
    let (body, raw) = read_data(&mut s.wire, s.step, check.crlf_only).await?;
    match check_stuffing(&raw, &check.stuffed) {
        Ok(()) => {}
        Err(Stuffing::Unstuffed(line)) => {
            return Err(Miss::Client(crate::unmet!(
                "the line {line:?} went out unstuffed after a CRLF (RFC 5321 §4.5.2: a line \
                 that starts with a period gets one more)"
            )));
        }
        Err(Stuffing::NotALine(why)) => return Ok(Flow::Stop(Played::Skip(why))),
    }
    let holds = |needle: &[u8]| body.windows(needle.len().max(1)).any(|w| w == needle);
    if let Some(c) = check.contains.iter().find(|c| !holds(c)) {
        return Err(Miss::Client(crate::unmet!(
            "the content lacks {:?} (after dot-unstuffing)",
            String::from_utf8_lossy(c)
        )));
    }
    if let Some(l) = check.lacks.iter().find(|l| holds(l)) {
        return Err(Miss::Client(crate::unmet!(
            "the content holds {:?}",
            String::from_utf8_lossy(l)
        )));
    }
    Ok(Flow::Next)
}

/// The client must send nothing, and stay, for `quiet`.
async fn silence(s: &mut Session<'_>, quiet: Duration) -> Result<(), Miss> {
    if !s.wire.lines.is_idle() {
        return Err(Miss::Client(crate::unmet!(
            "the client sent {:?} while it had to wait",
            String::from_utf8_lossy(&s.wire.lines.take_remaining())
        )));
    }
    match s.wire.conn.read_raw(quiet).await {
        Err(ConnError::Timeout(_)) => Ok(()),
        Ok(b) if b.is_empty() => Err(Miss::Client(crate::outcome::Unmet::new(
            "the client closed the connection while it had to wait",
        ))),
        Ok(b) => Err(Miss::Client(crate::unmet!(
            "the client sent {:?} while it had to wait",
            String::from_utf8_lossy(&b)
        ))),
        Err(e) => Err(harness(e)),
    }
}

/// The client must close the connection.
async fn expect_close(s: &mut Session<'_>) -> Result<Flow, Miss> {
    match next_line(&mut s.wire, s.step).await {
        Ok(None) | Err(Read::Conn(ConnError::Io(_))) => Ok(Flow::Stop(Played::Done)),
        Ok(Some(l)) => Err(Miss::Client(crate::unmet!(
            "the client sent {:?} instead of closing",
            String::from_utf8_lossy(&l)
        ))),
        Err(Read::Timeout) => Err(Miss::Client(crate::unmet!(
            "the client kept the connection open for {} ms",
            s.step.as_millis()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The server side of the TLS handshake after the script's 220 to STARTTLS; with
/// `may_close`, a client that hangs up instead ends the script.
async fn starttls(s: &mut Session<'_>, may_close: bool) -> Result<Flow, Miss> {
    let early = s.wire.lines.take_remaining();
    if !early.is_empty() {
        return Err(Miss::Client(crate::unmet!(
            "the client sent {:?} after STARTTLS, before the handshake",
            String::from_utf8_lossy(&early)
        )));
    }
    match s.wire.conn.accept_tls(s.acceptor, s.step).await {
        Ok(()) => Ok(Flow::Next),
        // The client hung up instead of starting TLS: it refused to go on.
        Err(ConnError::Io(e)) if may_close && e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Ok(Flow::Stop(Played::Done))
        }
        // A client that checks certificates and was not given the run's CA is right
        // to refuse: that says nothing about its SMTP.
        Err(e) if refused_certificate(&e) => Err(Miss::Harness(crate::harness_error!(
            "client refused the harness certificate ({e}); give it the run's CA with {{ca}} or \
             SMTPSPEC_CA"
        ))),
        Err(e) => Err(Miss::Client(crate::unmet!("TLS handshake: {e}"))),
    }
}

/// Refuse the client's handshake as a server whose TLS cannot agree: wait for its
/// ClientHello (the first record, TLS content type 22), then answer with a fatal
/// alert. Answering only once the hello has come keeps the moment of the refusal the
/// same on every run, whatever the client's speed.
async fn tls_alert(s: &mut Session<'_>) -> Result<Flow, Miss> {
    let mut got = s.wire.lines.take_remaining();
    while got.is_empty() {
        match s.wire.conn.read_raw(s.step).await {
            Ok(b) if b.is_empty() => return Ok(Flow::Stop(Played::Done)),
            Ok(b) => got = b,
            Err(ConnError::Timeout(_)) => {
                return Err(Miss::Client(crate::unmet!(
                    "the client did not start the TLS handshake within {} ms of the 220 to \
                     STARTTLS",
                    s.step.as_millis()
                )));
            }
            Err(ConnError::Io(_)) => return Ok(Flow::Stop(Played::Done)),
            Err(e) => return Err(harness(e)),
        }
    }
    if !crate::wire::tls::is_handshake_record(&got) {
        return Err(Miss::Client(crate::unmet!(
            "the client sent {:?} after the 220 to STARTTLS instead of starting TLS \
             (RFC 3207 §4)",
            String::from_utf8_lossy(&got[..got.len().min(80)])
        )));
    }
    reply(s, &crate::wire::tls::HANDSHAKE_FAILURE_ALERT).await
}
