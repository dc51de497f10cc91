//! One fuzz session on the wire: connect, read the greeting, send each step and read
//! the replies it asks for, and record what the target did as a [`Trace`]. Replies
//! are read by the wire's reply parser, so a reply that breaks RFC 5321 §4.2 is seen
//! as such and never parsed twice.

use super::hash::{Echo, shape_echoing};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smtp_protocol::reply::ParsedReply;
use smtp_protocol::{Command, ReplyCode, Verb};

use super::expect::Model;
use super::input::{Input, Step};
use super::throttle::Refusals;
use crate::wire::{Conn, ConnError, Event, TlsSettings};

pub(super) use super::expect::{CLOSING, READY, SHUTTING_DOWN};

/// Deadlines of a session.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connecting and the greeting.
    pub connect: Duration,
    /// How long the replies a step asked for may take, from the last octet sent.
    pub reply: Duration,
    /// The target advertises CHUNKING (RFC 3030). Without it a BDAT is refused as an
    /// unknown command and the octets of its "chunk" are read as commands (RFC 3030
    /// §2 binds only servers that advertise it), so an input with BDAT has two
    /// readings and no reply count is owed.
    pub chunking: bool,
    /// Read every reply to the close, whatever the octets' readings (differential
    /// mode): after the steps the sync suffix goes out anyway and what comes back is
    /// [`Sync::Tail`], so targets that read the input two ways can be compared.
    pub whole: bool,
    /// After a TLS handshake that followed command lines pipelined after STARTTLS,
    /// how long to listen before speaking: a reply then answers a line injected
    /// before the handshake ([`Trace::injected`]). Zero in a campaign's sessions
    /// (a wait there costs every such session, a tenth of all); a server that runs
    /// the lines shows a reply too many there, and is listened to when confirmed
    /// ([`Limits::listening`]).
    pub listen: Duration,
    /// How each session opens: TLS from the first octet, a PROXY header. A port
    /// that speaks the PROXY protocol closes without a word on a connection that
    /// lacks the header (it cannot tell the client), so without it a campaign
    /// would fuzz nothing; the profile's setting applies to every session.
    pub opening: Opening,
}

/// What a session sends before the greeting, from the target's profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opening {
    /// TLS from the first octet (RFC 8314) instead of plain text.
    pub implicit_tls: bool,
    /// The PROXY header version the port requires.
    pub proxy: Option<smtp_protocol::proxy::Version>,
}

impl Opening {
    /// The opening of a target reached with `tls`.
    pub fn of(tls: &TlsSettings) -> Self {
        Self {
            implicit_tls: tls.implicit,
            proxy: tls.proxy,
        }
    }

    fn settings(self) -> TlsSettings {
        TlsSettings {
            implicit: self.implicit_tls,
            proxy: self.proxy,
            ..TlsSettings::default()
        }
    }
}

impl Limits {
    /// How long the sync suffix may wait for its first reply before the target is
    /// called hung: five reply deadlines, and at least a second, so a server that
    /// slows down after errors (Postfix's `smtpd_error_sleep_time`) is not taken
    /// for one that stopped.
    pub fn hang(&self) -> Duration {
        (self.reply * 5).max(Duration::from_secs(1))
    }

    /// These deadlines, listening 100 ms (at most a reply deadline) after a
    /// handshake that followed pipelined lines: a server that kept them has them
    /// buffered when the handshake ends and answers at once.
    pub fn listening(&self) -> Self {
        Self {
            listen: self.reply.min(LISTEN),
            ..*self
        }
    }

    /// Ten times the reply deadline (a hang then waits ten seconds at least), for
    /// confirming and minimising a hang: a server that sleeps a second per error
    /// after its soft error limit (Postfix's default) answers within it, a hung one
    /// never does.
    pub fn patient(&self) -> Self {
        Self {
            reply: (self.reply * 10).max(Duration::from_secs(2)),
            ..*self
        }
    }

    /// Half of [`Limits::patient`] (a hang then waits 7.5 s at least), for minimising
    /// a hang already confirmed patiently: every probe that still hangs costs the
    /// whole wait, and the campaign waits for its minimisation (a planted hang of
    /// four steps took 60 s of probes at ten times). A server that sleeps a second
    /// per error still answers within it, and a smaller input makes fewer errors.
    pub fn probing(&self) -> Self {
        Self {
            reply: (self.reply * 5).max(Duration::from_millis(1500)),
            ..*self
        }
    }
}

/// How long [`Limits::listening`] listens.
const LISTEN: Duration = Duration::from_millis(100);

