//! What the client does with each reply: the decisions of RFC 5321 §4.1.1, §4.2 and
//! §3.3, RFC 3207 (STARTTLS), RFC 4954 (AUTH), RFC 2920 (PIPELINING), RFC 3030 (BDAT),
//! RFC 1870 (SIZE) and RFC 6152 (8BITMIME).

use super::{
    ClientFinding, ClientSession, Disposition, Mechanism, Output, Pending, RecipientResult, Stage,
    TlsPolicy,
};
use crate::command::Command;
use crate::ehlo::{EhloResponse, Extension};
use crate::param::{BodyType, Param};
use crate::reply::{Reply, ReplyCode};

impl ClientSession {
    pub(super) fn on_reply(&mut self, pending: Pending, reply: Reply) {
        let code = reply.code;
        // 421 may come at any time: the server is closing (RFC 5321 §3.8).
        if code == ReplyCode::SERVICE_NOT_AVAILABLE && pending != Pending::Quit {
            let reason = format!("421 at {}: service not available", pending.stage());
            self.abort(pending.stage(), Some(&reply), reason);
            return;
        }
        match pending {
            Pending::Greeting => self.on_greeting(&reply),
            Pending::Ehlo => self.on_ehlo(&reply),
            Pending::Helo => self.on_helo(&reply),
            Pending::StartTls => self.on_starttls(&reply),
            Pending::Auth(mechanism, step) => self.on_auth(&reply, mechanism, step),
            Pending::Mail => self.on_mail(&reply),
            Pending::Rcpt(i) => self.on_rcpt(&reply, i),
            Pending::Data => self.on_data(&reply),
            Pending::Content => self.on_content(&reply),
            Pending::Quit => self.close(),
        }
    }

    /// A reply of the wrong class for its command is noted; it is then judged by its
    /// class like any other, which is what a robust client can do.
    fn note_unexpected(&mut self, stage: Stage, reply: &Reply, wanted: u8) {
        if reply.code.class() != wanted && !reply.code.is_negative() {
            self.findings.push(ClientFinding::Unexpected {
                stage,
                code: reply.code.get(),
            });
        }
    }

    fn refused(&mut self, stage: Stage, reply: &Reply, what: &str) {
        let disposition = by_class(reply);
        let reason = format!("{what} refused: {}", one_line(reply));
        self.give_up(disposition, stage, Some(reply), reason);
    }

    fn on_greeting(&mut self, reply: &Reply) {
        self.note_unexpected(Stage::Greeting, reply, 2);
        if reply.code.class() == 2 && self.config.helo_only {
            self.pending.push_back(Pending::Helo);
            self.send(Command::Helo(self.config.helo.clone()).to_bytes());
        } else if reply.code.class() == 2 {
            self.send_ehlo();
        } else {
            // A 554 greeting says "no SMTP service here" (RFC 5321 §3.1): a statement
            // about this host, not about the message, so the next MX may still take it,
            // as Postfix's smtp_skip_5xx_greeting does by default.
            let reason = format!("greeting refused service: {}", one_line(reply));
            self.give_up(Disposition::Deferred, Stage::Greeting, Some(reply), reason);
        }
    }

    pub(super) fn send_ehlo(&mut self) {
        self.pending.push_back(Pending::Ehlo);
        self.send(Command::Ehlo(self.config.helo.clone()).to_bytes());
    }

    fn on_ehlo(&mut self, reply: &Reply) {
        self.note_unexpected(Stage::Ehlo, reply, 2);
        match reply.code.class() {
            2 => {
                let (ehlo, _) = EhloResponse::from_reply(reply);
                self.ehlo = ehlo;
                self.after_hello();
            }
            // "command not recognized" and its kin: an RFC 821 server. RFC 5321 §3.2:
            // fall back to HELO. After STARTTLS there is no going back to HELO's
            // lesser world, so a refusal there ends the session.
            5 if !self.tls => {
                self.pending.push_back(Pending::Helo);
                self.send(Command::Helo(self.config.helo.clone()).to_bytes());
            }
            _ => self.refused(Stage::Ehlo, reply, "EHLO"),
        }
    }

    fn on_helo(&mut self, reply: &Reply) {
        self.note_unexpected(Stage::Helo, reply, 2);
        if reply.code.class() == 2 {
            self.ehlo = EhloResponse::empty();
            self.after_hello();
        } else {
            // Neither EHLO nor HELO: this host will not talk to us; another might.
            let reason = format!("HELO refused: {}", one_line(reply));
            self.give_up(Disposition::Deferred, Stage::Helo, Some(reply), reason);
        }
    }

