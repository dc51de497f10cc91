//! Suspicions met while every checking slot is taken. Checking one (sending it
//! again, minimising it) takes seconds, and a campaign meets most suspicions in
//! bursts: the seeds alone show dozens of disagreements in their first generation.
//! Dropping the ones met in a burst lost exactly the rare ones — the catalogue's
//! smuggling seeds, met once each, never reached a differential's report. So they
//! wait here, one per identity, and are checked most damaging first as slots free.

use std::collections::BTreeMap;
use std::time::Duration;

use super::input::Input;

/// How long a campaign that ended goes on checking the suspicions still waiting.
pub(super) const GRACE: Duration = Duration::from_secs(30);

/// A campaign's checking of suspicions, in slots, with a [`Waiting`] queue: the
/// single-target confirmations and the differential's checks end the same way.
pub(super) trait Checks {
    /// Take in the checks that ended (all those under way, waiting for them, with
    /// `wait`).
    async fn collect(&mut self, wait: bool);
    /// Start the suspicions waiting, most severe first, as slots allow.
    fn start_waiting(&mut self);
    /// No suspicion waits.
    fn nothing_waits(&self) -> bool;

    /// The campaign ended: the suspicions still waiting are checked for up to
    /// [`GRACE`]; the caller counts those left ([`Waiting::abandon`]).
    async fn check_the_rest(&mut self) {
        let until = tokio::time::Instant::now() + GRACE;
        loop {
            self.collect(true).await;
            if self.nothing_waits() || tokio::time::Instant::now() >= until {
                break;
            }
            self.start_waiting();
        }
    }
}

/// Suspicions waiting at most: past it, a new one is counted and dropped (a
/// campaign meeting that many new identities at once meets them again).
const BOUND: usize = 64;

/// Suspicions waiting for a checking slot, ranked by `R` (lowest first), one per
/// identity.
#[derive(Debug)]
pub struct Waiting<R> {
    queue: BTreeMap<(R, u64), Input>,
    /// Suspicions not kept: over the bound, or still waiting when the campaign ended.
    pub dropped: u64,
}

impl<R> Default for Waiting<R> {
    fn default() -> Self {
        Self {
            queue: BTreeMap::new(),
            dropped: 0,
        }
    }
}

impl<R: Ord + Copy> Waiting<R> {
    /// Keep `input` as the suspicion of identity `key`, unless one waits already.
    pub fn push(&mut self, rank: R, key: u64, input: &Input) {
        if self.holds(key) {
            return;
        }
        if self.queue.len() >= BOUND {
            self.dropped += 1;
            return;
        }
        self.queue.insert((rank, key), input.clone());
    }

    /// A suspicion of identity `key` waits.
    pub fn holds(&self, key: u64) -> bool {
        self.queue.keys().any(|(_, k)| *k == key)
    }

    /// Nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The most damaging suspicion waiting.
    pub fn pop(&mut self) -> Option<(R, u64, Input)> {
        self.queue.pop_first().map(|((r, k), i)| (r, k, i))
    }

    /// The campaign ends: whatever waits is dropped, and counted.
    pub fn abandon(&mut self) {
        self.dropped += self.queue.len() as u64;
        self.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::input::Step;

    fn input(b: &[u8]) -> Input {
        Input {
            steps: vec![Step::Line(b.to_vec())],
        }
    }

    #[test]
    fn the_most_damaging_waits_least_and_an_identity_waits_once() {
        let mut w = Waiting::default();
        w.push(3u8, 10, &input(b"NOOP"));
        w.push(1u8, 20, &input(b"DATA"));
        w.push(1u8, 20, &input(b"RSET"));
        assert!(w.holds(10) && w.holds(20) && !w.holds(30));
        assert_eq!(w.pop(), Some((1, 20, input(b"DATA"))));
        assert_eq!(w.pop().map(|(r, k, _)| (r, k)), Some((3, 10)));
        assert_eq!(w.pop(), None);
    }

    #[test]
    fn past_the_bound_and_at_the_end_suspicions_are_counted_as_dropped() {
        let mut w = Waiting::default();
        for k in 0..(BOUND as u64 + 5) {
            w.push(0u8, k, &input(b"NOOP"));
        }
        assert_eq!(w.dropped, 5);
        w.abandon();
        assert_eq!(w.dropped, BOUND as u64 + 5);
        assert_eq!(w.pop(), None);
    }
}
