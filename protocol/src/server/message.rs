//! The content of a transaction: DATA (RFC 5321 §4.1.1.4), BDAT (RFC 3030), the size
//! limit (RFC 1870), and the hand-over to storage with a Received line (§4.4).

use super::received;
use super::{
    BareLineEnds, Deviation, Envelope, Helo, Message, Output, ServerSession, State, Transaction,
};
use crate::address::ForwardPath;
use crate::bdat::BdatAssembler;
use crate::data::{DataConfig, DataDecoder};
use crate::eod::{EndOfData, EndSet};
use crate::reply::{EnhancedCode, Reply, ReplyCode};

/// 5.5.1 is "invalid command", used for every out-of-sequence command.
const BAD_SEQUENCE: EnhancedCode = EnhancedCode::INVALID_COMMAND;

impl ServerSession {
    /// DATA (RFC 5321 §4.1.1.4).
    pub(super) fn data(&mut self) {
        let deviations = self.config.deviations;
        let refusal = match &self.tx {
            None => Some("Need MAIL and RCPT before DATA"),
            Some(t) if t.bdat.is_some() => Some("DATA cannot follow BDAT (RFC 3030 §2)"),
            Some(t) if t.binary => Some("BODY=BINARYMIME needs BDAT (RFC 3030 §3)"),
            Some(t)
                if t.recipients.is_empty() && !deviations.has(Deviation::DataWithoutRecipients) =>
            {
                Some("No valid recipients")
            }
            Some(_) => None,
        };
        if let Some(text) = refusal {
            // RFC 5321 §3.3: with no valid recipient, 503 or 554 "no valid recipients".
            let no_rcpt = self.tx.as_ref().is_some_and(|t| t.recipients.is_empty())
                && self.config.no_valid_recipients == ReplyCode::TRANSACTION_FAILED;
            if no_rcpt {
                return self.reply(
                    ReplyCode::TRANSACTION_FAILED,
                    EnhancedCode::new(5, 5, 1).unwrap_or(BAD_SEQUENCE),
                    text,
                );
            }
            return self.reply(ReplyCode::BAD_SEQUENCE, BAD_SEQUENCE, text);
        }
        let mut accept = EndSet::STANDARD;
        if deviations.has(Deviation::DataEndLfDotLf) {
            accept = accept.with(EndOfData::LfDotLf);
        }
        let lf_regime = if deviations.has(Deviation::LfRegimePerMessage) {
            EndSet::NONE.with(EndOfData::LfDotLf)
        } else {
            EndSet::NONE
        };
        let decoder = DataDecoder::new(DataConfig {
            max_stored: self.storage_limit(),
            accept,
            unstuff: !deviations.has(Deviation::NoDotUnstuffing),
            lf_regime,
            drop_nul: deviations.has(Deviation::StripNulInData),
        });
        self.reply(
            ReplyCode::START_MAIL_INPUT,
            EnhancedCode::OK,
            "End data with <CR><LF>.<CR><LF>",
        );
        self.state = State::Data(Box::new(decoder));
        if deviations.has(Deviation::DataFlushesInput) {
            self.lines.discard_input();
        }
    }

    /// The most content held in memory: one octet more than the limit that applies, so
    /// that an over-size message is known to be one without holding it. The hard cap
    /// applies even when SIZE advertises no limit, and under the SizeNotEnforced
    /// deviation (which then stores the whole message, as the bug it models would).
    fn storage_limit(&self) -> usize {
        let limit = match self.config.max_message_size {
            0 => self.config.storage_cap,
            _ if self.config.deviations.has(Deviation::SizeNotEnforced) => self.config.storage_cap,
            n => n.min(self.config.storage_cap),
        };
        usize::try_from(limit).map_or(usize::MAX, |n| n.saturating_add(1))
    }

    /// RFC 5321 §6.3: "servers MUST contain provisions for detecting and stopping
    /// trivial loops"; more than [`crate::limits::MAX_HOPS`] Received lines is one.
    fn loop_refusal(&self, body: &[u8]) -> Option<Reply> {
        (received::hop_count(body) > self.config.max_hops).then(|| {
            self.make_reply(
                ReplyCode::TRANSACTION_FAILED,
                EnhancedCode::ROUTING_LOOP,
                "Message refused: too many Received lines, a mail loop (RFC 5321 section 6.3)",
            )
        })
    }

    /// The refusal a message of `size` octets gets at its end, if any.
    fn size_refusal(&self, size: u64) -> Option<Reply> {
        let max = self.config.max_message_size;
        if max > 0 && size > max && !self.config.deviations.has(Deviation::SizeNotEnforced) {
            return Some(self.make_reply(
                self.config.size_refusal,
                EnhancedCode::MESSAGE_TOO_BIG,
                "Message exceeds fixed maximum message size (RFC 1870 §6)",
            ));
        }
        (size > self.config.storage_cap).then(|| {
            self.make_reply(
                ReplyCode::EXCEEDED_STORAGE,
                EnhancedCode::LENGTH_EXCEEDS_LIMIT,
                "Requested mail action aborted: exceeded storage allocation",
            )
        })
    }