    /// After a successful EHLO or HELO: TLS first, then AUTH, then the transaction.
    fn after_hello(&mut self) {
        if !self.tls && self.config.tls != TlsPolicy::Never {
            if self.ehlo.has(Extension::StartTls) {
                self.pending.push_back(Pending::StartTls);
                self.send(Command::StartTls.to_bytes());
                return;
            }
            if self.config.tls == TlsPolicy::Required || self.config.requiretls {
                self.give_up(
                    Disposition::Deferred,
                    Stage::StartTls,
                    None,
                    "TLS is required and the server does not offer STARTTLS".into(),
                );
                return;
            }
        }
        if self.config.requiretls && !(self.tls && self.ehlo.offers(super::REQUIRETLS)) {
            // RFC 8689 §4.2.1: a REQUIRETLS message goes only to a server that offers
            // it over TLS; another host may.
            let reason = if self.tls {
                "the message requires TLS (REQUIRETLS) and the server does not offer REQUIRETLS"
            } else {
                "the message requires TLS (REQUIRETLS) and TLS is off for this session"
            };
            self.give_up(Disposition::Deferred, Stage::Mail, None, reason.into());
            return;
        }
        if !self.authenticated
            && !self.config.auth_when_required
            && self.config.auth.is_some()
            && self.ehlo.has(Extension::Auth)
        {
            if !self.tls && !self.config.auth_without_tls {
                self.give_up(
                    Disposition::Deferred,
                    Stage::Auth,
                    None,
                    "credentials are never sent without TLS".into(),
                );
                return;
            }
            if let Some(mechanism) = self.mechanism() {
                self.start_auth(mechanism);
                return;
            }
        }
        self.begin_transaction();
    }

    /// The mechanism to log in with, if the server offers one this client speaks.
    fn mechanism(&self) -> Option<Mechanism> {
        let offered = self.ehlo.auth_mechanisms();
        if offered.iter().any(|m| m == "PLAIN") {
            Some(Mechanism::Plain)
        } else if offered.iter().any(|m| m == "LOGIN") {
            Some(Mechanism::Login)
        } else {
            None
        }
    }

    /// MAIL got 530 (RFC 4954 §6): can this client log in and try again?
    fn may_auth_on_demand(&self, reply: &Reply) -> bool {
        reply.code == ReplyCode::AUTH_REQUIRED
            && self.config.auth_when_required
            && self.config.auth.is_some()
            && !self.authenticated
            && !self.auth_then_retry
            && (self.tls || self.config.auth_without_tls)
            && self.mechanism().is_some()
    }

    /// Log in now that the batch the 530 refused is drained.
    fn auth_for_retry(&mut self) {
        match self.mechanism() {
            Some(m) => self.start_auth(m),
            None => self.quit(),
        }
    }

    fn on_starttls(&mut self, reply: &Reply) {
        self.note_unexpected(Stage::StartTls, reply, 2);
        if reply.code.class() == 2 {
            // Whatever came with the 220 was sent before TLS protects anything: drop it
            // (RFC 3207 §4.2).
            let injected = self.parser.take_remaining();
            if !injected.is_empty() {
                self.findings.push(ClientFinding::InjectedAfterStartTls {
                    octets: injected.len(),
                });
            }
            self.parser = crate::reply::ReplyParser::new();
            self.handshaking = true;
            self.out.push_back(Output::StartTls);
        } else if self.config.tls == TlsPolicy::Required || self.config.requiretls {
            // Even a 5xx says nothing about the message: another host may do TLS.
            let reason = format!("STARTTLS refused and TLS is required: {}", one_line(reply));
            self.give_up(Disposition::Deferred, Stage::StartTls, Some(reply), reason);
        } else {
            // Opportunistic: carry on in plaintext with what EHLO said, minus STARTTLS.
            self.ehlo
                .lines
                .retain(|l| l.extension() != Some(Extension::StartTls));
            self.after_hello();
        }
    }

    fn start_auth(&mut self, mechanism: Mechanism) {
        let Some(creds) = self.config.auth.clone() else {
            return;
        };
        let command = match mechanism {
            Mechanism::Plain => {
                let token = format!("\0{}\0{}", creds.user, creds.password);
                Command::Auth {
                    mechanism: "PLAIN".into(),
                    initial_response: Some(crate::base64::encode(token.as_bytes())),
                }
            }
            Mechanism::Login => Command::Auth {
                mechanism: "LOGIN".into(),
                initial_response: None,
            },
        };
        self.pending.push_back(Pending::Auth(mechanism, 0));
        self.send(command.to_bytes());
    }