/// The sync suffix: RSET then QUIT in one write (RFC 2920 §3.1 lets RSET lead a
/// pipelined group). A conformant server sends exactly two replies, 250 and 221
/// (RFC 5321 §4.1.1.5, §4.1.1.10), then closes.
pub fn sync() -> &'static [u8] {
    static SYNC: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SYNC.get_or_init(|| {
        let mut b = Command::Rset.to_bytes();
        b.extend(Command::Quit.to_bytes());
        b
    })
}

/// What the sync suffix showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sync {
    /// Not sent: the session ended before its steps did, or its octets can be read
    /// two ways, so no count is owed.
    NotSent,
    /// The codes of the replies read after it, up to the close.
    Replies(Vec<u16>),
    /// Nothing came within [`Limits::hang`] and the connection stayed open.
    Hung,
    /// Sent with [`Limits::whole`] after octets with two readings: the codes read
    /// after it up to the close or a reply deadline. No count is owed, so no oracle
    /// reads it; the differential comparison does.
    Tail(Vec<u16>),
}

/// One reply, as the signature map and the oracles see it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The step it came after (`None`: the greeting).
    pub step: Option<usize>,
    /// Its code.
    pub code: u16,
    /// Its enhanced status code, as `c.s.d`.
    pub enhanced: Option<(u8, u16, u16)>,
    /// Its text with digits and host-like words dropped (ids and names vary).
    pub shape: u64,
    /// Milliseconds from the last octet sent to the reply.
    pub latency_ms: u64,
    /// Lines it had.
    pub lines: usize,
    /// The command line it answers, as the client's model of the session pairs them
    /// (CRLF dropped; `None`: the greeting, an end of content, a reply not foreseen).
    pub line: Option<Box<[u8]>>,
}

#[cfg(test)]
impl Answer {
    /// A one-line reply with `code` after `step`, for unit tests of the judges.
    pub(crate) fn after(step: usize, code: u16) -> Self {
        Self {
            step: Some(step),
            code,
            enhanced: None,
            shape: 0,
            latency_ms: 1,
            lines: 1,
            line: None,
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Every step sent; the target still connected.
    Finished,
    /// No connection: refused, or not accepted in time.
    Unreachable(String),
    /// The greeting was not 220: the target does not serve now (a 421 or 554).
    NotServing(u16),
    /// The target closed or reset the connection at `step` (`None`: before the
    /// greeting).
    Closed {
        /// The step after which it closed.
        step: Option<usize>,
        /// Replies that step asked for and did not get.
        unanswered: usize,
        /// The first command left without a reply.
        verb: Option<String>,
        /// A reset, not an orderly close.
        reset: bool,
    },
    /// A reply RFC 5321 §4.2 does not allow, at `step`.
    Malformed {
        /// The step after which it came.
        step: Option<usize>,
        /// The command it answered.
        verb: Option<String>,
        /// What was wrong.
        why: String,
    },
    /// The TLS handshake after a 220 to STARTTLS failed.
    Tls(usize, String),
}

/// What the target did with one input.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Every reply, greeting first.
    pub answers: Vec<Answer>,
    /// Replies read after each step.
    pub answered: Vec<usize>,
    /// Steps that asked for replies and got fewer in time (the target waits for more,
    /// or is slow).
    pub short: usize,
    /// How it ended.
    pub end: End,
    /// Both directions.
    pub transcript: Vec<Event>,
    /// The whole session.
    pub elapsed: Duration,
    /// A TLS handshake after a 220 to STARTTLS succeeded.
    pub tls_up: bool,
    /// The step whose 220 to STARTTLS started the TLS handshake.
    pub tls_at: Option<usize>,
    /// The first step that got fewer replies than it asked for in time.
    pub first_short: Option<usize>,
    /// What the sync suffix showed.
    pub sync: Sync,
    /// Messages acknowledged by a 2xx to a `BDAT … LAST` chunk.
    pub chunked_acks: usize,
    /// Codes of the replies that came over TLS, before the client sent anything, to
    /// command lines pipelined in the clear after STARTTLS: commands injected
    /// before the handshake and run after it (CVE-2011-0411 class). Kept out of
    /// `answers`, which hold what the steps asked for.
    pub injected: Vec<u16>,
    /// Command lines pipelined after the STARTTLS whose handshake ran: each one the
    /// server must discard (RFC 3207 §4.2).
    pub pipelined_at_tls: usize,
    /// The replies that refused service, worded as read (why a session was
    /// throttled or closed).
    pub refusals: Refusals,
}

impl Trace {
    /// A session that never reached the target, and why.
    pub fn unreachable(why: impl Into<String>) -> Self {
        Self::starting(0, End::Unreachable(why.into()))
    }

