//! Running a client case: smtpspec listens on 127.0.0.1, starts the client under test
//! (a command from its profile, or the reference client in-process), plays the case's
//! server script on the connection the client opens, and checks the client's exit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_protocol::line::{LineConfig, LineDecoder};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

mod io;
mod launch;

use io::{
    Read, Stuffing, answer, check_stuffing, harness, next_line, read_data, refused_certificate,
};
use launch::{Exit, code_text, start_client};

use crate::outcome::Verdict;
use crate::profile::client::ClientProfile;
use crate::roles::{Attempt, CaseResult, Role};
use crate::scenario::load::Case;
use crate::scenario::serving::{ClientCase, ExitExpect, Serve};
use crate::test_ca::TestCa;
use crate::wire::{Conn, ConnError, Dir, Event};

/// The envelope the client is asked to send.
pub const FROM: &str = "sender@client.smtpspec.test";
/// The recipient.
pub const TO: &str = "rcpt@server.smtpspec.test";
/// The EHLO name clients are given.
pub const HELO: &str = "client.smtpspec.test";

/// The message handed to the client: Unix line ends (the client must send CRLF) and
/// lines that start with dots (the client must stuff them, RFC 5321 §4.5.2).
pub const MESSAGE: &str = "From: <sender@client.smtpspec.test>\n\
To: <rcpt@server.smtpspec.test>\n\
Subject: smtpspec client test\n\
Message-ID: <client-test@client.smtpspec.test>\n\
\n\
This message tests an SMTP client.\n\
.A line that starts with a dot\n\
..Two dots\n\
.\n\
The end.\n";

/// Who the client under test is.
#[derive(Clone)]
pub enum ClientUnderTest {
    /// smtpspec's reference client, in-process, in these permitted variants.
    Reference(Vec<crate::send::ClientVariant>),
    /// A command from a profile, with the message file it is given.
    Command(Arc<ClientProfile>, PathBuf),
    /// No client in this run: client cases are skipped with this reason.
    Absent(String),
}

impl Default for ClientUnderTest {
    fn default() -> Self {
        Self::Reference(Vec::new())
    }
}

impl std::fmt::Debug for ClientUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reference(v) => write!(f, "Reference({v:?})"),
            Self::Command(p, _) => write!(f, "Command({})", p.name),
            Self::Absent(why) => write!(f, "Absent({why})"),
        }
    }
}

/// The client role's subject: who the client is, and the TLS identity smtpspec
/// presents to it when it plays the server (a CA made for the run, whose PEM the
/// client may be given).
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The client under test.
    pub under_test: ClientUnderTest,
    /// The run's test CA; one is made per case when there is none.
    pub ca: Option<Arc<TestCa>>,
}

impl Role for Client {
    type Part = ClientCase;

    /// A client process starts, and the script may wait in silences.
    fn waits(script: &ClientCase) -> Duration {
        Duration::from_millis(300)
            + script
                .script
                .iter()
                .map(|s| match s.action {
                    Serve::Silence(d) => d,
                    _ => Duration::ZERO,
                })
                .sum::<Duration>()
    }

    /// The client's own run limit (10 s by default) twice, plus the script.
    fn budget(&self, script: &ClientCase, step_timeout: Duration) -> Duration {
        Duration::from_secs(25) + step_timeout * (script.script.len() as u32 + 2)
    }

    async fn attempt(&self, case: &Case, script: &ClientCase, step_timeout: Duration) -> Attempt {
        let ca = self.ca.as_deref();
        Attempt::Done(run(case, script, &self.under_test, ca, step_timeout).await)
    }
}

/// Why a step did not go as scripted.
enum Miss {
    /// The client did something else: its fault.
    Client(String),
    /// The harness could not go on.
    Harness(String),
}

fn note(text: String) -> Event {
    Event {
        dir: Dir::Note,
        data: text.into_bytes(),
    }
}

