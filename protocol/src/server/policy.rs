//! The choices the RFCs leave to a server, where they touch the session as a whole:
//! closing on a bare line end, slowing down and hanging up on clients that make
//! errors (RFC 5321 §7.8 lets a server defend itself), and the 421 that announces a
//! close (§3.8).

use super::{Output, ServerSession};
use crate::reply::{EnhancedCode, Reply, ReplyCode};

impl ServerSession {
    /// True if `bytes`, after what came before, hold a CR not followed by LF or an LF
    /// not preceded by CR.
    pub(super) fn bare_line_end_in(&mut self, bytes: &[u8]) -> bool {
        let mut prev = self.last_octet;
        for &b in bytes {
            if (b == b'\n' && prev != Some(b'\r')) || (prev == Some(b'\r') && b != b'\n') {
                return true;
            }
            prev = Some(b);
        }
        self.last_octet = prev;
        false
    }

    /// Count an error reply for the error limits; true when it is one too many and the
    /// session must close instead (a pause is queued before the replies past the soft
    /// limit).
    pub(super) fn count_error(&mut self, reply: &Reply) -> bool {
        let Some(limits) = self.config.error_limits else {
            return false;
        };
        if !self.greeted
            || !reply.code.is_negative()
            || reply.code == ReplyCode::SERVICE_NOT_AVAILABLE
        {
            return false;
        }
        self.errors += 1;
        if self.errors > limits.close_after {
            return true;
        }
        if self.errors > limits.sleep_after {
            self.out
                .push_back(Output::Pause(std::time::Duration::from_millis(
                    limits.sleep_ms,
                )));
        }
        false
    }

    /// 421 and close (RFC 5321 §3.8: a server that must end the session says so with
    /// 421 first).
    pub(super) fn close_for(&mut self, why: &str) {
        let r = self.make_reply(
            ReplyCode::SERVICE_NOT_AVAILABLE,
            EnhancedCode::SYSTEM_TEMP,
            &format!("{} {why}, closing connection", self.config.hostname),
        );
        // Not through `send`: the 421 must not count as an error of its own.
        let bytes = r.to_bytes();
        self.send_raw(bytes);
        self.close();
    }
}