    /// Nothing observed yet, for an input of `steps` steps.
    fn starting(steps: usize, end: End) -> Self {
        Self {
            answers: Vec::new(),
            answered: vec![0; steps],
            short: 0,
            end,
            transcript: Vec::new(),
            elapsed: Duration::ZERO,
            tls_up: false,
            tls_at: None,
            first_short: None,
            sync: Sync::NotSent,
            chunked_acks: 0,
            injected: Vec::new(),
            pipelined_at_tls: 0,
            refusals: Refusals::default(),
        }
    }

    /// Why a throttled session was refused: the greeting when it was no 220, else the
    /// first 421, or why the target was not reached.
    pub fn throttled_by(&self) -> String {
        match &self.end {
            End::Unreachable(why) => format!("not reached: {why}"),
            _ => self.refusals.throttled(),
        }
    }

    /// The code of the last reply, if any.
    pub fn last_code(&self) -> Option<u16> {
        self.answers.last().map(|a| a.code)
    }

    /// Every code after the greeting, the sync suffix's included.
    pub fn codes(&self) -> impl Iterator<Item = u16> + '_ {
        let tail: &[u16] = match &self.sync {
            Sync::Replies(c) | Sync::Tail(c) => c,
            _ => &[],
        };
        self.answers
            .iter()
            .filter(|a| a.step.is_some())
            .map(|a| a.code)
            .chain(tail.iter().copied())
    }

    /// Messages the target acknowledged: a 2xx right after a 354 (whatever the
    /// octets' reading, the reply after a 354 is the end of data's), and a 2xx to a
    /// LAST chunk.
    pub fn messages(&self) -> usize {
        let codes: Vec<u16> = self.codes().collect();
        let data = codes
            .windows(2)
            .filter(|w| {
                w[0] == super::expect::START_DATA
                    && ReplyCode::new(w[1]).is_some_and(ReplyCode::is_positive)
            })
            .count();
        data + self.chunked_acks
    }

    /// Messages a store may hold for what the target acknowledged: each acknowledged
    /// message once per recipient it took (a server delivers one copy per accepted
    /// RCPT, RFC 5321 §3.3, and may keep a repeated one twice, e.g. with different
    /// DSN parameters). The recipients counted are the most any transaction of the
    /// session had accepted, an upper bound: the store's oracle looks for more
    /// messages than acknowledged and must not take a second recipient for a
    /// smuggled message.
    pub fn deliveries(&self) -> usize {
        let (mut now, mut most) = (0usize, 0usize);
        for a in &self.answers {
            let verb = a
                .line
                .as_deref()
                .and_then(|l| Verb::from_bytes(super::input::line_verb(l).as_bytes()));
            match verb {
                Some(Verb::Mail | Verb::Rset | Verb::Ehlo | Verb::Helo) => now = 0,
                Some(Verb::Rcpt) if ReplyCode::new(a.code).is_some_and(ReplyCode::is_positive) => {
                    now += 1;
                    most = most.max(now);
                }
                _ => {}
            }
        }
        self.messages() * most.max(1)
    }
}

/// Run `input` against `addr`.
pub async fn run(addr: SocketAddr, input: &Input, limits: Limits) -> Trace {
    let start = Instant::now();
    let mut trace = Trace::starting(input.steps.len(), End::Finished);
    let mut conn = match Conn::open(addr, &limits.opening.settings(), limits.connect).await {
        Ok(mut c) => {
            c.resume_tls_sessions();
            c
        }
        Err(e) => {
            trace.end = End::Unreachable(e.to_string());
            trace.elapsed = start.elapsed();
            return trace;
        }
    };
    trace.end = session(&mut conn, input, limits, &mut trace).await;
    trace.transcript = conn.into_transcript();
    trace.elapsed = start.elapsed();
    trace
}