    pub(super) fn finish_data(&mut self, decoder: DataDecoder) {
        let size = decoder.size();
        let (body, findings) = decoder.into_parts();
        let Some(tx) = self.tx.take() else { return };
        // A server that ends data on LF.LF takes bare LFs as line ends: it does not refuse
        // them either (the deviation models the whole bug, not half of it).
        let lf_ok = self.config.deviations.has(Deviation::DataEndLfDotLf)
            || (self.config.deviations.has(Deviation::LfRegimePerMessage)
                && findings.bare_lf.is_some());
        if findings.bare_cr.is_some()
            || (findings.bare_lf.is_some() && !lf_ok)
            || findings.nul.is_some()
        {
            let code = match self.config.bare_line_ends {
                BareLineEnds::RefuseWith550 => ReplyCode::MAILBOX_UNAVAILABLE,
                _ => ReplyCode::TRANSACTION_FAILED,
            };
            return self.reply(
                code,
                EnhancedCode::BAD_CONTENT,
                "Message refused: bare CR, bare LF or NUL in content (RFC 5321 §2.3.8)",
            );
        }
        if let Some(refusal) = self.size_refusal(size).or_else(|| self.loop_refusal(&body)) {
            return self.send(&refusal);
        }
        self.deliver(tx, body);
    }

    /// BDAT (RFC 3030 §2): read the chunk in every case, then answer.
    pub(super) fn bdat(&mut self, size: u64, last: bool) {
        let size = if self.config.deviations.has(Deviation::BdatSize32Bit) {
            size & u64::from(u32::MAX)
        } else {
            size
        };
        let refusal = if !self.config.extensions.chunking {
            Some((ReplyCode::NOT_IMPLEMENTED, "Command not implemented"))
        } else {
            match &self.tx {
                None => Some((ReplyCode::BAD_SEQUENCE, "Need MAIL and RCPT before BDAT")),
                Some(t) if t.recipients.is_empty() => {
                    Some((ReplyCode::BAD_SEQUENCE, "No valid recipients"))
                }
                Some(t) if t.bdat.as_ref().is_some_and(BdatAssembler::is_finished) => {
                    Some((ReplyCode::BAD_SEQUENCE, "BDAT after the LAST chunk"))
                }
                _ => None,
            }
        };
        if let Some((code, text)) = refusal {
            let r = self.make_reply(code, BAD_SEQUENCE, text);
            return self.skip_chunk(size, r);
        }
        let limit = self.storage_limit();
        let Some(tx) = self.tx.as_mut() else { return };
        let asm = tx.bdat.get_or_insert_with(|| BdatAssembler::new(limit));
        if asm.start_chunk(size, last).is_err() {
            let r = self.make_reply(
                ReplyCode::BAD_SEQUENCE,
                BAD_SEQUENCE,
                "BDAT out of sequence",
            );
            return self.skip_chunk(size, r);
        }
        if size == 0 {
            return self.finish_chunk();
        }
        self.state = State::Chunk;
    }

    /// Read and drop `size` chunk octets, then send `refusal`: the octets follow the
    /// BDAT line whatever the answer, and must never be read as commands.
    pub(super) fn skip_chunk(&mut self, size: u64, refusal: Reply) {
        if size == 0 {
            return self.send(&refusal);
        }
        self.state = State::SkipChunk {
            remaining: size,
            refusal,
        };
    }

    pub(super) fn finish_chunk(&mut self) {
        let Some(asm) = self.tx.as_ref().and_then(|t| t.bdat.as_ref()) else {
            return;
        };
        let (size, finished) = (asm.size(), asm.is_finished());
        if !finished {
            return self.reply(
                ReplyCode::OK,
                EnhancedCode::OK,
                &format!("{size} octets received"),
            );
        }
        let Some(mut tx) = self.tx.take() else { return };
        if let Some(refusal) = self.size_refusal(size) {
            return self.send(&refusal);
        }
        let body = tx
            .bdat
            .take()
            .map(BdatAssembler::into_body)
            .unwrap_or_default();
        if let Some(refusal) = self.loop_refusal(&body) {
            return self.send(&refusal);
        }
        self.deliver(tx, body);
    }

    /// Prepend the Received line (RFC 5321 §4.4) and hand the message to the driver;
    /// the 250 comes from `handle_stored`.
    fn deliver(&mut self, tx: Transaction, mut body: Vec<u8>) {
        if self.config.deviations.has(Deviation::Strip8thBit) {
            body.iter_mut().for_each(|b| *b &= 0x7f);
        }
        self.delivered += 1;
        let id = self.message_id(self.delivered);
        let helo = self.helo.clone().unwrap_or(Helo {
            name: "unknown".into(),
            esmtp: false,
        });
        // RFC 5321 §4.4: `For = "FOR" FWS ( Path / Mailbox )`; `<Postmaster>` is
        // neither, so it is written with this server's domain.
        let for_rcpt = match tx.recipients.as_slice() {
            [(ForwardPath::Postmaster, _)] => {
                Some(format!("<postmaster@{}>", self.config.hostname))
            }
            [(one, _)] => Some(one.to_string()),
            _ => None,
        };
        let with = received::with_protocol(helo.esmtp, self.tls, self.user.is_some(), tx.smtputf8);
        let header = received::Trace {
            helo: &helo.name,
            peer: &self.peer,
            by: &self.config.hostname,
            with,
            id: &id,
            for_rcpt: for_rcpt.as_deref(),
            unix_time: self.now,
        }
        .header();
        let mut content = header.into_bytes();
        content.extend_from_slice(&body);
        let envelope = Envelope {
            id,
            helo: helo.name,
            peer: self.peer.clone(),
            from: tx.from,
            mail_params: tx.params,
            recipients: tx.recipients,
            tls: self.tls,
            user: self.user.clone(),
        };
        self.state = State::AwaitingStore;
        let twice = self.config.deviations.has(Deviation::PlantedDoubleStore)
            && envelope
                .recipients
                .iter()
                .enumerate()
                .any(|(i, (r, _))| envelope.recipients[..i].iter().any(|(s, _)| s == r));
        let message = Message { envelope, content };
        if twice {
            self.silent_stores += 1;
            self.out
                .push_back(Output::Deliver(Box::new(message.clone())));
        }
        self.out.push_back(Output::Deliver(Box::new(message)));
    }
}
