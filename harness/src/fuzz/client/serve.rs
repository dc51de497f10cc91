//! One session of client fuzzing on the wire: smtpspec listens, starts the client, and
//! answers what it sends as the plan says, honest except at the faults. Everything
//! the oracles judge is noted as it happens (what was advertised, what the client
//! sent when, whether TLS was up), and each exchange is kept as a step of a client
//! script, so that a finding replays as a client case.

use std::collections::BTreeSet;
use std::time::Duration;

use smtp_protocol::line::{Ending, LineConfig};
use smtp_protocol::reply::ReplyCode;
use smtp_protocol::{Command, Verb};

use super::plan::{At, Plan, TLS_ALERT, What, honest, render};
use crate::roles::client::ClientUnderTest;
use crate::roles::client::launch::start_client;
use crate::test_ca::TestCa;
use crate::wire::served::{LineError, Served};
use crate::wire::{Conn, Event};

/// Deadlines of one session.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long the client may take to connect, and to exit after the server closed
    /// the connection (its profile's run limit).
    pub client: Duration,
    /// How long smtpspec waits for the client's next line or its message content.
    pub idle: Duration,
}

/// A step of the exchange, as a reproducer replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The client sent this line (without its line end).
    Line(Vec<u8>),
    /// smtpspec sent these octets.
    Reply(Vec<u8>),
    /// The client sent its message content.
    Content,
    /// The TLS handshake, smtpspec as the server.
    Tls,
}

/// Something an oracle may call a finding, seen as it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suspect {
    /// A bare CR or LF in a command line or the content (where: `command` or `content`).
    BareLineEnd(&'static str),
    /// A command, parameter or pipelining the server did not offer.
    Unadvertised(String),
    /// Content sent after DATA was refused.
    DataAfterRefusal(Vec<u8>),
    /// A command sent before the reply to the one before came, right after replies
    /// were injected in front of the TLS handshake: the client read them as answers.
    Injection(String),
    /// Mail or credentials sent in the clear by a client told to require TLS.
    Cleartext(Verb),
}

/// What one session showed.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The plan played.
    pub plan: Plan,
    /// The exchange, step by step.
    pub steps: Vec<Step>,
    /// What the oracles may judge.
    pub suspects: Vec<Suspect>,
    /// The verbs the client sent, in order (its path through the session).
    pub verbs: Vec<Option<Verb>>,
    /// How the client run ended: `None` when it was still running `client` after the
    /// connection was closed (it was killed).
    pub exit: Option<Ended>,
    /// The client never connected.
    pub no_connection: bool,
    /// The wire, for a finding's transcript.
    pub transcript: Vec<Event>,
}

/// How a client run ended.
#[derive(Debug, Clone)]
pub struct Ended {
    /// Its exit status; `None`: a signal ended it.
    pub code: Option<i32>,
    /// That signal.
    pub signal: Option<i32>,
    /// The last of what it printed.
    pub output: String,
}

/// The server's side of one connection.
struct Server<'a> {
    wire: Served,
    plan: &'a Plan,
    acceptor: &'a tokio_rustls::TlsAcceptor,
    idle: Duration,
    tls: bool,
    used: BTreeSet<At>,
    advertised: BTreeSet<String>,
    /// Replies were injected before the handshake: watch the next command.
    injected: bool,
    /// An unasked reply went out (or replies were injected before the handshake): a
    /// command that follows early may answer to it, and a client one reply ahead
    /// sends content after a refused DATA without being at fault.
    extra: bool,
    steps: Vec<Step>,
    suspects: Vec<Suspect>,
    verbs: Vec<Option<Verb>>,
}

/// Why the session ends.
enum Stop {
    /// The client closed the connection, or went quiet.
    Client,
    /// smtpspec closes it (QUIT answered, a fault, too much junk).
    Server,
}

