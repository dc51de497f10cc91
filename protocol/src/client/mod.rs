//! The client session state machine, sans-IO: one connection that tries to hand one
//! message to one server.
//!
//! A [`ClientSession`] is fed what the transport delivers — bytes
//! ([`handle_input`](ClientSession::handle_input)), a finished or failed TLS handshake,
//! a timeout, the end of the stream — and hands back [`Output`]s: bytes to send, a
//! request to start TLS, a request to close. It never touches a socket or a clock; the
//! driver asks [`waiting`](ClientSession::waiting) which of the timeouts of RFC 5321
//! §4.5.3.2 applies ([`Timeouts`]).
//!
//! Decisions go by reply class, per recipient: a 2xx moves on, a 4xx leaves the
//! recipient [`Deferred`](Disposition::Deferred) (try the next host, or later), a 5xx
//! [`Bounced`](Disposition::Bounced). What the session saw that a strict client should
//! notice — bytes injected behind the 220 to STARTTLS, malformed replies — is kept as
//! [`ClientFinding`]s.

mod flow;
pub mod timeouts;

use std::collections::VecDeque;

pub use timeouts::Timeouts;

use crate::address::{ForwardPath, Host, ReversePath};
use crate::ehlo::EhloResponse;
use crate::reply::{ParsedReply, Reply, ReplyError, ReplyFinding, ReplyParser};

/// When the client uses STARTTLS (RFC 3207).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// Never, even when offered.
    Never,
    /// When the server offers it; otherwise go on in plaintext (the default of MTAs).
    #[default]
    Opportunistic,
    /// Only over TLS: without STARTTLS, or when it fails, the client gives up on the host
    /// before any MAIL or AUTH (RFC 3207 §4.1, RFC 8314 §4.1 for submission).
    Required,
}

/// A user name and password for AUTH PLAIN or LOGIN (RFC 4954).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authentication identity.
    pub user: String,
    /// The password.
    pub password: String,
}

/// How the client behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The name sent in EHLO and HELO (RFC 5321 §4.1.1.1: the client's FQDN or an
    /// address literal).
    pub helo: Host,
    /// When to use STARTTLS.
    pub tls: TlsPolicy,
    /// Log in when the server offers AUTH with PLAIN or LOGIN.
    pub auth: Option<Credentials>,
    /// Allow AUTH without TLS. Off by default, so that a stripped STARTTLS never turns
    /// into a password sent in the clear.
    pub auth_without_tls: bool,
    /// Batch MAIL, RCPT and DATA in one write when the server advertises PIPELINING
    /// (RFC 2920 §3.1); never otherwise.
    pub pipelining: bool,
    /// Send the content with `BDAT n LAST` when the server advertises CHUNKING (RFC 3030).
    pub chunking: bool,
    /// Open with HELO, never EHLO (RFC 5321 §3.2: a client that needs no extension
    /// "MAY use HELO instead of EHLO"). No extension is then used, TLS included.
    pub helo_only: bool,
    /// Close right after sending QUIT, without reading the 221 (RFC 5321 §4.1.1.10 asks
    /// the client to wait with a SHOULD).
    pub quit_without_reply: bool,
    /// Log in only when MAIL is refused with 530 "Authentication required" (RFC 4954
    /// §6), then try the transaction again.
    pub auth_when_required: bool,
    /// Send the content's line ends as they are, bare CR and bare LF included (only
    /// lines after a CRLF are dot-stuffed). RFC 5321 §2.3.8 forbids it: this is what a
    /// relay that passes smuggling sequences on does, kept so that the relay cases can
    /// be shown to catch it (the sender deviation `sender-bare-line-ends`).
    pub raw_line_ends: bool,
    /// Drop NUL octets from the content after dot-stuffing it, so that
    /// `<CRLF><NUL>.<CRLF>` leaves as an end of data. No RFC allows it: it models a
    /// relay that cleans content too late, kept so that the relay cases can be shown to
    /// catch it (the sender deviation `sender-strip-nul-after-stuffing`).
    pub strip_nul_after_stuffing: bool,
    /// The message is flagged REQUIRETLS (RFC 8689): TLS is required, the server must
    /// offer REQUIRETLS once TLS is up, and MAIL carries the parameter; a server that
    /// does not offer it gets nothing.
    pub requiretls: bool,
}