async fn session(conn: &mut Conn, input: &Input, limits: Limits, trace: &mut Trace) -> End {
    let sent = Instant::now();
    match conn.reply(limits.connect).await {
        Ok(r) => {
            let code = r.reply.code.get();
            trace.refusals.heard(&r.reply, true);
            trace.answers.push(answer(None, &r, sent, &Echo::default()));
            if code != READY {
                return End::NotServing(code);
            }
        }
        Err(ConnError::Timeout(d)) => {
            return End::Unreachable(format!("no greeting within {} ms", d.as_millis()));
        }
        Err(e) => return ended(None, 1, None, e),
    }
    let mut model = Model::new(limits.chunking);
    let last = input.steps.len().checked_sub(1);
    // The sync suffix rides on the last write when RFC 2920 lets it: one round trip
    // fewer.
    let mut synced = false;
    let mut echo = Echo::default();
    for (n, step) in input.steps.iter().enumerate() {
        if let Step::Pause(ms) = step {
            tokio::time::sleep(Duration::from_millis(u64::from(*ms))).await;
            continue;
        }
        let writes = step.writes();
        echo.add(&writes);
        let count = writes.len();
        for (w, mut write) in writes.into_iter().enumerate() {
            model.asked(&write);
            if last == Some(n) && w + 1 == count && model.settled() && model.may_follow() {
                write.extend_from_slice(sync());
                synced = true;
            }
            if let Err(e) = conn.send(&write, limits.reply).await {
                // What the target said before it closed is still in the socket's
                // queue: read it, so a 421 before the close is seen as one.
                let unanswered = model.outstanding().max(1);
                let verb = model.first_unanswered().map(str::to_owned);
                drain(conn, trace, n, limits, &echo).await;
                return ended(Some(n), unanswered, verb, e);
            }
        }
        let sent = Instant::now();
        while model.outstanding() > 0 {
            match conn.reply(limits.reply).await {
                Ok(r) => {
                    trace.answered[n] += 1;
                    trace.refusals.heard(&r.reply, false);
                    let line = model.take_line(r.reply.code.get());
                    let tls_now = model.answered(r.reply.code.get());
                    trace.chunked_acks += std::mem::take(&mut model.chunked_acks);
                    trace.answers.push(Answer {
                        line,
                        ..answer(Some(n), &r, sent, &echo)
                    });
                    if tls_now {
                        let pipelined = model.outstanding();
                        if let Err(e) = start_tls(conn, trace, n, limits, pipelined).await {
                            return e;
                        }
                        model = Model::new(limits.chunking);
                    }
                }
                Err(ConnError::Timeout(_)) => {
                    trace.short += 1;
                    trace.first_short.get_or_insert(n);
                    model.give_up();
                }
                Err(e) => {
                    let verb = model.first_unanswered().map(str::to_owned);
                    return ended(Some(n), model.outstanding(), verb, e);
                }
            }
        }
    }
    if synced {
        trace.sync = read_sync(conn, limits, limits.hang(), &mut trace.refusals).await;
    } else if model.settled() {
        trace.sync = match conn.send(sync(), limits.reply).await {
            Ok(()) => read_sync(conn, limits, limits.hang(), &mut trace.refusals).await,
            Err(_) => Sync::Replies(Vec::new()),
        };
    } else if limits.whole {
        // A target still reading message content takes the suffix for more of it:
        // one reply deadline, not a hang's.
        trace.sync = match conn.send(sync(), limits.reply).await {
            Ok(()) => match read_sync(conn, limits, limits.reply, &mut trace.refusals).await {
                Sync::Replies(codes) => Sync::Tail(codes),
                _ => Sync::Tail(Vec::new()),
            },
            Err(_) => Sync::Tail(Vec::new()),
        };
    }
    End::Finished
}

/// Read every reply to [`sync`] up to the close, the first within `first`.
async fn read_sync(
    conn: &mut Conn,
    limits: Limits,
    first: Duration,
    refusals: &mut Refusals,
) -> Sync {
    let mut codes = Vec::new();
    let mut wait = first;
    while codes.len() < 16 {
        match conn.reply(wait).await {
            Ok(r) => {
                let code = r.reply.code.get();
                refusals.heard(&r.reply, false);
                codes.push(code);
                // After the 221 the close is due at once; a reply still coming then
                // comes with it.
                wait = if code == CLOSING {
                    limits.reply.min(Duration::from_millis(50))
                } else {
                    limits.reply
                };
            }
            Err(ConnError::Timeout(_)) if codes.is_empty() => return Sync::Hung,
            Err(_) => break,
        }
    }
    Sync::Replies(codes)
}

/// The server now waits for a TLS handshake (RFC 3207 §4): run it. Whatever was
/// pipelined after STARTTLS (`pipelined` command lines) is the server's to discard,
/// not to answer: a reply to it over TLS is recorded as injected.
async fn start_tls(
    conn: &mut Conn,
    trace: &mut Trace,
    n: usize,
    limits: Limits,
    pipelined: usize,
) -> Result<(), End> {
    conn.upgrade(limits.reply)
        .await
        .map_err(|e| End::Tls(n, e.to_string()))?;
    trace.tls_up = true;
    trace.tls_at = Some(n);
    trace.pipelined_at_tls = pipelined;
    if pipelined > 0 {
        trace.injected = unprompted(conn, limits.listen).await;
    }
    Ok(())
}