/// Run one session of `plan` against `client`.
pub async fn session(
    client: &ClientUnderTest,
    plan: &Plan,
    ca: &TestCa,
    limits: Limits,
) -> Result<Trace, crate::outcome::HarnessError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| crate::harness_error!("listen: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| crate::harness_error!("listen: {e}"))?;
    let mut process = start_client(client, plan.mode, addr, ca)?;
    let mut trace = Trace {
        plan: plan.clone(),
        steps: Vec::new(),
        suspects: Vec::new(),
        verbs: Vec::new(),
        exit: None,
        no_connection: false,
        transcript: Vec::new(),
    };
    let accepted = tokio::select! {
        a = tokio::time::timeout(limits.client, listener.accept()) => a.ok().and_then(Result::ok),
        exit = process.wait() => {
            trace.no_connection = true;
            trace.exit = exit.ok().map(|e| Ended {
                code: e.code,
                signal: e.signal,
                output: e.output,
            });
            return Ok(trace);
        }
    };
    // A client that connects again after the close is refused, not left waiting.
    drop(listener);
    let Some((tcp, _)) = accepted else {
        process.kill().await;
        trace.no_connection = true;
        return Ok(trace);
    };
    let mut server = Server {
        wire: Served::new(
            Conn::accepted(tcp),
            LineConfig {
                max_line: 4096,
                accept_bare_lf: true,
            },
        ),
        plan,
        acceptor: &ca.acceptor,
        idle: limits.idle,
        tls: false,
        used: BTreeSet::new(),
        advertised: BTreeSet::new(),
        injected: false,
        extra: false,
        steps: Vec::new(),
        suspects: Vec::new(),
        verbs: Vec::new(),
    };
    let budget = limits.client + limits.idle * 4;
    let _ = tokio::time::timeout(budget, server.serve()).await;
    server.wire.conn.note("smtpspec closes the connection");
    let transcript = server.wire.conn.into_transcript();
    trace.exit = match tokio::time::timeout(limits.client, process.wait()).await {
        Ok(Ok(e)) => Some(Ended {
            code: e.code,
            signal: e.signal,
            output: e.output,
        }),
        Ok(Err(e)) => Some(Ended {
            code: None,
            signal: None,
            output: format!("the client task failed: {e}"),
        }),
        Err(_) => {
            process.kill().await;
            None
        }
    };
    trace.steps = server.steps;
    trace.suspects = server.suspects;
    trace.verbs = server.verbs;
    trace.transcript = transcript;
    Ok(trace)
}