/// The EHLO keyword and MAIL parameter of RFC 8689.
pub const REQUIRETLS: &str = "REQUIRETLS";

impl ClientConfig {
    /// A client named `helo` with the defaults of an MTA: opportunistic TLS, pipelining
    /// when offered, DATA rather than BDAT, no AUTH.
    pub fn new(helo: Host) -> Self {
        Self {
            helo,
            tls: TlsPolicy::Opportunistic,
            auth: None,
            auth_without_tls: false,
            pipelining: true,
            chunking: false,
            helo_only: false,
            quit_without_reply: false,
            auth_when_required: false,
            raw_line_ends: false,
            strip_nul_after_stuffing: false,
            requiretls: false,
        }
    }
}

/// The message to hand over: the envelope and the content, with any line ends (they are
/// made CRLF before sending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// MAIL FROM.
    pub from: ReversePath,
    /// RCPT TO, in order.
    pub to: Vec<ForwardPath>,
    /// Header and body.
    pub content: Vec<u8>,
}

/// The step of the session a reply, a failure or a timeout belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Waiting for the 220 greeting.
    Greeting,
    /// EHLO (also the second EHLO after STARTTLS).
    Ehlo,
    /// HELO, after EHLO was refused.
    Helo,
    /// The STARTTLS command.
    StartTls,
    /// The TLS handshake, done by the driver.
    Handshake,
    /// The AUTH exchange.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// The DATA command, up to 354.
    Data,
    /// The content, up to the reply to the final dot or to BDAT LAST.
    Content,
    /// QUIT.
    Quit,
}

impl Stage {
    /// A lower-case name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Greeting => "greeting",
            Self::Ehlo => "ehlo",
            Self::Helo => "helo",
            Self::StartTls => "starttls",
            Self::Handshake => "handshake",
            Self::Auth => "auth",
            Self::Mail => "mail",
            Self::Rcpt => "rcpt",
            Self::Data => "data",
            Self::Content => "content",
            Self::Quit => "quit",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the session asks of its driver, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Everything before this was written; start the TLS handshake, then call
    /// [`handle_tls_established`](ClientSession::handle_tls_established) or
    /// [`handle_tls_failed`](ClientSession::handle_tls_failed).
    StartTls,
    /// Everything before this was written; close the connection.
    Close,
}

/// Where one recipient stands once the session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// The server took the message for this recipient (2xx to the end of data).
    Delivered,
    /// Not delivered, for a reason that may pass: a 4xx, a dropped connection, a
    /// timeout, a refused TLS. Try another host or later (RFC 5321 §4.5.4.1).
    Deferred,
    /// Refused for good with a 5xx: do not retry (RFC 5321 §4.2.1).
    Bounced,
}

impl Disposition {
    /// A lower-case name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Deferred => "deferred",
            Self::Bounced => "bounced",
        }
    }
}

/// The fate of one recipient in this session, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    /// The recipient.
    pub to: ForwardPath,
    /// Delivered, deferred or bounced.
    pub disposition: Disposition,
    /// Where it was decided.
    pub stage: Stage,
    /// The reply that decided it, if a reply did.
    pub reply: Option<Reply>,
    /// A sentence for people.
    pub reason: String,
}

/// Something a strict client notices about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFinding {
    /// Bytes arrived behind the 220 to STARTTLS, before the handshake; they were
    /// discarded, as RFC 3207 §4.2 requires (the STARTTLS response injection of
    /// Poddebniak et al., 2021).
    InjectedAfterStartTls {
        /// How many octets were dropped.
        octets: usize,
    },
    /// A reply that was understood but not well-formed.
    Reply {
        /// Where.
        stage: Stage,
        /// What.
        findings: Vec<ReplyFinding>,
    },
    /// A reply that could not be understood; the session ended there.
    Malformed {
        /// Where.
        stage: Stage,
        /// Why.
        error: ReplyError,
    },
    /// A reply code outside the class the command allows, e.g. 354 to MAIL.
    Unexpected {
        /// Where.
        stage: Stage,
        /// The code.
        code: u16,
    },
}

/// What the connection is waiting for, so that the driver picks the right timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// A reply belonging to this stage.
    Reply(Stage),
    /// The driver: a TLS handshake.
    Driver,
    /// Nothing: the session is over.
    Closed,
}

