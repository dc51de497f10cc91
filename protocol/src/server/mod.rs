//! The server session state machine, sans-IO.
//!
//! A [`ServerSession`] is fed what the transport delivers — bytes
//! ([`handle_input`](ServerSession::handle_input)), a finished TLS handshake, a stored
//! message, a timeout, the end of the stream — and hands back [`Output`]s through
//! [`poll_output`](ServerSession::poll_output): bytes to send, a message to store, a
//! request to start TLS, a request to close. It never touches a socket or a clock: the
//! Unix time for the Received line comes in with the input. One machine serves the
//! tokio reference server, in-memory tests and the fuzzer alike.
//!
//! Durability: a message is handed out as [`Output::Deliver`] and the 250 reply is only
//! produced by [`handle_stored`](ServerSession::handle_stored) once the caller has made
//! it durable, so that "250" always means the server took responsibility (RFC 5321 §2.1,
//! §6.1). Until then the session processes nothing further.

mod auth;
mod commands;
pub mod config;
pub mod deviation;
mod message;
mod policy;
pub mod received;
mod replies;

use std::collections::VecDeque;
use std::sync::Arc;

pub use config::{
    AuthMechanism, BareLineEnds, ErrorLimits, Extensions, GreetingMode, ServerConfig, VerifyMode,
};
pub use deviation::{Deviation, Deviations};

use crate::address::{ForwardPath, ReversePath};
use crate::bdat::BdatAssembler;
use crate::data::DataDecoder;
use crate::line::{Ending, Line, LineConfig, LineDecoder};
use crate::param::Param;
use crate::reply::{EnhancedCode, Reply, ReplyCode};

/// What the session asks of its driver, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes (one or more replies).
    Send(Vec<u8>),
    /// Store this message durably, then call
    /// [`handle_stored`](ServerSession::handle_stored).
    Deliver(Box<Message>),
    /// Everything before this was written; start the TLS handshake now, then call
    /// [`handle_tls_established`](ServerSession::handle_tls_established).
    StartTls,
    /// Everything before this was written; close the connection.
    Close,
    /// Wait this long before carrying out the next output: a server that slows down
    /// for clients that make errors ([`ErrorLimits`]). The session keeps no clock; the
    /// driver does the waiting.
    Pause(std::time::Duration),
}

/// The envelope of an accepted message (RFC 5321 §2.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Server-unique identifier, also in the Received line.
    pub id: String,
    /// The EHLO/HELO name.
    pub helo: String,
    /// The client's transport address, as the driver described it.
    pub peer: String,
    /// MAIL FROM.
    pub from: ReversePath,
    /// MAIL parameters.
    pub mail_params: Vec<Param>,
    /// Accepted recipients, with their RCPT parameters.
    pub recipients: Vec<(ForwardPath, Vec<Param>)>,
    /// The transaction ran under TLS.
    pub tls: bool,
    /// The authenticated user, if any.
    pub user: Option<String>,
}

/// A message the session accepted, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who sent it to whom.
    pub envelope: Envelope,
    /// The content as received (unstuffed), with the Received line prepended.
    pub content: Vec<u8>,
}

/// What the connection is waiting for, so the driver can pick the timeout of
/// RFC 5321 §4.5.3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// The next command (§4.5.3.2.7: at least 5 minutes).
    Command,
    /// More mail data or a BDAT chunk.
    Data,
    /// The driver (storage or TLS); no timeout applies.
    Driver,
    /// Nothing: the session is closed.
    Closed,
}

/// An open mail transaction.
#[derive(Debug, Clone)]
struct Transaction {
    from: ReversePath,
    params: Vec<Param>,
    recipients: Vec<(ForwardPath, Vec<Param>)>,
    smtputf8: bool,
    binary: bool,
    /// Chunks of a BDAT transfer so far; DATA is refused once BDAT started.
    bdat: Option<BdatAssembler>,
}

/// What the client said in EHLO or HELO.
#[derive(Debug, Clone)]
struct Helo {
    name: String,
    esmtp: bool,
}