/// Run one client case; `ca` is the run's TLS identity (one is made for the case
/// when there is none).
pub async fn run(
    case: &Case,
    script: &ClientCase,
    client: &ClientUnderTest,
    ca: Option<&TestCa>,
    step: Duration,
) -> CaseResult {
    let start = Instant::now();
    let done = |verdict, reason: String, transcript| {
        CaseResult::new(case, verdict, reason, start, transcript)
    };
    if let ClientUnderTest::Absent(why) = client {
        return done(Verdict::Skip, why.clone(), Vec::new());
    }
    if let ClientUnderTest::Command(profile, _) = client
        && !profile.commands.contains_key(&script.mode)
    {
        return done(
            Verdict::Skip,
            format!(
                "the client profile gives no command for mode {}",
                script.mode.as_str()
            ),
            Vec::new(),
        );
    }
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => return done(Verdict::Error, format!("listen: {e}"), Vec::new()),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return done(Verdict::Error, format!("listen: {e}"), Vec::new()),
    };
    let limit = match client {
        ClientUnderTest::Command(p, _) => p.timeout,
        _ => Duration::from_secs(10),
    };
    let own;
    let ca = match ca {
        Some(ca) => ca,
        None => match TestCa::generate() {
            Ok(c) => {
                own = c;
                &own
            }
            Err(e) => return done(Verdict::Error, e, Vec::new()),
        },
    };
    let mut process = match start_client(client, script.mode, addr, ca) {
        Ok(p) => p,
        Err(e) => return done(Verdict::Error, e, Vec::new()),
    };
    let accepted = tokio::select! {
        a = tokio::time::timeout(limit, listener.accept()) => a,
        exit = process.wait() => {
            let exit = exit.unwrap_or(Exit { code: None, output: String::new() });
            return done(
                Verdict::Error,
                format!("the client exited ({}) without connecting: {}", code_text(exit.code), exit.output),
                Vec::new(),
            );
        }
    };
    let tcp = match accepted {
        Ok(Ok((tcp, _))) => tcp,
        Ok(Err(e)) => return done(Verdict::Error, format!("accept: {e}"), Vec::new()),
        Err(_) => {
            process.kill().await;
            return done(
                Verdict::Error,
                format!("the client did not connect within {} ms", limit.as_millis()),
                Vec::new(),
            );
        }
    };
    let mut conn = Conn::accepted(tcp);
    let mut seen = Seen::default();
    let played = play(&mut conn, script, step, &ca.acceptor, &mut seen).await;
    // The script is over: hang up, and the client must now finish by itself.
    let mut transcript = conn.into_transcript();
    let exit = match tokio::time::timeout(limit, process.wait()).await {
        Ok(Ok(e)) => Some(e),
        _ => {
            process.kill().await;
            None
        }
    };
    if let Some(e) = &exit {
        transcript.push(note(format!(
            "client exit status {}; output: {}",
            code_text(e.code),
            e.output
        )));
    }
    let mismatch = |why: String| {
        let v = case.level().unmet();
        done(v, why, transcript.clone())
    };
    match played {
        Err((n, line, name, Miss::Client(why))) => {
            return mismatch(format!("step {n} ({name} at line {line}): {why}"));
        }
        Err((n, line, name, Miss::Harness(why))) => {
            return done(
                Verdict::Error,
                format!("step {n} ({name} at line {line}): {why}"),
                transcript,
            );
        }
        Ok(Played::Skip(why)) => return done(Verdict::Skip, why, transcript),
        Ok(Played::Done) => {}
    }
    let Some(exit) = exit else {
        return mismatch(format!(
            "the client did not exit within {} ms after the script ended",
            limit.as_millis()
        ));
    };
    match (script.exit, exit.code) {
        (ExitExpect::Success, Some(0)) | (ExitExpect::Any, _) => {}
        (ExitExpect::Failure, Some(c)) if c != 0 => {}
        (ExitExpect::Failure, None) => {}
        (want, got) => {
            let wanted = if want == ExitExpect::Success {
                "success (0)"
            } else {
                "failure (not 0)"
            };
            return mismatch(format!(
                "the client exited {}, wanted {wanted}",
                code_text(got)
            ));
        }
    }
    let reason = if script.pipelining && !seen.pipelined {
        "the client behaved as scripted; it never pipelined (each command waited for the \
         reply before it), so what a pipelining client must do held trivially"
    } else {
        "the client behaved as scripted"
    };
    done(Verdict::Pass, reason.into(), transcript)
}

