//! Running a client case: smtpspec listens on 127.0.0.1, starts the client under test
//! (a command from its profile, or the reference client in-process), plays the case's
//! server script on the connection the client opens, and checks the client's exit.

use crate::outcome::HarnessError;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_protocol::line::LineConfig;
use tokio::net::TcpListener;

mod io;
pub(crate) mod launch;
mod step;

use launch::{Exit, code_text, start_client};
use step::{Flow, Session, serve_step};

use crate::outcome::{Outcome, Unmet, Verdict};
use crate::profile::client::ClientProfile;
use crate::roles::{Attempt, CaseResult, Role};
use crate::scenario::client::{ClientCase, ExitExpect, Serve};
use crate::scenario::load::Case;
use crate::test_ca::TestCa;
use crate::wire::served::Served;
use crate::wire::{Conn, Dir, Event};

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
        Attempt::Done(Box::new(
            run(case, script, &self.under_test, ca, step_timeout).await,
        ))
    }
}

/// Why a step did not go as scripted.
enum Miss {
    /// The client did something else: its fault.
    Client(Unmet),
    /// The harness could not go on.
    Harness(HarnessError),
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
    if let Some(why) = inapplicable(script, client) {
        return done(Verdict::Skip, why, Vec::new());
    }
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
            Err(e) => return done(Verdict::Error, e.0, Vec::new()),
        },
    };
    let (conn, mut process) = match connect(client, script, ca, limit).await {
        Ok(c) => c,
        Err(why) => return done(Verdict::Error, why.0, Vec::new()),
    };
    let mut session = Session {
        // Bare LFs are taken as line ends, to be named as the client's fault.
        wire: Served::new(
            conn,
            LineConfig {
                max_line: 4096,
                accept_bare_lf: true,
            },
        ),
        step,
        acceptor: &ca.acceptor,
        seen: Seen::default(),
    };
    let played = play(&mut session, script).await;
    // The script is over: hang up, and the client must now finish by itself.
    let mut transcript = session.wire.conn.into_transcript();
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
    let outcome = judge(script, played, exit, &session.seen, limit);
    CaseResult::of(case, outcome, start, transcript)
}

/// Why the case cannot run with this client, if it cannot.
fn inapplicable(script: &ClientCase, client: &ClientUnderTest) -> Option<String> {
    match client {
        ClientUnderTest::Absent(why) => Some(why.clone()),
        ClientUnderTest::Command(profile, _) if !profile.commands.contains_key(&script.mode) => {
            Some(format!(
                "the client profile gives no command for mode {}",
                script.mode.as_str()
            ))
        }
        _ => None,
    }
}

/// Listen on 127.0.0.1, start the client, and take the connection it opens within
/// `limit`; a client that exits or stays away first is an `error` with the reason.
async fn connect(
    client: &ClientUnderTest,
    script: &ClientCase,
    ca: &TestCa,
    limit: Duration,
) -> Result<(Conn, launch::Process), HarnessError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| crate::harness_error!("listen: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| crate::harness_error!("listen: {e}"))?;
    let mut process = start_client(client, script.mode, addr, ca)?;
    let accepted = tokio::select! {
        a = tokio::time::timeout(limit, listener.accept()) => a,
        exit = process.wait() => {
            let exit = exit.unwrap_or(Exit {
                code: None,
                signal: None,
                output: String::new(),
            });
            return Err(crate::harness_error!(
                "the client exited ({}) without connecting: {}",
                code_text(exit.code),
                exit.output
            ));
        }
    };
    match accepted {
        Ok(Ok((tcp, _))) => Ok((Conn::accepted(tcp), process)),
        Ok(Err(e)) => Err(crate::harness_error!("accept: {e}")),
        Err(_) => {
            process.kill().await;
            Err(crate::harness_error!(
                "the client did not connect within {} ms",
                limit.as_millis()
            ))
        }
    }
}

/// The outcome of a played script and the client's exit.
fn judge(
    script: &ClientCase,
    played: Result<Played, Located>,
    exit: Option<Exit>,
    seen: &Seen,
    limit: Duration,
) -> Outcome {
    match played {
        Err((n, line, name, Miss::Client(unmet))) => {
            return Outcome::Unmet(unmet.at(&format!("step {n} ({name} at line {line})")));
        }
        Err((n, line, name, Miss::Harness(why))) => {
            return Outcome::Error(crate::harness_error!(
                "step {n} ({name} at line {line}): {why}"
            ));
        }
        Ok(Played::Skip(why)) => return Outcome::Inconclusive(why),
        Ok(Played::Done) => {}
    }
    let Some(exit) = exit else {
        return Outcome::Unmet(crate::unmet!(
            "the client did not exit within {} ms after the script ended",
            limit.as_millis()
        ));
    };
    if exit.code.is_none() {
        // A crash is no way to report a failure, whatever the case expects.
        return Outcome::Unmet(
            Unmet::wanted("an exit status", "death by a signal").said(format!(
                "the client died by signal {} (a crash), wanted an exit status; output: {}",
                exit.signal.map_or_else(|| "?".into(), |s| s.to_string()),
                exit.output
            )),
        );
    }
    match (script.exit, exit.code) {
        (ExitExpect::Success, Some(0)) | (ExitExpect::Any, _) => {}
        (ExitExpect::Failure, Some(c)) if c != 0 => {}
        (want, got) => {
            let wanted = if want == ExitExpect::Success {
                "success (0)"
            } else {
                "failure (not 0)"
            };
            let got = code_text(got);
            return Outcome::Unmet(
                Unmet::wanted(wanted, &got)
                    .said(format!("the client exited {got}, wanted {wanted}")),
            );
        }
    }
    let reason = if script.pipelining && !seen.pipelined {
        "the client behaved as scripted; it never pipelined (each command waited for the \
         reply before it), so what a pipelining client must do held trivially"
    } else {
        "the client behaved as scripted"
    };
    Outcome::Pass(reason.into())
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
async fn play(s: &mut Session<'_>, script: &ClientCase) -> Result<Played, Located> {
    for (n, step) in script.script.iter().enumerate() {
        match serve_step(s, n, &step.action).await {
            Ok(Flow::Next) => {}
            Ok(Flow::Stop(played)) => return Ok(played),
            Err(miss) => return Err((n + 1, step.line, step.name, miss)),
        }
    }
    Ok(Played::Done)
}