#[derive(Debug)]
enum State {
    Command,
    Data(Box<DataDecoder>),
    /// A BDAT chunk is being read into the transaction.
    Chunk,
    /// A refused BDAT chunk is being read and dropped (RFC 3030 §2: the octets follow
    /// the command whatever the reply); `refusal` is sent after it.
    SkipChunk {
        remaining: u64,
        refusal: Reply,
    },
    Auth(auth::Stage),
    AwaitingStore,
    AwaitingTls,
    /// Planted bug [`Deviation::PlantedSizeWrapHang`]: nothing is answered any more.
    Hung,
    Closed,
}

/// One SMTP server connection, without I/O.
#[derive(Debug)]
pub struct ServerSession {
    config: Arc<ServerConfig>,
    peer: String,
    connection: u64,
    tls_available: bool,
    tls: bool,
    state: State,
    lines: LineDecoder,
    out: VecDeque<Output>,
    helo: Option<Helo>,
    user: Option<String>,
    tx: Option<Transaction>,
    delivered: u64,
    /// Store results to take without a reply (`planted-double-store`'s extra copy).
    silent_stores: u8,
    now: u64,
    /// Error replies so far (for [`ErrorLimits`]); the greeting is not counted.
    errors: u32,
    /// Commands in a row that were not part of a transaction (for `nonmail_limit`).
    nonmail: u32,
    /// The greeting has been queued: replies from here on answer the client.
    greeted: bool,
    /// The last octet of the previous input (a CR may wait for its LF).
    last_octet: Option<u8>,
    /// RSETs in a row just before the current command (planted bug
    /// [`Deviation::PlantedDoubleReply`]).
    rsets: u8,
}

impl ServerSession {
    /// A new connection from `peer` (the client's address as an RFC 5321 address
    /// literal, `[192.0.2.1]`, for the Received line), number `connection` of this
    /// server (for message ids), at Unix time `now`. `tls_available` says whether the
    /// driver can run a TLS handshake (STARTTLS is only offered then). The greeting is
    /// the first output.
    pub fn new(
        config: Arc<ServerConfig>,
        peer: impl Into<String>,
        connection: u64,
        tls_available: bool,
        now: u64,
    ) -> Self {
        let lines = LineDecoder::new(LineConfig {
            // AUTH lines may be 12288 octets (RFC 4954 §4); other commands are held to 512
            // when they are dispatched.
            max_line: crate::limits::MAX_AUTH_LINE,
            accept_bare_lf: config.deviations.has(Deviation::BareLfLineEnd),
        });
        let mut s = Self {
            config,
            peer: peer.into(),
            connection,
            tls_available,
            tls: false,
            state: State::Command,
            lines,
            out: VecDeque::new(),
            helo: None,
            user: None,
            tx: None,
            delivered: 0,
            silent_stores: 0,
            now,
            errors: 0,
            nonmail: 0,
            greeted: false,
            last_octet: None,
            rsets: 0,
        };
        let host = &s.config.hostname;
        let greeting = match s.config.greeting {
            // RFC 5321 §4.3.1: the greeting's first line starts with the server's name;
            // the rest is free text, on as many lines as the server likes.
            GreetingMode::Ready if s.config.terse_replies => {
                Reply::new(ReplyCode::SERVICE_READY, host.clone())
            }
            GreetingMode::Ready if s.config.multiline_greeting => Reply::multiline(
                ReplyCode::SERVICE_READY,
                vec![
                    format!("{host} ESMTP smtpspec reference server"),
                    "a greeting on two lines".into(),
                ],
            ),
            GreetingMode::Ready => Reply::new(
                ReplyCode::SERVICE_READY,
                format!("{host} ESMTP smtpspec reference server"),
            ),
            GreetingMode::NoService => Reply::new(
                ReplyCode::TRANSACTION_FAILED,
                format!("{} no SMTP service here", s.config.hostname),
            ),
            GreetingMode::DoesNotAcceptMail => Reply::new(
                ReplyCode::DOES_NOT_ACCEPT_MAIL,
                format!("{} does not accept mail", s.config.hostname),
            ),
        };
        s.send(&greeting);
        s.greeted = true;
        s
    }