/// Replies that come over a fresh TLS session before the client said anything. A
/// server that kept the lines pipelined after STARTTLS has them buffered when the
/// handshake ends and answers at once, so a short wait shows it; a conformant one
/// (RFC 3207 §4.2: the server "MUST discard any knowledge obtained from the
/// client") stays silent until the client speaks. Nothing when `limit` is zero.
async fn unprompted(conn: &mut Conn, limit: Duration) -> Vec<u16> {
    if limit.is_zero() {
        return Vec::new();
    }
    let mut codes = Vec::new();
    while codes.len() < 16 {
        match conn.reply(limit).await {
            Ok(r) => codes.push(r.reply.code.get()),
            Err(_) => break,
        }
    }
    codes
}

/// Read the replies left after a failed write, for a short while.
async fn drain(conn: &mut Conn, trace: &mut Trace, n: usize, limits: Limits, echo: &Echo) {
    let sent = Instant::now();
    let limit = limits.reply.min(Duration::from_millis(100));
    while let Ok(r) = conn.reply(limit).await {
        trace.answered[n] += 1;
        trace.refusals.heard(&r.reply, false);
        trace.answers.push(answer(Some(n), &r, sent, echo));
    }
}

fn ended(step: Option<usize>, unanswered: usize, verb: Option<String>, e: ConnError) -> End {
    match e {
        ConnError::Reply(r) => End::Malformed {
            step,
            verb,
            why: r.to_string(),
        },
        ConnError::Io(e) if not_a_record(&e) => End::Malformed {
            step,
            verb,
            why: format!("octets that are no TLS record inside the TLS session ({e})"),
        },
        ConnError::Io(e) => End::Closed {
            step,
            unanswered,
            verb,
            reset: e.kind() == std::io::ErrorKind::ConnectionReset,
        },
        ConnError::Timeout(_) | ConnError::Stalled(_) | ConnError::Closed => End::Closed {
            step,
            unanswered,
            verb,
            reset: false,
        },
    }
}

/// The TLS layer read octets that are no record of the session: the target wrote in
/// the clear inside TLS (Exim 4.96 writes "500 Too many unrecognized commands" so
/// before it drops a TLS session). Not a silent close: a reply came, unreadable for
/// any client (RFC 3207 §4: after the handshake, everything is inside TLS).
fn not_a_record(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidMessage(_)))
}

/// A reply as the fuzzer keeps it; its wording's shape leaves out what it echoes of
/// the step it answers (`echo`).
fn answer(step: Option<usize>, r: &ParsedReply, sent: Instant, echo: &Echo) -> Answer {
    Answer {
        step,
        code: r.reply.code.get(),
        enhanced: r.reply.enhanced.map(|e| (e.class, e.subject, e.detail)),
        shape: shape_echoing(&r.reply.text(), echo),
        latency_ms: sent.elapsed().as_millis() as u64,
        lines: r.reply.lines.len(),
        line: None,
    }
}

#[cfg(test)]
mod tests {
    use super::{Answer, End, Trace};

    /// A reply with `code` to `line` (`None`: the end of content's).
    fn said(code: u16, line: Option<&str>) -> Answer {
        Answer {
            line: line.map(|l| l.as_bytes().into()),
            ..Answer::after(0, code)
        }
    }

    #[test]
    fn a_message_counts_once_per_recipient_accepted() {
        let mut t = Trace::starting(1, End::Finished);
        t.answers = vec![
            said(250, Some("EHLO a")),
            said(250, Some("MAIL FROM:<>")),
            said(250, Some("RCPT TO:<root>")),
            said(550, Some("RCPT TO:<nobody@elsewhere>")),
            said(250, Some("rcpt to:<root> NOTIFY=NEVER")),
            said(354, Some("DATA")),
            said(250, None),
        ];
        assert_eq!((t.messages(), t.deliveries()), (1, 2));
        // A new transaction starts from no recipient; the most any had is the bound.
        t.answers.extend([
            said(250, Some("MAIL FROM:<>")),
            said(250, Some("RCPT TO:<root>")),
            said(354, Some("DATA")),
            said(250, None),
        ]);
        assert_eq!((t.messages(), t.deliveries()), (2, 4));
        // No message acknowledged: nothing to deliver, whatever RCPT got.
        t.answers.truncate(5);
        assert_eq!(t.deliveries(), 0);
    }
}