impl Server<'_> {
    async fn serve(&mut self) -> Stop {
        if !self.reply(At::Greeting, None).await {
            return Stop::Server;
        }
        let mut junk = 0;
        loop {
            let Some((line, early)) = self.line().await else {
                return Stop::Client;
            };
            let verb = Verb::of_line(&line);
            self.verbs.push(verb);
            self.judge_command(verb, &line, early);
            if self.injected {
                self.injected = false;
                self.watch_injection().await;
            }
            let go_on = match verb {
                Some(Verb::Quit) => {
                    self.reply(At::Verb(Verb::Quit), None).await;
                    return Stop::Server;
                }
                Some(Verb::Data) => self.data().await,
                Some(Verb::Auth) => self.auth(&line).await,
                Some(Verb::StartTls) => self.starttls().await,
                Some(Verb::Bdat) => {
                    // Not offered: its chunk would be read as commands. Refuse and end.
                    self.send(b"502 5.5.1 BDAT not offered\r\n".to_vec()).await;
                    false
                }
                Some(v @ (Verb::Ehlo | Verb::Helo | Verb::Mail | Verb::Rcpt | Verb::Rset)) => {
                    self.reply(At::Verb(v), None).await
                }
                Some(Verb::Noop) => self.send(b"250 2.0.0 Ok\r\n".to_vec()).await,
                _ => {
                    junk += 1;
                    junk < 20 && self.send(b"500 5.5.2 Syntax error\r\n".to_vec()).await
                }
            };
            if !go_on {
                return Stop::Server;
            }
        }
    }

    /// The next command line, and whether it came before smtpspec's last reply was
    /// read (it was already waiting when the reply went out); `None` when the client
    /// closed or went quiet.
    async fn line(&mut self) -> Option<(Vec<u8>, bool)> {
        self.line_judged(true).await
    }

    /// The same; `judged`: a bare line end in it is a finding (not when the line may
    /// be content sent where it should not be, which is a finding of its own).
    async fn line_judged(&mut self, judged: bool) -> Option<(Vec<u8>, bool)> {
        let early = self.wire.lines.has_input();
        match self.wire.next_line(self.idle).await {
            Ok(Some(line)) => {
                if crate::wire::tls::is_handshake_record(&line.bytes) {
                    // A TLS handshake where smtpspec did not expect one: not a command
                    // line, and not judged as one.
                    self.steps.push(Step::Line(line.bytes));
                    return None;
                }
                if judged && (line.ending == Ending::BareLf || line.findings.bare_cr.is_some()) {
                    self.suspect(Suspect::BareLineEnd("command"));
                }
                self.steps.push(Step::Line(line.bytes.clone()));
                Some((line.bytes, early))
            }
            Ok(None) | Err(LineError::Timeout | LineError::Conn(_)) => None,
        }
    }

    /// After replies were injected in front of the handshake, the first command in
    /// TLS: a client that read the injected replies as answers sends its next command
    /// without waiting for smtpspec's.
    async fn watch_injection(&mut self) {
        self.wire.drain(Duration::from_millis(300)).await;
        if self.wire.lines.has_input() {
            self.suspect(Suspect::Injection(
                "the client sent its next command before smtpspec answered the first one \
                 in TLS: it took the replies injected before the handshake as answers"
                    .into(),
            ));
        }
    }

    fn suspect(&mut self, s: Suspect) {
        if !self.suspects.contains(&s) {
            self.suspects.push(s);
        }
    }

    /// What a command line tells the oracles.
    fn judge_command(&mut self, verb: Option<Verb>, line: &[u8], early: bool) {
        let Some(verb) = verb else { return };
        let offered = |s: &Self, ext: &str| s.advertised.contains(ext);
        if early && !self.extra && !offered(self, "PIPELINING") && !matches!(verb, Verb::Quit) {
            self.suspect(Suspect::Unadvertised(format!(
                "{verb} sent before the reply to the command before it, without PIPELINING"
            )));
        }
        // Verbs whose RFC binds the client to the server's offer (RFC 3030 §2, RFC
        // 1985 §5). STARTTLS and AUTH have no such sentence: a client that needs TLS
        // may try STARTTLS anyway and stop at the refusal.
        let needs = match verb {
            Verb::Bdat => Some("CHUNKING"),
            Verb::Etrn => Some("ETRN"),
            _ => None,
        };
        if let Some(ext) = needs.filter(|e| !offered(self, e)) {
            self.suspect(Suspect::Unadvertised(format!(
                "{verb} without {ext} offered"
            )));
        }
        if let Ok(Command::Mail { params, .. } | Command::Rcpt { params, .. }) =
            Command::parse(line)
        {
            for p in params {
                let key = p.keyword().to_ascii_uppercase();
                let ext = match key.as_str() {
                    "SIZE" => "SIZE",
                    "BODY" => "8BITMIME",
                    "SMTPUTF8" => "SMTPUTF8",
                    "REQUIRETLS" => "REQUIRETLS",
                    "RET" | "ENVID" | "NOTIFY" | "ORCPT" => "DSN",
                    "AUTH" => "AUTH",
                    _ => continue,
                };
                if !offered(self, ext) {
                    self.suspect(Suspect::Unadvertised(format!(
                        "{verb} parameter {key} without {ext} offered"
                    )));
                }
            }
        }
        let wants_tls = matches!(
            self.plan.mode,
            crate::scenario::client::ClientMode::TlsRequired
                | crate::scenario::client::ClientMode::AuthTls
        );
        if wants_tls && !self.tls && matches!(verb, Verb::Mail | Verb::Rcpt | Verb::Auth) {
            self.suspect(Suspect::Cleartext(verb));
        }
    }

    /// Send octets; false when the client is gone.
    async fn send(&mut self, bytes: Vec<u8>) -> bool {
        let ok = self.wire.conn.send(&bytes, self.idle).await.is_ok();
        self.steps.push(Step::Reply(bytes));
        ok
    }

    /// The reply at `at` (the first time with its fault), or `lines` instead of the
    /// honest one; false when the session ends here.
    async fn reply(&mut self, at: At, lines: Option<Vec<String>>) -> bool {
        let what = if self.used.insert(at) {
            self.plan.fault(at).cloned()
        } else {
            None
        };
        let without = match &what {
            Some(What::Without(e)) => Some(*e),
            _ => None,
        };
        let lines = lines.unwrap_or_else(|| honest(at, self.plan.mode, self.tls, without));
        if matches!(at, At::Verb(Verb::Ehlo)) {
            self.advertised.clear();
        }
        let bytes = render(&lines, what.as_ref());
        self.note_offers(&bytes, at);
        self.extra |= matches!(what, Some(What::Extra));
        match what {
            Some(What::Close) => return false,
            Some(What::CloseMid) => {
                let half = bytes[..bytes.len() / 2].to_vec();
                self.send(half).await;
                return false;
            }
            Some(What::Late(ms)) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Some(What::Drip) if bytes.len() <= 2048 => {
                let cuts: Vec<usize> = (1..bytes.len()).collect();
                let ok = self
                    .wire
                    .conn
                    .send_pieces(&bytes, &cuts, self.idle)
                    .await
                    .is_ok();
                self.steps.push(Step::Reply(bytes));
                return ok;
            }
            _ => {}
        }
        let refused = bytes.starts_with(
            ReplyCode::SERVICE_NOT_AVAILABLE
                .get()
                .to_string()
                .as_bytes(),
        );
        if !self.send(bytes).await {
            return false;
        }
        if matches!(what, Some(What::NoFinalLine)) {
            // The client waits for a final line that never comes; it gets a moment to
            // give up by itself, then the close.
            self.wire.drain(Duration::from_secs(1)).await;
            return false;
        }
        !refused
    }

    /// The extensions an EHLO reply offered, read from the octets sent (a fault may
    /// have changed them; what went out is what the client saw).
    fn note_offers(&mut self, bytes: &[u8], at: At) {
        if !matches!(at, At::Verb(Verb::Ehlo | Verb::StartTls)) {
            return;
        }
        self.advertised
            .extend(smtp_protocol::ehlo::offered_keywords(bytes));
    }

    async fn data(&mut self) -> bool {
        let at = At::Verb(Verb::Data);
        let what = (!self.used.contains(&at))
            .then(|| self.plan.fault(at).cloned())
            .flatten();
        if !self.reply(at, None).await {
            return false;
        }
        let refused = match &what {
            Some(What::Refuse(_)) => true,
            Some(What::Code(c)) => matches!(c / 100, 4 | 5),
            _ => false,
        };
        if refused && self.extra {
            // After a reply nobody asked for, the client may be one reply behind: what
            // it does now answers to smtpspec's fault, not to the refusal.
            return false;
        }
        if refused {
            // The client must not send the content (RFC 5321 §4.1.1.4: only a 354
            // asks for it); a line that is no command shows that it did.
            if let Some((line, _)) = self.line_judged(false).await {
                let verb = Verb::of_line(&line);
                self.verbs.push(verb);
                if verb.is_none() {
                    self.suspect(Suspect::DataAfterRefusal(line));
                    return false;
                }
                self.judge_command(verb, &line, false);
                return match verb {
                    Some(Verb::Quit) => {
                        self.reply(At::Verb(Verb::Quit), None).await;
                        false
                    }
                    Some(v @ (Verb::Rset | Verb::Mail | Verb::Ehlo | Verb::Helo)) => {
                        self.reply(At::Verb(v), None).await
                    }
                    _ => {
                        self.send(b"503 5.5.1 Bad sequence of commands\r\n".to_vec())
                            .await
                    }
                };
            }
            return false;
        }
        if !matches!(what, None | Some(What::Drip | What::Late(_) | What::Extra)) {
            // A malformed 354: whether the content follows is the client's guess; the
            // session ends here.
            self.wire.drain(Duration::from_millis(500)).await;
            return false;
        }
        match self.wire.read_content(self.idle).await {
            Ok(content) => {
                self.steps.push(Step::Content);
                if content.findings.bare_cr.is_some() || content.findings.bare_lf.is_some() {
                    self.suspect(Suspect::BareLineEnd("content"));
                }
                self.reply(At::EndOfData, None).await
            }
            Err(_) => false,
        }
    }

    async fn auth(&mut self, line: &[u8]) -> bool {
        let words: Vec<String> = String::from_utf8_lossy(line)
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        let prompts: &[&[u8]] = match (words.get(1).map(String::as_str), words.len()) {
            (Some("PLAIN"), 2) => &[b"334 \r\n"],
            (Some("PLAIN"), _) => &[],
            (Some("LOGIN"), 2) => &[b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n"],
            (Some("LOGIN"), _) => &[b"334 UGFzc3dvcmQ6\r\n"],
            _ => {
                return self
                    .send(b"504 5.5.4 Unrecognized authentication type\r\n".to_vec())
                    .await;
            }
        };
        for prompt in prompts {
            self.wire.conn.redact_next_send();
            if !self.send(prompt.to_vec()).await || self.line().await.is_none() {
                return false;
            }
        }
        self.reply(At::Verb(Verb::Auth), None).await
    }

    async fn starttls(&mut self) -> bool {
        let at = At::Verb(Verb::StartTls);
        if self.tls {
            return self
                .send(b"503 5.5.1 TLS already active\r\n".to_vec())
                .await;
        }
        let what = (!self.used.contains(&at))
            .then(|| self.plan.fault(at).cloned())
            .flatten();
        if !self.reply(at, None).await {
            return false;
        }
        match what {
            Some(What::TlsAlert) => {
                let _ = self.wire.conn.send(&TLS_ALERT, self.idle).await;
                self.steps.push(Step::Reply(TLS_ALERT.to_vec()));
                return false;
            }
            Some(What::Inject) => {
                // Its own oracle watches what follows; the others must not blame the
                // client for being replies ahead, which the injection made it.
                self.injected = true;
                self.extra = true;
            }
            _ => {}
        }
        // A reply whose final line says 220 asks for the handshake, however else a
        // fault bent it (long, NUL, bare LF); any other leaves the client to decide.
        let sent = match self.steps.last() {
            Some(Step::Reply(b)) => b.clone(),
            _ => Vec::new(),
        };
        let ready = ReplyCode::SERVICE_READY.get().to_string();
        let final_220 = sent
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .any(|l| l.starts_with(format!("{ready} ").as_bytes()) || l == ready.as_bytes());
        if !final_220 {
            return true;
        }
        // Lines the client pipelined after STARTTLS are plaintext: dropped, never run.
        let _ = self.wire.lines.take_remaining();
        self.steps.push(Step::Tls);
        if self
            .wire
            .conn
            .accept_tls(self.acceptor, self.idle)
            .await
            .is_err()
        {
            return false;
        }
        self.tls = true;
        self.advertised.clear();
        true
    }
}
