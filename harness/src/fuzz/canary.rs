//! The state-regression oracle: one ordinary transaction (EHLO, MAIL, RCPT, DATA, a
//! short message, the sync suffix), the canary, run before the campaign and every
//! [`EVERY`] during it. A server whose fuzzed sessions left a mark on the state they
//! share (a lock never released, a pool drained, a counter wrapped, a cache poisoned)
//! answers it otherwise, or slower, than at the start. A canary that differs is run
//! again with the campaign paused for a second: only a difference that outlives the
//! load is a finding. A 421 is the target protecting itself, counted apart.

use std::time::{Duration, Instant};

use super::exec::{self, Sync, Trace};
use super::input::{Input, Step};
use super::oracle::Oracle;
use crate::scenario::template::Vars;

/// How often the canary flies.
pub const EVERY: Duration = Duration::from_secs(10);
/// How long the campaign is paused before a different canary is run again.
pub const QUIET: Duration = Duration::from_secs(1);
/// A canary this many times slower than at the start (and [`SLOWER_BY`] more) is
/// slow.
pub const SLOWER_TIMES: u32 = 10;
/// See [`SLOWER_TIMES`].
pub const SLOWER_BY: Duration = Duration::from_millis(500);

/// The canary transaction, from the campaign's variables: a message to the target's
/// own recipient, as a client that breaks no rule sends it.
pub fn input(vars: &Vars) -> Option<Input> {
    let var = |name: &str| vars.get(name).filter(|v| !v.is_empty());
    let line = |text: String| Step::Line(text.into_bytes());
    Some(Input {
        steps: vec![
            line(format!("EHLO {}", var("client.helo")?)),
            line(format!("MAIL FROM:<{}>", var("client.from")?)),
            line(format!("RCPT TO:<{}>", var("target.rcpt")?)),
            line("DATA".into()),
            Step::Body(
                b"Subject: smtpspec fuzz canary\r\n\r\nA transaction sent between fuzzed \
                  sessions; it should be answered as the first one was.\r\n.\r\n"
                    .to_vec(),
            ),
        ],
    })
}

/// The reply codes of a canary session, greeting and sync suffix included.
pub fn codes(t: &Trace) -> Vec<u16> {
    let mut out: Vec<u16> = t.answers.iter().map(|a| a.code).collect();
    if let Sync::Replies(c) = &t.sync {
        out.extend(c);
    }
    out
}

/// The canary's state in a campaign.
pub(super) struct Canary {
    pub(super) input: Input,
    /// The first run: what every later one is held to.
    pub(super) baseline: Trace,
    next: Instant,
}

/// What one canary run shows against the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Flight {
    /// As at the start.
    Same,
    /// A 421, or no service: the target's protection.
    Throttled,
    /// Other codes.
    Codes,
    /// The same codes, [`SLOWER_TIMES`] slower.
    Slow,
}

impl Canary {
    /// Fly it once for the baseline.
    pub(super) async fn start(
        input: Input,
        target: std::net::SocketAddr,
        limits: exec::Limits,
    ) -> Self {
        let baseline = exec::run(target, &input, limits).await;
        Self {
            input,
            baseline,
            next: Instant::now() + EVERY,
        }
    }

    /// Its time has come (and the next is set).
    pub(super) fn due(&mut self) -> bool {
        if Instant::now() < self.next {
            return false;
        }
        self.next = Instant::now() + EVERY;
        true
    }

    /// `t` against the baseline.
    pub(super) fn compare(&self, t: &Trace) -> Flight {
        let (now, then) = (codes(t), codes(&self.baseline));
        if now.contains(&exec::SHUTTING_DOWN) || matches!(t.end, exec::End::NotServing(_)) {
            return Flight::Throttled;
        }
        if now != then {
            return Flight::Codes;
        }
        let bar = (self.baseline.elapsed * SLOWER_TIMES).max(self.baseline.elapsed + SLOWER_BY);
        if t.elapsed > bar {
            return Flight::Slow;
        }
        Flight::Same
    }
}

impl super::Campaign {
    /// Fly the canary when it is due; a difference that outlives a quiet second is a
    /// `state-regression` finding.
    pub(super) async fn fly_canary(&mut self, permits: &std::sync::Arc<tokio::sync::Semaphore>) {
        let (target, limits) = (self.options.target, self.options.limits);
        let Some(k) = self.canary.as_mut() else {
            return;
        };
        if !k.due() {
            return;
        }
        let input = k.input.clone();
        let t = exec::run(target, &input, limits).await;
        self.stats.canaries += 1;
        if let Some(w) = self.store.as_mut() {
            // The canary's message is acknowledged, and stored.
            w.fold(&input, &t);
        }
        let Some(k) = self.canary.as_ref() else {
            return;
        };
        match k.compare(&t) {
            Flight::Same => return,
            Flight::Throttled => {
                self.stats.canaries_throttled += 1;
                return;
            }
            Flight::Codes | Flight::Slow => {}
        }
        let all = self.pause(permits).await;
        tokio::time::sleep(QUIET).await;
        let again = exec::run(target, &input, limits).await;
        drop(all);
        let Some(k) = self.canary.as_ref() else {
            return;
        };
        let words = |t: &Trace| {
            codes(t)
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (kind, what) = match k.compare(&again) {
            Flight::Codes => (
                "codes",
                format!(
                    "state regression: the canary transaction got {} where it got {} at the \
                     start, and again after a second with the campaign paused",
                    words(&again),
                    words(&k.baseline)
                ),
            ),
            Flight::Slow => (
                "latency",
                format!(
                    "state regression: the canary transaction took {} ms where it took {} ms \
                     at the start, and again after a second with the campaign paused",
                    again.elapsed.as_millis(),
                    k.baseline.elapsed.as_millis()
                ),
            ),
            Flight::Same | Flight::Throttled => {
                self.stats.unconfirm(Oracle::StateRegression.name());
                return;
            }
        };
        let key = super::oracle::key(Oracle::StateRegression, kind, "");
        if self.seen.insert(key) {
            let baseline = Some(k.baseline.clone());
            self.record(Oracle::StateRegression, key, input, again, what, baseline);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canary_needs_its_variables() {
        let mut v = Vars::new();
        assert!(input(&v).is_none());
        v.insert("client.helo".into(), "c.test".into());
        v.insert("client.from".into(), "a@c.test".into());
        v.insert("target.rcpt".into(), "b@s.test".into());
        let i = input(&v).expect("canary");
        assert_eq!(i.steps[2], Step::Line(b"RCPT TO:<b@s.test>".to_vec()));
        assert!(matches!(&i.steps[4], Step::Body(b) if b.ends_with(b"\r\n.\r\n")));
    }
}