type Located = (usize, u64, &'static str, Miss);

/// How a script ended, when no step went wrong.
enum Played {
    /// Every step as scripted (or the client left where it may).
    Done,
    /// The case cannot show anything with this client: skipped, with the reason.
    Skip(String),
}

/// What the play noticed along the way.
#[derive(Default)]
struct Seen {
    /// The client sent QUIT: it may hang up before smtpspec's 221.
    quit: bool,
    /// The verb the client opened with (EHLO or HELO).
    hello: Option<smtp_protocol::Verb>,
    /// A command arrived before smtpspec answered the one before it.
    pipelined: bool,
    /// The client went away: replies are no longer sent, what it sent is still read.
    gone: bool,
}

/// Play the script; the error names the step.
async fn play(
    conn: &mut Conn,
    script: &ClientCase,
    step: Duration,
    acceptor: &TlsAcceptor,
    seen: &mut Seen,
) -> Result<Played, Located> {
    let mut lines = LineDecoder::new(LineConfig {
        max_line: 4096,
        accept_bare_lf: true,
    });
    for (n, s) in script.script.iter().enumerate() {
        let at = |m: Miss| (n + 1, s.line, s.name, m);
        match &s.action {
            Serve::Send(bytes) => {
                if !answer(conn, bytes, step, &mut lines, seen)
                    .await
                    .map_err(at)?
                {
                    return Ok(Played::Done);
                }
            }
            Serve::Expect {
                verbs,
                matches,
                lacks,
                required,
                skip_on,
                skip_why,
                answer,
            } => {
                let wanted = if verbs.is_empty() {
                    "a command".to_string()
                } else {
                    verbs
                        .iter()
                        .map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                };
                let ready = lines.has_input();
                let read = match next_line(conn, &mut lines, step).await {
                    Err(Read::Conn(_)) if seen.gone => Ok(None),
                    other => other,
                };
                let line = match read {
                    Ok(Some(l)) => l,
                    Ok(None) if !*required => return Ok(Played::Done),
                    Ok(None) => {
                        return Err(at(Miss::Client(format!(
                            "the client closed the connection; wanted {wanted}"
                        ))));
                    }
                    Err(Read::Timeout) => {
                        return Err(at(Miss::Client(format!(
                            "the client sent nothing within {} ms; wanted {wanted}",
                            step.as_millis()
                        ))));
                    }
                    Err(e) => return Err(at(e.into())),
                };
                let text = String::from_utf8_lossy(&line).into_owned();
                let verb = line.split(|&b| b == b' ').next().unwrap_or_default();
                let verb = smtp_protocol::Verb::from_bytes(verb);
                seen.quit |= verb == Some(smtp_protocol::Verb::Quit);
                // Already waiting when smtpspec looked: sent before the last reply.
                seen.pipelined |= ready && n > 0;
                if let Some(v @ (smtp_protocol::Verb::Ehlo | smtp_protocol::Verb::Helo)) = verb
                    && seen.hello.is_none()
                {
                    seen.hello = Some(v);
                }
                if let Some(v) = verb.filter(|v| skip_on.contains(v)) {
                    return Ok(Played::Skip(format!(
                        "the client sent {} here: {skip_why}",
                        v.as_str()
                    )));
                }
                if !verbs.is_empty() && !verb.is_some_and(|v| verbs.contains(&v)) {
                    return Err(at(Miss::Client(format!(
                        "wanted {wanted}, the client sent {text:?}"
                    ))));
                }
                if let Some(re) = matches
                    && !re.is_match(&text)
                {
                    return Err(at(Miss::Client(format!("{text:?} does not match /{re}/"))));
                }
                if let Some(re) = lacks
                    && re.is_match(&text)
                {
                    return Err(at(Miss::Client(format!(
                        "{text:?} matches /{re}/, which it must not"
                    ))));
                }
                if let Some((_, reply)) = answer.iter().find(|(v, _)| Some(*v) == verb)
                    && !self::answer(conn, reply, step, &mut lines, seen)
                        .await
                        .map_err(at)?
                {
                    return Ok(Played::Done);
                }
            }
            Serve::ExpectData {
                contains,
                lacks,
                crlf_only,
                stuffed,
            } => {
                let (body, raw) = read_data(conn, &mut lines, step, *crlf_only)
                    .await
                    .map_err(at)?;
                match check_stuffing(&raw, stuffed) {
                    Ok(()) => {}
                    Err(Stuffing::Unstuffed(line)) => {
                        return Err(at(Miss::Client(format!(
                            "the line {line:?} went out unstuffed after a CRLF (RFC 5321 §4.5.2: \
                             a line that starts with a period gets one more)"
                        ))));
                    }
                    Err(Stuffing::NotALine(why)) => return Ok(Played::Skip(why)),
                }
                for c in contains {
                    if !body.windows(c.len().max(1)).any(|w| w == c.as_slice()) {
                        return Err(at(Miss::Client(format!(
                            "the content lacks {:?} (after dot-unstuffing)",
                            String::from_utf8_lossy(c)
                        ))));
                    }
                }
                for l in lacks {
                    if body.windows(l.len().max(1)).any(|w| w == l.as_slice()) {
                        return Err(at(Miss::Client(format!(
                            "the content holds {:?}",
                            String::from_utf8_lossy(l)
                        ))));
                    }
                }
            }
            Serve::Silence(quiet) => {
                if !lines.is_idle() {
                    return Err(at(Miss::Client(format!(
                        "the client sent {:?} while it had to wait",
                        String::from_utf8_lossy(&lines.take_remaining())
                    ))));
                }
                match conn.read_raw(*quiet).await {
                    Err(ConnError::Timeout(_)) => {}
                    Ok(b) if b.is_empty() => {
                        return Err(at(Miss::Client(
                            "the client closed the connection while it had to wait".into(),
                        )));
                    }
                    Ok(b) => {
                        return Err(at(Miss::Client(format!(
                            "the client sent {:?} while it had to wait",
                            String::from_utf8_lossy(&b)
                        ))));
                    }
                    Err(e) => return Err(at(harness(e))),
                }
            }
            Serve::NeedsEhlo => {
                if seen.hello == Some(smtp_protocol::Verb::Helo) {
                    return Ok(Played::Skip(
                        "the client opened with HELO and so asked for no extension (RFC 5321 \
                         §3.2 allows that): this case needs a client that says EHLO"
                            .into(),
                    ));
                }
            }
            Serve::ExpectClose => match next_line(conn, &mut lines, step).await {
                Ok(None) | Err(Read::Conn(ConnError::Io(_))) => return Ok(Played::Done),
                Ok(Some(l)) => {
                    return Err(at(Miss::Client(format!(
                        "the client sent {:?} instead of closing",
                        String::from_utf8_lossy(&l)
                    ))));
                }
                Err(Read::Timeout) => {
                    return Err(at(Miss::Client(format!(
                        "the client kept the connection open for {} ms",
                        step.as_millis()
                    ))));
                }
                Err(e) => return Err(at(e.into())),
            },
            Serve::Starttls(may_close) => {
                let early = lines.take_remaining();
                if !early.is_empty() {
                    return Err(at(Miss::Client(format!(
                        "the client sent {:?} after STARTTLS, before the handshake",
                        String::from_utf8_lossy(&early)
                    ))));
                }
                match conn.accept_tls(acceptor, step).await {
                    Ok(()) => {}
                    // The client hung up instead of starting TLS: it refused to go on.
                    Err(ConnError::Io(e))
                        if *may_close && e.kind() == std::io::ErrorKind::UnexpectedEof =>
                    {
                        return Ok(Played::Done);
                    }
                    // A client that checks certificates and was not given the run's CA
                    // is right to refuse: that says nothing about its SMTP.
                    Err(e) if refused_certificate(&e) => {
                        return Err(at(Miss::Harness(format!(
                            "client refused the harness certificate ({e}); give it the run's \
                             CA with {{ca}} or SMTPSPEC_CA"
                        ))));
                    }
                    Err(e) => return Err(at(Miss::Client(format!("TLS handshake: {e}")))),
                }
            }
        }
    }
    Ok(Played::Done)
}