    /// Bytes from the client, received at Unix time `now`.
    pub fn handle_input(&mut self, bytes: &[u8], now: u64) {
        self.now = now;
        if matches!(self.state, State::Closed | State::Hung) {
            return;
        }
        if self.config.bare_line_ends == BareLineEnds::Close
            && matches!(self.state, State::Command | State::Auth(_))
            && !self.config.deviations.has(Deviation::BareLfLineEnd)
            && self.bare_line_end_in(bytes)
        {
            // Refused where it is seen, before any line is complete.
            return self.close_for("bare CR or LF received (RFC 5321 section 2.3.8)");
        }
        // Mail data goes straight to its decoder when no earlier input waits.
        if self.lines.is_idle() {
            let used = self.feed_body(bytes);
            self.lines.push(&bytes[used..]);
        } else {
            self.lines.push(bytes);
        }
        if self.config.deviations.has(Deviation::SegmentIsLine)
            && matches!(self.state, State::Command)
            && !bytes.ends_with(b"\n")
        {
            self.lines.push(b"\r\n");
        }
        self.process();
    }

    /// The message of the last [`Output::Deliver`] was stored (`Ok`) or could not be
    /// (`Err`, with a reason for the log).
    pub fn handle_stored(&mut self, result: Result<(), String>) {
        if !matches!(self.state, State::AwaitingStore) {
            return;
        }
        if self.silent_stores > 0 {
            // The planted extra copy: stored, and never acknowledged.
            self.silent_stores -= 1;
            return;
        }
        self.state = State::Command;
        match result {
            Ok(()) => {
                let id = self.message_id(self.delivered);
                self.reply(
                    ReplyCode::OK,
                    EnhancedCode::OK,
                    &format!("Ok: queued as {id}"),
                );
            }
            Err(_) => self.reply(
                ReplyCode::LOCAL_ERROR,
                EnhancedCode::SYSTEM_TEMP,
                "Local error in processing; message not stored",
            ),
        }
        self.process();
    }

    /// The TLS handshake requested by [`Output::StartTls`] completed. RFC 3207 §4.2: the
    /// server "MUST discard any knowledge obtained from the client", so the session
    /// starts over, waiting for EHLO.
    pub fn handle_tls_established(&mut self) {
        if !matches!(self.state, State::AwaitingTls) {
            return;
        }
        self.tls = true;
        self.helo = None;
        self.user = None;
        self.tx = None;
        self.state = State::Command;
        self.process();
    }

    /// The timer the driver chose for [`waiting`](Self::waiting) ran out.
    pub fn handle_timeout(&mut self) {
        if matches!(self.state, State::Closed) {
            return;
        }
        self.reply(
            ReplyCode::SERVICE_NOT_AVAILABLE,
            EnhancedCode::TIMEOUT,
            &format!("{} timeout, closing connection", self.config.hostname),
        );
        self.close();
    }

    /// The server is shutting down. A session waiting for a command is told so with
    /// 421 (RFC 5321 §3.8) and closed; one in the middle of a message is left to finish,
    /// and the driver asks again later. Returns true if the session closed.
    pub fn handle_shutdown(&mut self) -> bool {
        if matches!(self.state, State::Hung) {
            self.close();
            return true;
        }
        match self.waiting() {
            Waiting::Command => {
                self.reply(
                    ReplyCode::SERVICE_NOT_AVAILABLE,
                    EnhancedCode::SHUTTING_DOWN,
                    &format!("{} service shutting down", self.config.hostname),
                );
                self.close();
                true
            }
            Waiting::Closed => true,
            Waiting::Data | Waiting::Driver => false,
        }
    }

