//! What the server does with each command: the rules of RFC 5321 §4.1.1 and §4.1.4
//! (order of commands), and of each extension it implements.

use super::VerifyMode;
use super::{Deviation, GreetingMode, Helo, Output, ServerSession, State, Transaction};
use crate::address::{ForwardPath, LocalPart, Mailbox, ReversePath};
use crate::command::{Command, CommandError, ParseOptions, Parsed, Verb};
use crate::ehlo::Extension;
use crate::leniency::Leniency;
use crate::param::{BodyType, Param};
use crate::reply::{EnhancedCode, ReplyCode};

/// 5.5.1 is "invalid command", used for every out-of-sequence command.
const BAD_SEQUENCE: EnhancedCode = EnhancedCode::INVALID_COMMAND;

impl ServerSession {
    pub(super) fn command_line(&mut self, bytes: &[u8]) {
        let smtputf8 = self.tx.as_ref().is_some_and(|t| t.smtputf8);
        let lenient = Command::parse_with(bytes, ParseOptions { smtputf8 });
        let command = match lenient.clone().and_then(Parsed::strict) {
            Ok(c) => c,
            Err(e) => {
                // A refused BDAT line still announced its chunk: those octets follow and
                // must be read as data, never as commands (RFC 3030 §2).
                let chunk = match lenient {
                    Ok(Parsed {
                        command: Command::Bdat { size, .. },
                        ..
                    }) => Some(size),
                    _ => None,
                };
                return self.refuse_line(bytes, &e, chunk);
            }
        };
        match self.config.greeting {
            GreetingMode::Ready => {}
            // RFC 5321 §3.1 and RFC 7504 §3: only QUIT does anything.
            _ if command == Command::Quit => return self.quit(),
            GreetingMode::NoService => {
                return self.reply(
                    ReplyCode::BAD_SEQUENCE,
                    BAD_SEQUENCE,
                    "No SMTP service here",
                );
            }
            GreetingMode::DoesNotAcceptMail => {
                return self.reply(
                    ReplyCode::DOES_NOT_ACCEPT_MAIL,
                    EnhancedCode::NOT_ACCEPTING,
                    "This host does not accept mail",
                );
            }
        }
        if self.count_nonmail(&command) {
            return self.close_for("too many commands without mail");
        }
        if self.config.require_tls && !self.tls && !tls_exempt(&command) {
            // RFC 3207 §4: a server that requires TLS answers 530 to every command but
            // NOOP, EHLO, STARTTLS and QUIT until the handshake. A refused BDAT's
            // chunk is still read as data (RFC 3030 §2).
            let r = self.make_reply(
                ReplyCode::AUTH_REQUIRED,
                EnhancedCode::SECURITY,
                "Must issue a STARTTLS command first",
            );
            return match command {
                Command::Bdat { size, .. } => self.skip_chunk(size, r),
                _ => self.send(&r),
            };
        }
        match command {
            Command::Ehlo(host) => self.hello(host.to_string(), true),
            Command::Helo(host) => self.hello(host.to_string(), false),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { .. }
                if self.config.deviations.has(Deviation::PlantedNoopPoison)
                    && super::deviation::POISONED.load(std::sync::atomic::Ordering::Relaxed) =>
            {
                // Deviation (planted): the corrupted shared state refuses everyone.
                self.reply(
                    ReplyCode::LOCAL_ERROR,
                    EnhancedCode::SYSTEM_TEMP,
                    "Requested action aborted: local error in processing",
                );
            }
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                if !self
                    .config
                    .deviations
                    .has(Deviation::KeepTransactionAfterRset)
                {
                    self.tx = None;
                }
                self.reply(ReplyCode::OK, EnhancedCode::OK, "Ok");
                self.double_reply();
            }
            Command::Noop(_) => {
                self.reply(ReplyCode::OK, EnhancedCode::OK, "Ok");
                self.double_reply();
            }
            Command::Quit => self.quit(),
            Command::Vrfy(who) => self.verify(&who, false),
            Command::Expn(list) => self.verify(&list, true),
            Command::Help(Some(arg))
                if arg.len() > 40
                    && self.config.deviations.has(Deviation::PlantedHelpMixedCodes) =>
            {
                // Deviation (planted): a second line with another code.
                let bytes = format!(
                    "{}-smtpspec reference server\r\n{} see RFC 5321\r\n",
                    ReplyCode::HELP.get(),
                    ReplyCode::SYSTEM_STATUS.get()
                );
                self.send_raw(bytes.into_bytes());
            }
            Command::Help(_) => self.reply(
                ReplyCode::HELP,
                EnhancedCode::OK,
                "smtpspec reference server; commands: EHLO HELO MAIL RCPT DATA BDAT RSET \
                 VRFY EXPN HELP NOOP QUIT STARTTLS AUTH ETRN (RFC 5321)",
            ),
            Command::StartTls => self.starttls(),
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth_start(&mechanism, initial_response.as_deref()),
            Command::Etrn(node) => {
                if self.config.extensions.etrn {
                    // RFC 1985 §5: 251 "OK, no messages waiting for node".
                    self.reply(
                        ReplyCode::ETRN_NOTHING_WAITING,
                        EnhancedCode::OK,
                        &format!("OK, no messages waiting for node {node}"),
                    );
                } else {
                    self.not_implemented();
                }
            }
        }
    }

    fn refuse_line(&mut self, bytes: &[u8], e: &CommandError, chunk: Option<u64>) {
        if self
            .config
            .deviations
            .has(Deviation::UnqualifiedShellSender)
            && let Some(sender) = shell_sender(bytes)
        {
            // Deviation: take anything in the brackets as a local sender (CVE-2020-7247).
            if self.helo.is_some() && self.tx.is_none() {
                self.tx = Some(Transaction::new(ReversePath::Mailbox(sender), Vec::new()));
                return self.reply(ReplyCode::OK, EnhancedCode::SENDER_OK, "Sender ok");
            }
        }
        let verb = match e {
            CommandError::Syntax { verb, .. } | CommandError::Lenient { verb, .. } => Some(*verb),
            _ => None,
        };
        if let Some(text) = verb.and_then(|v| self.out_of_sequence(v)) {
            return self.reply(ReplyCode::BAD_SEQUENCE, BAD_SEQUENCE, text);
        }
        let reply = match e {
            // RFC 6531 §3.5: an address that must be ASCII is refused with 550 5.6.7
            // at MAIL and 553 5.6.7 at RCPT; other commands get the plain 501.
            CommandError::Lenient {
                verb: verb @ (Verb::Mail | Verb::Rcpt),
                leniency: Leniency::EightBitWithoutSmtputf8,
            } => self.make_reply(
                if *verb == Verb::Mail {
                    ReplyCode::MAILBOX_UNAVAILABLE
                } else {
                    ReplyCode::MAILBOX_NAME_NOT_ALLOWED
                },
                EnhancedCode::NON_ASCII_NOT_PERMITTED,
                "Non-ASCII address without SMTPUTF8 (RFC 6531 §3.5)",
            ),
            CommandError::Empty | CommandError::UnknownVerb { .. } => self.make_reply(
                ReplyCode::SYNTAX_ERROR,
                EnhancedCode::INVALID_COMMAND,
                "Command not recognized",
            ),
            _ => self.make_reply(
                ReplyCode::ARGUMENT_ERROR,
                EnhancedCode::INVALID_ARGUMENTS,
                &format!("Syntax error: {e}"),
            ),
        };
        match chunk {
            Some(size) => self.skip_chunk(size, reply),
            None => self.send(&reply),
        }
    }

    /// Count a command that is not part of a mail transaction; true when it is one too
    /// many for `nonmail_limit` (Exim's `smtp_accept_max_nonmail` closes such sessions:
    /// a client that only probes is not sending mail).
    fn count_nonmail(&mut self, command: &Command) -> bool {
        let Some(limit) = self.config.nonmail_limit else {
            return false;
        };
        let counted = matches!(
            command,
            Command::Ehlo(_)
                | Command::Helo(_)
                | Command::Noop(_)
                | Command::Rset
                | Command::Vrfy(_)
                | Command::Expn(_)
                | Command::Help(_)
                | Command::Etrn(_)
        );
        if counted {
            self.nonmail += 1;
        }
        self.nonmail > limit
    }

    fn not_implemented(&mut self) {
        self.reply(
            ReplyCode::NOT_IMPLEMENTED,
            BAD_SEQUENCE,
            "Command not implemented",
        );
    }

    fn double_reply(&mut self) {
        if self.config.deviations.has(Deviation::DoubleReply) {
            self.reply(ReplyCode::OK, EnhancedCode::OK, "Ok");
        }
    }

    fn quit(&mut self) {
        let text = format!("{} closing connection", self.config.hostname);
        self.reply(ReplyCode::CLOSING, EnhancedCode::OK, &text);
        self.close();
    }

    /// True if AUTH may be used now (users exist, and TLS is up unless allowed without).
    pub(super) fn auth_offered(&self) -> bool {
        !self.config.users.is_empty() && (self.tls || self.config.auth_without_tls)
    }

    fn starttls_offered(&self) -> bool {
        self.config.extensions.starttls
            && self.tls_available
            && (!self.tls
                || self
                    .config
                    .deviations
                    .has(Deviation::StartTlsAdvertisedAfterTls))
    }

    /// EHLO and HELO (RFC 5321 §4.1.1.1); either one resets the transaction (§4.1.4).
    fn hello(&mut self, name: String, esmtp: bool) {
        self.tx = None;
        let greeting = format!("{} greets {name}", self.config.hostname);
        self.helo = Some(Helo { name, esmtp });
        if !esmtp {
            let r = crate::reply::Reply::new(ReplyCode::OK, greeting);
            return self.send(&r);
        }
        // The lines are written as the protocol's `EhloResponse` would format them
        // (`keyword *(SP param)`, RFC 5321 §4.1.1.1), but straight into the reply's
        // strings: through `EhloLine` and `Display`, an EHLO cost some forty
        // allocations, on every connection of a load test and most fuzz runs.
        let ext = self.config.extensions;
        let mut lines = Vec::with_capacity(14);
        lines.push(greeting);
        let size = Extension::Size.keyword();
        lines.push(if self.config.size_number {
            format!("{size} {}", self.config.max_message_size)
        } else {
            size.to_owned()
        });
        let flags = [
            (ext.pipelining, Extension::Pipelining),
            (ext.eight_bit_mime, Extension::EightBitMime),
            (ext.smtputf8, Extension::SmtpUtf8),
            (ext.enhanced_status_codes, Extension::EnhancedStatusCodes),
            (ext.chunking, Extension::Chunking),
            (ext.chunking && ext.binary_mime, Extension::BinaryMime),
            (ext.dsn, Extension::Dsn),
            (ext.etrn, Extension::Etrn),
            (self.starttls_offered(), Extension::StartTls),
        ];
        lines.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, e)| e.keyword().to_owned()),
        );
        if self.auth_offered() {
            let mut auth = Extension::Auth.keyword().to_owned();
            for m in &self.config.auth_mechanisms {
                auth.push(' ');
                auth.push_str(m.name());
            }
            lines.push(auth);
        }
        lines.push(Extension::Help.keyword().to_owned());
        let reply = crate::reply::Reply::multiline(ReplyCode::OK, lines);
        self.send(&reply);
    }

    /// Why a parameter cannot be used in this session, if it cannot.
    fn param_refusal(&self, p: &Param) -> Option<&'static str> {
        let ext = self.config.extensions;
        let ok = match p {
            Param::Size(_) | Param::Body(BodyType::SevenBit) => true,
            Param::Body(BodyType::EightBitMime) => ext.eight_bit_mime,
            Param::Body(BodyType::BinaryMime) => ext.binary_mime && ext.chunking,
            Param::SmtpUtf8 => ext.smtputf8,
            Param::Ret(_) | Param::EnvId(_) | Param::Notify(_) | Param::Orcpt { .. } => ext.dsn,
            Param::Auth(_) => self.auth_offered(),
            Param::Other { .. } => false,
        };
        (!ok).then_some("Parameter not recognized or not implemented")
    }

    fn check_params(&mut self, params: &[Param]) -> bool {
        let esmtp = self.helo.as_ref().is_some_and(|h| h.esmtp);
        let refusal = if !params.is_empty() && !esmtp {
            Some("Parameters need EHLO (RFC 5321 §4.1.1.1)")
        } else {
            params.iter().find_map(|p| self.param_refusal(p))
        };
        if let Some(text) = refusal {
            self.reply(
                ReplyCode::PARAMS_NOT_RECOGNIZED,
                EnhancedCode::INVALID_ARGUMENTS,
                text,
            );
            return false;
        }
        true
    }

    /// Why MAIL or RCPT is out of sequence now (RFC 5321 §4.1.4), if it is. Checked
    /// before the arguments, so that the order of commands always gets 503 whatever the
    /// syntax of the line.
    fn out_of_sequence(&self, verb: Verb) -> Option<&'static str> {
        let tx = self.tx.as_ref();
        match verb {
            Verb::Mail if self.helo.is_none() => Some("Send EHLO or HELO first"),
            Verb::Mail if tx.is_some() => Some("Nested MAIL command"),
            Verb::Rcpt if tx.is_none() => Some("Need MAIL before RCPT"),
            // RFC 3030 §2: the recipients are settled before the first chunk.
            Verb::Rcpt if tx.is_some_and(|t| t.bdat.is_some()) => Some("RCPT after BDAT"),
            _ => None,
        }
    }

    /// MAIL (RFC 5321 §4.1.1.2).
    fn mail(&mut self, from: ReversePath, params: Vec<Param>) {
        if let Some(text) = self.out_of_sequence(Verb::Mail) {
            return self.reply(ReplyCode::BAD_SEQUENCE, BAD_SEQUENCE, text);
        }
        if self.config.require_auth && self.user.is_none() {
            return self.reply(
                ReplyCode::AUTH_REQUIRED,
                EnhancedCode::SECURITY,
                "Authentication required",
            );
        }
        if !self.check_params(&params) {
            return;
        }
        if self.config.refuse_literal_senders
            && let ReversePath::Mailbox(m) = &from
            && m.host
                .as_ref()
                .is_some_and(|h| matches!(h, crate::Host::Literal(_)))
        {
            return self.reply(
                ReplyCode::MAILBOX_UNAVAILABLE,
                EnhancedCode::SECURITY,
                "Sender address literals are refused here (policy)",
            );
        }
        let max = self.config.max_message_size;
        if max > 0
            && params
                .iter()
                .any(|p| matches!(p, Param::Size(n) if *n > max))
        {
            return self.reply(
                ReplyCode::EXCEEDED_STORAGE,
                EnhancedCode::MESSAGE_TOO_BIG,
                &format!("Message size exceeds fixed maximum of {max} octets (RFC 1870)"),
            );
        }
        self.tx = Some(Transaction::new(from, params));
        self.nonmail = 0;
        self.reply(ReplyCode::OK, EnhancedCode::SENDER_OK, "Sender ok");
    }

    /// RCPT (RFC 5321 §4.1.1.3).
    fn rcpt(&mut self, to: ForwardPath, params: Vec<Param>) {
        if self.tx.is_none() && self.config.deviations.has(Deviation::RcptBeforeMail) {
            return self.reply(ReplyCode::OK, EnhancedCode::RECIPIENT_OK, "Recipient ok");
        }
        if let Some(text) = self.out_of_sequence(Verb::Rcpt) {
            return self.reply(ReplyCode::BAD_SEQUENCE, BAD_SEQUENCE, text);
        }
        if !self.check_params(&params) {
            return;
        }
        let count = self.tx.as_ref().map_or(0, |t| t.recipients.len());
        if count >= self.config.max_recipients {
            return self.reply(
                ReplyCode::INSUFFICIENT_STORAGE,
                EnhancedCode::TOO_MANY_RECIPIENTS_TEMP,
                "Too many recipients (RFC 5321 §4.5.3.1.10)",
            );
        }
        let known = match &to {
            ForwardPath::Postmaster => true,
            ForwardPath::Mailbox(m) => {
                m.local.as_str().eq_ignore_ascii_case("postmaster")
                    || self.config.knows_recipient(&m.to_string())
            }
        };
        if !known {
            let code = self.config.unknown_recipient;
            let enhanced = if code.class() == 4 {
                EnhancedCode::new(4, 1, 1).unwrap_or(EnhancedCode::BAD_MAILBOX)
            } else {
                EnhancedCode::BAD_MAILBOX
            };
            return self.reply(code, enhanced, &format!("{to}: no such user"));
        }
        if let Some(tx) = self.tx.as_mut() {
            tx.recipients.push((to, params));
        }
        self.reply(ReplyCode::OK, EnhancedCode::RECIPIENT_OK, "Recipient ok");
    }

    /// VRFY and EXPN (RFC 5321 §3.5).
    fn verify(&mut self, who: &str, list: bool) {
        match self.config.verify {
            VerifyMode::Disabled => self.not_implemented(),
            VerifyMode::CannotVerify => self.reply(
                ReplyCode::CANNOT_VERIFY,
                EnhancedCode::PROTOCOL_OK,
                "Cannot VRFY user, but will accept message and attempt delivery",
            ),
            VerifyMode::Answer => {
                let address = who.trim().trim_matches(|c| c == '<' || c == '>');
                // A bare local part names a mailbox of this server; postmaster always
                // exists (RFC 5321 §4.5.1).
                let address = if address.contains('@') {
                    address.to_owned()
                } else {
                    format!("{address}@{}", self.config.hostname)
                };
                let postmaster = address
                    .split('@')
                    .next()
                    .is_some_and(|l| l.eq_ignore_ascii_case("postmaster"));
                if !list && (postmaster || self.config.knows_recipient(&address)) {
                    self.reply(ReplyCode::OK, EnhancedCode::OK, &format!("<{address}>"));
                } else {
                    self.reply(
                        ReplyCode::MAILBOX_UNAVAILABLE,
                        EnhancedCode::BAD_MAILBOX,
                        if list { "No such list" } else { "No such user" },
                    );
                }
            }
        }
    }

    /// STARTTLS (RFC 3207 §4).
    fn starttls(&mut self) {
        if self.tls
            && !self
                .config
                .deviations
                .has(Deviation::StartTlsAdvertisedAfterTls)
        {
            return self.reply(ReplyCode::BAD_SEQUENCE, BAD_SEQUENCE, "TLS already active");
        }
        if !self.starttls_offered() || self.tls {
            return self.not_implemented();
        }
        self.reply(
            ReplyCode::SERVICE_READY,
            EnhancedCode::OK,
            "Ready to start TLS",
        );
        if !self.config.deviations.has(Deviation::StartTlsKeepPlaintext) {
            // Anything pipelined after STARTTLS arrived in clear: it must not run inside
            // TLS (CVE-2011-0411).
            self.lines.discard_input();
        }
        self.state = State::AwaitingTls;
        self.out.push_back(Output::StartTls);
    }
}