    fn on_auth(&mut self, reply: &Reply, mechanism: Mechanism, step: u8) {
        let Some(creds) = self.config.auth.clone() else {
            return;
        };
        match reply.code {
            ReplyCode::AUTH_SUCCEEDED => {
                self.authenticated = true;
                self.begin_transaction();
            }
            ReplyCode::AUTH_CHALLENGE => {
                let answer = match (mechanism, step) {
                    (Mechanism::Login, 0) => Some(creds.user),
                    (Mechanism::Login, 1) => Some(creds.password),
                    _ => None,
                };
                let line = match answer {
                    Some(a) => crate::base64::encode(a.as_bytes()),
                    // A challenge this mechanism does not have: cancel (RFC 4954 §4).
                    None => "*".into(),
                };
                self.pending.push_back(Pending::Auth(mechanism, step + 1));
                self.send(format!("{line}\r\n").into_bytes());
            }
            _ => {
                // A refused login is this host's view of our credentials; it is not a
                // statement about the recipients.
                let reason = format!("AUTH refused: {}", one_line(reply));
                self.give_up(Disposition::Deferred, Stage::Auth, Some(reply), reason);
            }
        }
    }

    fn mail_params(&self) -> Result<Vec<Param>, String> {
        let mut params = Vec::new();
        let size = self.content.len() as u64;
        if let Some(limit) = self.ehlo.size_limit() {
            if let Some(limit) = limit.filter(|&l| l > 0 && size > l) {
                return Err(format!(
                    "the message has {size} octets and the server takes at most {limit} (SIZE, RFC 1870 §6)"
                ));
            }
            params.push(Param::Size(size));
        }
        if self.content.iter().any(|&b| b >= 0x80) && self.ehlo.has(Extension::EightBitMime) {
            params.push(Param::Body(BodyType::EightBitMime));
        }
        if self.config.requiretls {
            params.push(Param::Other {
                keyword: super::REQUIRETLS.into(),
                value: None,
            });
        }
        Ok(params)
    }

    fn uses_bdat(&self) -> bool {
        self.config.chunking && self.ehlo.has(Extension::Chunking)
    }

    fn begin_transaction(&mut self) {
        let params = match self.mail_params() {
            Ok(p) => p,
            Err(reason) => {
                self.give_up(Disposition::Bounced, Stage::Mail, None, reason);
                return;
            }
        };
        let mail = Command::Mail {
            from: self.message.from.clone(),
            params,
        };
        self.mail_failed = false;
        self.accepted.clear();
        self.batched = self.config.pipelining && self.ehlo.has(Extension::Pipelining);
        if self.batched {
            // RFC 2920 §3.1: MAIL, every RCPT and DATA may go in one group; DATA is last.
            let mut batch = mail.to_bytes();
            self.pending.push_back(Pending::Mail);
            for i in 0..self.message.to.len() {
                batch.extend(self.rcpt(i).to_bytes());
                self.pending.push_back(Pending::Rcpt(i));
            }
            if !self.uses_bdat() {
                batch.extend(Command::Data.to_bytes());
                self.pending.push_back(Pending::Data);
            }
            self.send(batch);
        } else {
            self.pending.push_back(Pending::Mail);
            self.send(mail.to_bytes());
        }
    }

    fn rcpt(&self, i: usize) -> Command {
        Command::Rcpt {
            to: self.message.to[i].clone(),
            params: Vec::new(),
        }
    }

    fn on_mail(&mut self, reply: &Reply) {
        self.note_unexpected(Stage::Mail, reply, 2);
        if reply.code.class() == 2 {
            if !self.batched && !self.message.to.is_empty() {
                self.pending.push_back(Pending::Rcpt(0));
                self.send(self.rcpt(0).to_bytes());
            } else if self.message.to.is_empty() {
                self.quit();
            }
            return;
        }
        self.mail_failed = true;
        if self.may_auth_on_demand(reply) {
            self.auth_then_retry = true;
            if !self.batched || self.pending.is_empty() {
                self.auth_for_retry();
            }
            return;
        }
        let disposition = by_class(reply);
        self.settle_rest(
            disposition,
            Stage::Mail,
            Some(reply),
            format!("MAIL refused: {}", one_line(reply)),
        );
        if !self.batched || self.pending.is_empty() {
            self.quit();
        }
    }