/// A command that was sent and whose reply has not come yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    /// AUTH, with the number of 334 challenges answered so far.
    Auth(Mechanism, u8),
    Mail,
    Rcpt(usize),
    Data,
    Content,
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mechanism {
    Plain,
    Login,
}

impl Pending {
    fn stage(self) -> Stage {
        match self {
            Self::Greeting => Stage::Greeting,
            Self::Ehlo => Stage::Ehlo,
            Self::Helo => Stage::Helo,
            Self::StartTls => Stage::StartTls,
            Self::Auth(..) => Stage::Auth,
            Self::Mail => Stage::Mail,
            Self::Rcpt(_) => Stage::Rcpt,
            Self::Data => Stage::Data,
            Self::Content => Stage::Content,
            Self::Quit => Stage::Quit,
        }
    }
}

/// One connection's worth of client: see the [module documentation](self).
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    message: Outgoing,
    /// The content with CRLF line ends, ready to stuff or chunk.
    content: Vec<u8>,
    parser: ReplyParser,
    pending: VecDeque<Pending>,
    out: VecDeque<Output>,
    /// What the last EHLO advertised; empty after HELO and after STARTTLS.
    ehlo: EhloResponse,
    tls: bool,
    handshaking: bool,
    authenticated: bool,
    /// The MAIL command failed: the rest of a pipelined batch is only drained.
    mail_failed: bool,
    /// MAIL, RCPT (and DATA) went out in one batch (RFC 2920).
    batched: bool,
    /// MAIL got 530: log in once the batch is drained, then start again.
    auth_then_retry: bool,
    /// Indexes of recipients the server accepted.
    accepted: Vec<usize>,
    results: Vec<Option<RecipientResult>>,
    findings: Vec<ClientFinding>,
    closed: bool,
}

impl ClientSession {
    /// A session that will wait for the greeting of a freshly connected server.
    pub fn new(config: ClientConfig, message: Outgoing) -> Self {
        let content = if config.raw_line_ends {
            message.content.clone()
        } else {
            crate::data::crlf_lines(&message.content)
        };
        let results = vec![None; message.to.len()];
        Self {
            config,
            message,
            content,
            parser: ReplyParser::new(),
            pending: VecDeque::from([Pending::Greeting]),
            out: VecDeque::new(),
            ehlo: EhloResponse::empty(),
            tls: false,
            handshaking: false,
            authenticated: false,
            mail_failed: false,
            batched: false,
            auth_then_retry: false,
            accepted: Vec::new(),
            results,
            findings: Vec::new(),
            closed: false,
        }
    }