    /// The client closed its side. A transaction in progress is dropped: nothing half
    /// received is ever stored.
    pub fn handle_eof(&mut self) {
        self.tx = None;
        self.state = State::Closed;
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// What the connection waits for now.
    pub fn waiting(&self) -> Waiting {
        match self.state {
            // A hung session still reads (and drops) input, so the driver keeps its
            // command timeout running.
            State::Command | State::Auth(_) | State::Hung => Waiting::Command,
            State::Data(_) | State::Chunk | State::SkipChunk { .. } => Waiting::Data,
            State::AwaitingStore | State::AwaitingTls => Waiting::Driver,
            State::Closed => Waiting::Closed,
        }
    }

    /// True once the session is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// True once TLS is up.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Octets held for lines not yet complete or not yet processed.
    pub fn buffered(&self) -> usize {
        self.lines.buffered()
    }

    fn process(&mut self) {
        loop {
            match &self.state {
                State::Command | State::Auth(_) => {
                    let Some(line) = self.lines.next_line() else {
                        return;
                    };
                    self.on_line(line);
                }
                State::Data(_) | State::Chunk | State::SkipChunk { .. } => {
                    if self.lines.is_idle() {
                        return;
                    }
                    let pending = self.lines.take_remaining();
                    let used = self.feed_body(&pending);
                    self.lines.push(&pending[used..]);
                    if self.in_body() {
                        // The decoder took everything and wants more.
                        return;
                    }
                }
                State::AwaitingStore | State::AwaitingTls | State::Hung | State::Closed => {
                    return;
                }
            }
        }
    }

    /// Feed mail data or chunk octets; returns how many were taken. Finishes the
    /// message when its end arrives.
    fn feed_body(&mut self, bytes: &[u8]) -> usize {
        match &mut self.state {
            State::Data(decoder) => {
                let used = decoder.feed(bytes);
                let f = decoder.findings();
                if self.config.bare_line_ends == BareLineEnds::Close
                    && (f.bare_lf.is_some() || f.bare_cr.is_some())
                    && !self.config.deviations.has(Deviation::DataEndLfDotLf)
                {
                    // Refused where it is seen; nothing of this message is kept.
                    self.close_for("bare CR or LF in the message (RFC 5321 section 2.3.8)");
                    return bytes.len();
                }
                if decoder.is_done() {
                    let State::Data(decoder) = std::mem::replace(&mut self.state, State::Command)
                    else {
                        return used;
                    };
                    self.finish_data(*decoder);
                }
                used
            }
            State::Chunk => {
                let Some(asm) = self.tx.as_mut().and_then(|t| t.bdat.as_mut()) else {
                    self.state = State::Command;
                    return 0;
                };
                let used = asm.feed(bytes);
                if asm.chunk_complete() {
                    self.state = State::Command;
                    self.finish_chunk();
                }
                used
            }
            State::SkipChunk { remaining, .. } => {
                let used = usize::try_from(*remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
                *remaining -= used as u64;
                if *remaining == 0
                    && let State::SkipChunk { refusal, .. } =
                        std::mem::replace(&mut self.state, State::Command)
                {
                    self.send(&refusal);
                }
                used
            }
            _ => 0,
        }
    }

    fn in_body(&self) -> bool {
        matches!(
            self.state,
            State::Data(_) | State::Chunk | State::SkipChunk { .. }
        )
    }

    fn on_line(&mut self, line: Line) {
        if let State::Auth(stage) = &self.state {
            let stage = stage.clone();
            self.state = State::Command;
            self.auth_response(stage, &line);
            return;
        }
        let deviations = self.config.deviations;
        let too_long = line.wire_len() > self.line_limit(&line.bytes);
        // The deviation models a fixed 512-octet buffer that ignores the extensions'
        // allowances.
        let fixed_buffer = deviations.has(Deviation::TruncateLongLines)
            && line.wire_len() > crate::limits::MAX_COMMAND_LINE;
        let mut bytes = line.bytes;
        if too_long || line.overflow.is_some() || fixed_buffer {
            if deviations.has(Deviation::TruncateLongLines) {
                bytes.truncate(crate::limits::MAX_COMMAND_LINE - 2);
            } else {
                return self.reply(
                    ReplyCode::SYNTAX_ERROR,
                    EnhancedCode::SYNTAX_ERROR,
                    "Line too long (RFC 5321 §4.5.3.1.4)",
                );
            }
        }
        if deviations.has(Deviation::PlantedLongParamClose) && deviation::long_param(&bytes) {
            // Deviation (planted): a fixed parameter buffer that gives up, silently.
            return self.close();
        }
        if deviations.has(Deviation::PlantedSizeWrapHang) && deviation::size_wraps(&bytes) {
            // Deviation (planted): a size kept in 32 bits wraps to 0 and the session
            // waits for ever on a buffer of that size.
            self.state = State::Hung;
            return;
        }
        let f = line.findings;
        let lf_is_terminator = line.ending == Ending::BareLf && f.bare_lf == Some(bytes.len());
        if self.config.bare_line_ends == BareLineEnds::Close
            && (f.bare_cr.is_some() || line.ending == Ending::BareLf || f.bare_lf.is_some())
            && !self.config.deviations.has(Deviation::BareLfLineEnd)
        {
            return self.close_for("bare CR or LF received (RFC 5321 section 2.3.8)");
        }
        if f.bare_cr.is_some() || f.nul.is_some() || (f.bare_lf.is_some() && !lf_is_terminator) {
            return self.reply(
                ReplyCode::SYNTAX_ERROR,
                EnhancedCode::SYNTAX_ERROR,
                "Bare CR, bare LF or NUL in command (RFC 5321 §2.3.8)",
            );
        }
        if deviations.has(Deviation::PlantedVrfy8bitPanic) && deviation::is_8bit_verify(&bytes) {
            // Deviation (planted): an unchecked conversion of the argument.
            panic!("planted-vrfy-8bit-panic: an argument octet over 127");
        }
        if deviations.has(Deviation::PlantedNoopPoison) && deviation::is_noop_overflow(&bytes) {
            // Deviation (planted): shared state corrupted for every later session.
            deviation::POISONED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if deviations.has(Deviation::PlantedEtrnAbort) && deviation::is_long_etrn(&bytes) {
            // Deviation (planted): the stack protector's end of the process.
            std::process::abort();
        }
        if deviations.has(Deviation::PlantedRsetLeak) && deviation::is_rset(&bytes) {
            // Deviation (planted): memory no session end frees.
            std::mem::forget(vec![0x5a_u8; 16 * 1024]);
        }
        let doubled = deviations.has(Deviation::PlantedDoubleReply) && self.rsets >= 2;
        self.rsets = if deviation::is_rset(&bytes) {
            self.rsets.saturating_add(1)
        } else {
            0
        };
        let mark = self.out_mark();
        self.command_line(&bytes);
        if doubled {
            // Deviation (planted): the reply goes out twice.
            self.repeat_since(mark);
        }
    }

    /// The longest line (with CRLF) this command may have: 512 octets (RFC 5321
    /// §4.5.3.1.4) plus what each advertised extension adds to MAIL and RCPT, and 12288
    /// for AUTH (RFC 4954 §4). A correct client is never refused for length.
    fn line_limit(&self, line: &[u8]) -> usize {
        use crate::limits::*;
        let verb = &line[..line.len().min(5)];
        let ext = self.config.extensions;
        let on = |flag: bool, n: usize| if flag { n } else { 0 };
        if verb.eq_ignore_ascii_case(b"AUTH ") {
            MAX_AUTH_LINE
        } else if verb.eq_ignore_ascii_case(b"MAIL ") {
            MAX_COMMAND_LINE
                + MAIL_SIZE_ALLOWANCE
                + on(ext.eight_bit_mime || ext.binary_mime, MAIL_BODY_ALLOWANCE)
                + on(ext.dsn, MAIL_DSN_ALLOWANCE)
                + on(!self.config.users.is_empty(), MAIL_AUTH_ALLOWANCE)
                + on(ext.smtputf8, MAIL_SMTPUTF8_ALLOWANCE)
        } else if verb.eq_ignore_ascii_case(b"RCPT ") {
            MAX_COMMAND_LINE + on(ext.dsn, RCPT_DSN_ALLOWANCE)
        } else {
            MAX_COMMAND_LINE
        }
    }

    /// A message id: an RFC 5321 §4.4 `Atom` (no dots), unique per server run.
    fn message_id(&self, n: u64) -> String {
        format!("{:x}-{:x}", self.connection, n)
    }

    fn close(&mut self) {
        self.out.push_back(Output::Close);
        self.state = State::Closed;
        self.tx = None;
    }
}

#[cfg(test)]
mod tests;