    fn on_rcpt(&mut self, reply: &Reply, i: usize) {
        self.note_unexpected(Stage::Rcpt, reply, 2);
        if !self.mail_failed {
            if reply.code.class() == 2 {
                self.accepted.push(i);
            } else {
                // RFC 5321 §4.5.3.1.10: a 552 to RCPT is the old "too many recipients"
                // and is treated as temporary.
                let permanent =
                    reply.code.class() == 5 && reply.code != ReplyCode::EXCEEDED_STORAGE;
                self.results[i] = Some(RecipientResult {
                    to: self.message.to[i].clone(),
                    disposition: if permanent {
                        Disposition::Bounced
                    } else {
                        Disposition::Deferred
                    },
                    stage: Stage::Rcpt,
                    reply: Some(reply.clone()),
                    reason: format!("RCPT refused: {}", one_line(reply)),
                });
            }
        }
        if self.batched {
            // The rest of the batch is still coming; a pipelined DATA is answered in
            // `on_data`. Only a batch without DATA (BDAT follows) ends here.
            if self.pending.is_empty() {
                self.after_recipients();
            }
            return;
        }
        if self.mail_failed {
            return;
        }
        if i + 1 < self.message.to.len() {
            self.pending.push_back(Pending::Rcpt(i + 1));
            self.send(self.rcpt(i + 1).to_bytes());
        } else {
            self.after_recipients();
        }
    }

    /// Every RCPT has its reply and no DATA was sent yet.
    fn after_recipients(&mut self) {
        if self.mail_failed && self.auth_then_retry {
            self.auth_for_retry();
            return;
        }
        if self.mail_failed {
            self.quit();
            return;
        }
        if self.accepted.is_empty() {
            // RFC 5321 §3.3: no recipient, no DATA.
            self.quit();
            return;
        }
        if self.uses_bdat() {
            let mut chunk = Command::Bdat {
                size: self.content.len() as u64,
                last: true,
            }
            .to_bytes();
            chunk.extend_from_slice(&self.content);
            self.pending.push_back(Pending::Content);
            self.send(chunk);
        } else {
            self.pending.push_back(Pending::Data);
            self.send(Command::Data.to_bytes());
        }
    }

    fn on_data(&mut self, reply: &Reply) {
        self.note_unexpected(Stage::Data, reply, 3);
        if reply.code == ReplyCode::START_MAIL_INPUT {
            if self.accepted.is_empty() || self.mail_failed {
                // A pipelined DATA the server took although nothing was accepted: end
                // the empty message at once (RFC 2920 §3.1), then leave.
                self.pending.push_back(Pending::Content);
                self.send(b".\r\n".to_vec());
                return;
            }
            self.pending.push_back(Pending::Content);
            let mut stuffed = crate::data::dot_stuff(&self.content);
            if self.config.strip_nul_after_stuffing {
                stuffed.retain(|&b| b != 0);
            }
            self.send(stuffed);
            return;
        }
        if !self.accepted.is_empty() && !self.mail_failed {
            let disposition = by_class(reply);
            self.settle_rest(
                disposition,
                Stage::Data,
                Some(reply),
                format!("DATA refused: {}", one_line(reply)),
            );
        }
        if self.mail_failed && self.auth_then_retry {
            self.auth_for_retry();
            return;
        }
        self.quit();
    }

    fn on_content(&mut self, reply: &Reply) {
        self.note_unexpected(Stage::Content, reply, 2);
        if !self.accepted.is_empty() && !self.mail_failed {
            let (disposition, reason) = match reply.code.class() {
                2 => (
                    Disposition::Delivered,
                    format!("accepted: {}", one_line(reply)),
                ),
                5 => (
                    Disposition::Bounced,
                    format!("message refused: {}", one_line(reply)),
                ),
                _ => (
                    Disposition::Deferred,
                    format!("message deferred: {}", one_line(reply)),
                ),
            };
            self.settle_rest(disposition, Stage::Content, Some(reply), reason);
        }
        self.quit();
    }
}

/// A refusal decided by its class: 5xx for good, anything else may pass.
fn by_class(reply: &Reply) -> Disposition {
    if reply.code.class() == 5 {
        Disposition::Bounced
    } else {
        Disposition::Deferred
    }
}

/// The reply on one line, for reasons.
pub(super) fn one_line(reply: &Reply) -> String {
    let mut text = reply.code.to_string();
    if let Some(e) = reply.enhanced {
        text.push_str(&format!(" {e}"));
    }
    let body = reply.lines.join(" / ");
    if !body.is_empty() {
        text.push(' ');
        text.push_str(&body);
    }
    text
}
