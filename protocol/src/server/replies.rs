//! How the session's replies are made and queued: enhanced status codes when offered
//! (RFC 2034), text kept to RFC 5321's `textstring`, pipelined replies joined into one
//! write, and the deviations that touch every reply.

use super::{Deviation, Output, ServerSession};
use crate::reply::{EnhancedCode, Reply, ReplyCode};

impl ServerSession {
    /// Queue a reply; see [`make_reply`](Self::make_reply).
    pub(super) fn reply(&mut self, code: ReplyCode, enhanced: EnhancedCode, text: &str) {
        let r = self.make_reply(code, enhanced, text);
        self.send(&r);
    }

    /// A reply with an enhanced status code, which is left out when
    /// ENHANCEDSTATUSCODES is off and on 3xx replies (RFC 2034 §3). Every reply to a
    /// command is made here, so that deviations that touch replies act in one place.
    pub(super) fn make_reply(&self, code: ReplyCode, enhanced: EnhancedCode, text: &str) -> Reply {
        let text = if self.config.terse_replies { "" } else { text };
        let mut r = Reply::new(code, text);
        if self.config.extensions.enhanced_status_codes && !code.is_intermediate() {
            r.enhanced = Some(
                if self.config.deviations.has(Deviation::EnhancedClassMismatch) {
                    // Deviation: a class from the other side of success/failure.
                    let class = if enhanced.class == 2 { 5 } else { 2 };
                    EnhancedCode::new(class, enhanced.subject, enhanced.detail).unwrap_or(enhanced)
                } else {
                    enhanced
                },
            );
        }
        r
    }

    pub(super) fn send(&mut self, reply: &Reply) {
        if self.count_error(reply) {
            return self.close_for("too many errors");
        }
        let clean;
        // Folded without an early exit, so that the test runs over whole words (an
        // octet at a time, it was a fortieth of a fuzzed session).
        let is_text = |l: &String| l.bytes().fold(true, |ok, b| ok & is_textstring(b));
        let reply = if reply.lines.iter().all(is_text) {
            reply
        } else {
            clean = Reply {
                lines: reply.lines.iter().map(|l| ascii_text(l)).collect(),
                ..reply.clone()
            };
            &clean
        };
        let bytes = if self.config.deviations.has(Deviation::MultilineAllFinal) {
            // Deviation: every line formatted as if it were the last.
            reply
                .lines
                .iter()
                .flat_map(|l| {
                    let mut one = Reply::new(reply.code, l.clone());
                    one.enhanced = reply.enhanced;
                    one.to_bytes()
                })
                .collect()
        } else {
            reply.to_bytes()
        };
        self.send_raw(bytes);
    }

    /// Queue bytes to write, joined with any not yet taken so that pipelined replies
    /// leave in one write.
    pub(super) fn send_raw(&mut self, bytes: Vec<u8>) {
        match self.out.back_mut() {
            Some(Output::Send(prev)) => prev.extend_from_slice(&bytes),
            _ => self.out.push_back(Output::Send(bytes)),
        }
    }
}

impl ServerSession {
    /// Where the queued output ends now: for [`repeat_since`](Self::repeat_since).
    pub(super) fn out_mark(&self) -> (usize, usize) {
        match self.out.back() {
            Some(Output::Send(b)) => (self.out.len() - 1, b.len()),
            _ => (self.out.len(), 0),
        }
    }

    /// Queue again the octets queued since `mark` (planted bug
    /// [`Deviation::PlantedDoubleReply`]: one command, two replies).
    pub(super) fn repeat_since(&mut self, (at, offset): (usize, usize)) {
        let mut again = Vec::new();
        for (n, o) in self.out.iter().enumerate().skip(at) {
            match o {
                Output::Send(b) => {
                    again.extend_from_slice(
                        b.get(if n == at { offset } else { 0 }..)
                            .unwrap_or_default(),
                    );
                }
                _ => break,
            }
        }
        if !again.is_empty() {
            self.send_raw(again);
        }
    }
}

/// RFC 5321 §4.2 `textstring`: HT and printable ASCII.
fn is_textstring(b: u8) -> bool {
    b == b'\t' || (32..=126).contains(&b)
}

/// Reply text in ASCII: section signs spelled out, anything else that is not a
/// `textstring` octet (echoed client text, say) replaced by `?`.
fn ascii_text(s: &str) -> String {
    s.replace('§', "section ")
        .chars()
        .map(|c| {
            if c.is_ascii() && is_textstring(c as u8) {
                c
            } else {
                '?'
            }
        })
        .collect()
}