    /// Bytes from the server.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        if self.closed || self.handshaking {
            return;
        }
        self.parser.push(bytes);
        while !self.closed && !self.handshaking {
            let Some(next) = self.parser.next_reply() else {
                break;
            };
            let stage = self.pending.front().map_or(Stage::Quit, |p| p.stage());
            match next {
                Ok(ParsedReply { reply, findings }) => {
                    if !findings.is_empty() {
                        self.findings.push(ClientFinding::Reply { stage, findings });
                    }
                    match self.pending.pop_front() {
                        Some(p) => self.on_reply(p, reply),
                        // A reply nobody asked for: note it and hang up.
                        None => {
                            self.findings.push(ClientFinding::Unexpected {
                                stage,
                                code: reply.code.get(),
                            });
                            self.abort(stage, None, "a reply to no command".into());
                        }
                    }
                }
                Err(error) => {
                    let reason = format!("malformed reply: {error}");
                    self.findings
                        .push(ClientFinding::Malformed { stage, error });
                    self.abort(stage, None, reason);
                }
            }
        }
    }

    /// The TLS handshake the session asked for succeeded: forget what the server said in
    /// plaintext and say EHLO again (RFC 3207 §4.2).
    pub fn handle_tls_established(&mut self) {
        if !self.handshaking {
            return;
        }
        self.handshaking = false;
        self.tls = true;
        self.ehlo = EhloResponse::empty();
        self.parser = ReplyParser::new();
        self.send_ehlo();
    }

    /// The TLS handshake failed. Nothing can be said on this connection any more.
    pub fn handle_tls_failed(&mut self, why: &str) {
        if !self.handshaking {
            return;
        }
        self.handshaking = false;
        self.settle_rest(
            Disposition::Deferred,
            Stage::Handshake,
            None,
            format!("TLS handshake failed: {why}"),
        );
        self.close();
    }

    /// The timeout for [`waiting`](Self::waiting) ran out (RFC 5321 §4.5.3.2).
    pub fn handle_timeout(&mut self) {
        if self.closed {
            return;
        }
        let stage = match self.waiting() {
            Waiting::Reply(s) => s,
            Waiting::Driver => Stage::Handshake,
            Waiting::Closed => return,
        };
        self.abort(stage, None, format!("timed out waiting at {stage}"));
    }

    /// The server closed the connection.
    pub fn handle_eof(&mut self) {
        if self.closed {
            return;
        }
        let stage = self.pending.front().map_or(Stage::Quit, |p| p.stage());
        if let Some(error) = self.parser.finish() {
            self.findings.push(ClientFinding::Malformed {
                stage,
                error: error.clone(),
            });
        }
        let quitting = self.pending.front() == Some(&Pending::Quit);
        if !quitting {
            self.settle_rest(
                Disposition::Deferred,
                stage,
                None,
                format!("connection closed by the server at {stage}"),
            );
        }
        self.pending.clear();
        self.closed = true;
    }

    /// The next thing to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// What the session waits for.
    pub fn waiting(&self) -> Waiting {
        if self.closed {
            Waiting::Closed
        } else if self.handshaking {
            Waiting::Driver
        } else {
            Waiting::Reply(self.pending.front().map_or(Stage::Quit, |p| p.stage()))
        }
    }

    /// True once the session asked to close or saw the end of the stream.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True once the connection is under TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// What the server advertised in its last EHLO.
    pub fn capabilities(&self) -> &EhloResponse {
        &self.ehlo
    }

    /// What a strict client noticed.
    pub fn findings(&self) -> &[ClientFinding] {
        &self.findings
    }

    /// One result per recipient, in the order of [`Outgoing::to`]. A recipient the
    /// session never decided (it is still running) is reported deferred.
    pub fn results(&self) -> Vec<RecipientResult> {
        self.results
            .iter()
            .zip(&self.message.to)
            .map(|(r, to)| {
                r.clone().unwrap_or_else(|| RecipientResult {
                    to: to.clone(),
                    disposition: Disposition::Deferred,
                    stage: self.waiting_stage(),
                    reply: None,
                    reason: "the session ended before a decision".into(),
                })
            })
            .collect()
    }

    fn waiting_stage(&self) -> Stage {
        self.pending.front().map_or(Stage::Quit, |p| p.stage())
    }

    fn send(&mut self, bytes: Vec<u8>) {
        self.out.push_back(Output::Send(bytes));
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.pending.clear();
            self.out.push_back(Output::Close);
        }
    }

    /// Decide every recipient that has no result yet.
    fn settle_rest(
        &mut self,
        disposition: Disposition,
        stage: Stage,
        reply: Option<&Reply>,
        reason: String,
    ) {
        for (slot, to) in self.results.iter_mut().zip(&self.message.to) {
            if slot.is_none() {
                *slot = Some(RecipientResult {
                    to: to.clone(),
                    disposition,
                    stage,
                    reply: reply.cloned(),
                    reason: reason.clone(),
                });
            }
        }
    }

    /// Give up on the connection without QUIT: after 421, a malformed reply, a timeout.
    fn abort(&mut self, stage: Stage, reply: Option<&Reply>, reason: String) {
        self.settle_rest(Disposition::Deferred, stage, reply, reason);
        self.close();
    }

    /// End politely: every undecided recipient gets `disposition`, then QUIT
    /// (RFC 5321 §4.1.1.10), and close on its reply.
    fn give_up(
        &mut self,
        disposition: Disposition,
        stage: Stage,
        reply: Option<&Reply>,
        reason: String,
    ) {
        self.settle_rest(disposition, stage, reply, reason);
        self.quit();
    }

    fn quit(&mut self) {
        self.pending.clear();
        self.pending.push_back(Pending::Quit);
        self.send(crate::command::Command::Quit.to_bytes());
        if self.config.quit_without_reply {
            self.close();
        }
    }
}

#[cfg(test)]
mod tests;