impl Transaction {
    fn new(from: ReversePath, params: Vec<Param>) -> Self {
        let smtputf8 = params.contains(&Param::SmtpUtf8);
        let binary = params.contains(&Param::Body(BodyType::BinaryMime));
        Self {
            from,
            params,
            recipients: Vec::new(),
            smtputf8,
            binary,
            bdat: None,
        }
    }
}

/// The commands a server that requires TLS still answers before the handshake (RFC
/// 3207 §4): the ones that let a client find and start TLS, or leave.
fn tls_exempt(command: &Command) -> bool {
    matches!(
        command,
        Command::Noop(_) | Command::Ehlo(_) | Command::StartTls | Command::Quit
    )
}

/// `MAIL FROM:<anything without @>` for the CVE-2020-7247 deviation.
fn shell_sender(line: &[u8]) -> Option<Mailbox> {
    let text = std::str::from_utf8(line).ok()?;
    let upper = text.get(..10)?.to_ascii_uppercase();
    if upper != "MAIL FROM:" {
        return None;
    }
    let inner = text[10..].trim().strip_prefix('<')?.strip_suffix('>')?;
    if inner.is_empty() || inner.contains('@') {
        return None;
    }
    Some(Mailbox {
        local: LocalPart::new(inner).ok()?,
        host: None,
    })
}
