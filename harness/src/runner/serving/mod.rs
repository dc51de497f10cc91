//! Running a client case: smtpspec listens on 127.0.0.1, starts the client under test
//! (a command from its profile, or the reference client in-process), plays the case's
//! server script on the connection the client opens, and checks the client's exit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_protocol::data::{DataConfig, DataDecoder};
use smtp_protocol::line::{Ending, LineConfig, LineDecoder};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

mod launch;

use launch::{Exit, code_text, start_client};

use super::conn::{Conn, ConnError, Dir, Event};
use super::{CaseResult, Verdict};
use crate::client_profile::ClientProfile;
use crate::scenario::Level;
use crate::scenario::load::Case;
use crate::scenario::serving::{ClientCase, ExitExpect, Serve};

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
#[derive(Clone, Default)]
pub enum ClientUnderTest {
    /// smtpspec's reference client, in-process.
    #[default]
    Reference,
    /// A command from a profile, with the message file it is given.
    Command(Arc<ClientProfile>, PathBuf),
    /// No client in this run: client cases are skipped with this reason.
    Absent(String),
}

impl std::fmt::Debug for ClientUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reference => f.write_str("Reference"),
            Self::Command(p, _) => write!(f, "Command({})", p.name),
            Self::Absent(why) => write!(f, "Absent({why})"),
        }
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

/// Run one client case.
pub async fn run(
    case: &Case,
    script: &ClientCase,
    client: &ClientUnderTest,
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
    let mut process = match start_client(client, script.mode, addr) {
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
    let played = play(&mut conn, script, step).await;
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
        let v = match case.level() {
            Level::Must => Verdict::Fail,
            Level::Should | Level::May => Verdict::Warn,
        };
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
        Ok(()) => {}
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
    done(
        Verdict::Pass,
        "the client behaved as scripted".into(),
        transcript,
    )
}

type Located = (usize, u64, &'static str, Miss);

/// Play the script; the error names the step.
async fn play(conn: &mut Conn, script: &ClientCase, step: Duration) -> Result<(), Located> {
    let mut lines = LineDecoder::new(LineConfig {
        max_line: 4096,
        accept_bare_lf: true,
    });
    let acceptor = tls_acceptor();
    // After QUIT a client may hang up before smtpspec's 221 arrives.
    let mut quit_seen = false;
    for (n, s) in script.script.iter().enumerate() {
        let at = |m: Miss| (n + 1, s.line, s.name, m);
        match &s.action {
            Serve::Send(bytes) => match conn.send(bytes, step).await {
                Ok(()) => {}
                Err(ConnError::Io(e)) if gone(&e) && quit_seen => return Ok(()),
                Err(ConnError::Io(e)) if gone(&e) => {
                    return Err(at(Miss::Client(format!(
                        "the client closed the connection before smtpspec's reply ({e})"
                    ))));
                }
                Err(e) => return Err(at(harness(e))),
            },
            Serve::Expect {
                verbs,
                matches,
                lacks,
                required,
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
                let line = match next_line(conn, &mut lines, step).await {
                    Ok(Some(l)) => l,
                    Ok(None) if !*required => return Ok(()),
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
                quit_seen |= verb == Some(smtp_protocol::Verb::Quit);
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
            }
            Serve::ExpectData {
                contains,
                lacks,
                crlf_only,
            } => {
                let body = read_data(conn, &mut lines, step, *crlf_only)
                    .await
                    .map_err(at)?;
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
            Serve::ExpectClose => match next_line(conn, &mut lines, step).await {
                Ok(None) | Err(Read::Conn(ConnError::Io(_))) => return Ok(()),
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
                let Some(acceptor) = &acceptor else {
                    return Err(at(Miss::Harness("no TLS identity".into())));
                };
                match conn.accept_tls(acceptor, step).await {
                    Ok(()) => {}
                    // The client hung up instead of starting TLS: it refused to go on.
                    Err(ConnError::Io(e))
                        if *may_close && e.kind() == std::io::ErrorKind::UnexpectedEof =>
                    {
                        return Ok(());
                    }
                    Err(e) => return Err(at(Miss::Client(format!("TLS handshake: {e}")))),
                }
            }
        }
    }
    Ok(())
}

/// The peer is gone: a write hit a closed or reset connection.
fn gone(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
    )
}

fn harness(e: ConnError) -> Miss {
    Miss::Harness(e.to_string())
}

fn tls_acceptor() -> Option<TlsAcceptor> {
    reference_server::tls::Identity::self_signed("mx.smtpspec.test")
        .ok()?
        .acceptor()
        .ok()
}

/// Why no command line came.
enum Read {
    Timeout,
    /// A line ended with a bare LF: the client's fault (RFC 5321 §2.3.8).
    BareLf(String),
    Conn(ConnError),
}

impl From<Read> for Miss {
    fn from(r: Read) -> Self {
        match r {
            Read::Timeout => Self::Client("the client sent nothing in time".into()),
            Read::BareLf(line) => Self::Client(format!(
                "the client ended {line:?} with a bare LF, not CRLF (RFC 5321 §2.3.8)"
            )),
            Read::Conn(e) => harness(e),
        }
    }
}

/// The next command line, `None` at the end of the stream.
async fn next_line(
    conn: &mut Conn,
    lines: &mut LineDecoder,
    limit: Duration,
) -> Result<Option<Vec<u8>>, Read> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(line) = lines.next_line() {
            if line.ending == Ending::BareLf {
                return Err(Read::BareLf(
                    String::from_utf8_lossy(&line.bytes).into_owned(),
                ));
            }
            return Ok(Some(line.bytes));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Read::Timeout);
        }
        let bytes = match conn.read_raw(left).await {
            Ok(b) => b,
            Err(ConnError::Timeout(_)) => return Err(Read::Timeout),
            Err(e) => return Err(Read::Conn(e)),
        };
        if bytes.is_empty() {
            return Ok(None);
        }
        lines.push(&bytes);
    }
}

/// The content after 354, unstuffed; bare CR or LF in it is the client's fault.
async fn read_data(
    conn: &mut Conn,
    lines: &mut LineDecoder,
    limit: Duration,
    crlf_only: bool,
) -> Result<Vec<u8>, Miss> {
    let mut data = DataDecoder::new(DataConfig::default());
    let mut input = lines.take_remaining();
    let deadline = Instant::now() + limit;
    loop {
        let used = data.feed(&input);
        if data.is_done() {
            lines.push(&input[used..]);
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Miss::Client(format!(
                "the content did not end within {} ms",
                limit.as_millis()
            )));
        }
        input = match conn.read_raw(left).await {
            Ok(b) if b.is_empty() => {
                return Err(Miss::Client(
                    "the client closed the connection inside the content".into(),
                ));
            }
            Ok(b) => b,
            Err(ConnError::Timeout(_)) => {
                return Err(Miss::Client(format!(
                    "the content did not end within {} ms",
                    limit.as_millis()
                )));
            }
            Err(e) => return Err(harness(e)),
        };
    }
    let (body, findings) = data.into_parts();
    if !crlf_only {
        return Ok(body);
    }
    if let Some(at) = findings.bare_lf {
        return Err(Miss::Client(format!(
            "a bare LF in the content at octet {at} (RFC 5321 §2.3.8: CRLF only)"
        )));
    }
    if let Some(at) = findings.bare_cr {
        return Err(Miss::Client(format!(
            "a bare CR in the content at octet {at} (RFC 5321 §2.3.8: CRLF only)"
        )));
    }
    Ok(body)
}
