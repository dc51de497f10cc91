//! The client's per-command timeouts (RFC 5321 §4.5.3.2). The session only says which
//! one applies ([`super::Waiting`]); the driver owns the clock.

use std::time::Duration;

use super::Stage;

/// How long a client waits for each reply. [`Timeouts::default`] is the RFC's minimum
/// for each; tests compress them with [`Timeouts::scaled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The 220 greeting: 5 minutes (§4.5.3.2.1).
    pub greeting: Duration,
    /// MAIL: 5 minutes (§4.5.3.2.2).
    pub mail: Duration,
    /// Each RCPT: 5 minutes (§4.5.3.2.3).
    pub rcpt: Duration,
    /// DATA, up to 354: 2 minutes (§4.5.3.2.4).
    pub data_init: Duration,
    /// Each write of the content: 3 minutes (§4.5.3.2.5).
    pub data_block: Duration,
    /// The reply to the final dot: 10 minutes (§4.5.3.2.6), because the server may be
    /// delivering while the client waits.
    pub data_term: Duration,
    /// Every other command (EHLO, STARTTLS, AUTH, QUIT) and the TLS handshake: 5
    /// minutes, the RFC's general figure.
    pub other: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MIN: u64 = 60;
        Self {
            greeting: Duration::from_secs(5 * MIN),
            mail: Duration::from_secs(5 * MIN),
            rcpt: Duration::from_secs(5 * MIN),
            data_init: Duration::from_secs(2 * MIN),
            data_block: Duration::from_secs(3 * MIN),
            data_term: Duration::from_secs(10 * MIN),
            other: Duration::from_secs(5 * MIN),
        }
    }
}

impl Timeouts {
    /// Every timeout multiplied by `factor` (e.g. 0.001 turns minutes into tenths of a
    /// second), keeping their proportions.
    pub fn scaled(self, factor: f64) -> Self {
        let f = |d: Duration| d.mul_f64(factor.max(0.0));
        Self {
            greeting: f(self.greeting),
            mail: f(self.mail),
            rcpt: f(self.rcpt),
            data_init: f(self.data_init),
            data_block: f(self.data_block),
            data_term: f(self.data_term),
            other: f(self.other),
        }
    }

    /// The timeout for a reply at `stage`.
    pub fn for_stage(&self, stage: Stage) -> Duration {
        match stage {
            Stage::Greeting => self.greeting,
            Stage::Mail => self.mail,
            Stage::Rcpt => self.rcpt,
            Stage::Data => self.data_init,
            Stage::Content => self.data_term,
            Stage::Ehlo
            | Stage::Helo
            | Stage::StartTls
            | Stage::Handshake
            | Stage::Auth
            | Stage::Quit => self.other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_rfc_minimums_and_scale_together() {
        let t = Timeouts::default();
        assert_eq!(t.for_stage(Stage::Content), Duration::from_secs(600));
        assert_eq!(t.for_stage(Stage::Data), Duration::from_secs(120));
        let s = t.scaled(0.001);
        assert_eq!(s.for_stage(Stage::Greeting), Duration::from_millis(300));
        assert_eq!(s.data_block, Duration::from_millis(180));
    }
}
