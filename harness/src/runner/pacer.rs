//! How many cases run at once against a target, adapted to what the target takes.
//!
//! Servers limit connections (Exim takes 20 by default, and greets the rest with
//! `421 Too many concurrent SMTP connections`) and hold greetings back under load
//! (RFC 5321 §4.5.3.2.1). Neither is a verdict on what a case tests, so the runner
//! retries such an attempt and runs fewer cases at once: additive increase after a
//! round of attempts the target served, multiplicative decrease on each refusal
//! (the AIMD rule of TCP congestion control). The report records the limits the run
//! went through and every retry.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The adaptive limit on cases in flight.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
    wake: Notify,
}

#[derive(Debug, Clone, Copy)]
struct State {
    /// The most allowed (`--jobs`).
    max: usize,
    /// Allowed now.
    limit: usize,
    /// In flight now.
    active: usize,
    /// Attempts served since the last change of `limit`.
    served: usize,
    /// The limit after discovery.
    initial: usize,
    /// The lowest limit of the run.
    lowest: usize,
    /// Attempts the target refused.
    refusals: usize,
    /// Attempts the target served.
    served_total: usize,
}

/// What the pacer went through, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacerStats {
    /// `--jobs`.
    pub requested: usize,
    /// The limit the run started with (after the discovery probe).
    pub initial: usize,
    /// The lowest limit during the run.
    pub lowest: usize,
    /// The limit at the end.
    pub last: usize,
    /// Attempts the target refused (each one retried or given up).
    pub refusals: usize,
}

/// A slot for one attempt; dropping it frees the slot.
pub struct Slot {
    pacer: Arc<Pacer>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut s) = self.pacer.state.lock() {
            s.active = s.active.saturating_sub(1);
        }
        self.pacer.wake.notify_waiters();
    }
}

impl Pacer {
    /// A pacer allowing `initial` cases at once, never more than `max`.
    pub fn new(max: usize, initial: usize) -> Arc<Self> {
        let max = max.max(1);
        let initial = initial.clamp(1, max);
        Arc::new(Self {
            state: Mutex::new(State {
                max,
                limit: initial,
                active: 0,
                served: 0,
                initial,
                lowest: initial,
                refusals: 0,
                served_total: 0,
            }),
            wake: Notify::new(),
        })
    }

    /// Wait for a slot.
    pub async fn acquire(self: &Arc<Self>) -> Slot {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            // Register before looking, so a release between the look and the wait is
            // not missed.
            notified.as_mut().enable();
            if let Ok(mut s) = self.state.lock()
                && s.active < s.limit
            {
                s.active += 1;
                return Slot {
                    pacer: Arc::clone(self),
                };
            }
            notified.await;
        }
    }

    /// The target served an attempt: after a whole round at this limit, allow one more.
    pub fn served(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.served += 1;
            s.served_total += 1;
            if s.served >= s.limit && s.limit < s.max {
                s.limit += 1;
                s.served = 0;
            }
        }
        self.wake.notify_waiters();
    }

    /// The target refused an attempt (421, no greeting in time, connection refused):
    /// halve the limit.
    pub fn refused(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.refusals += 1;
            s.limit = (s.limit / 2).max(1);
            s.lowest = s.lowest.min(s.limit);
            s.served = 0;
        }
    }

    /// Is a refused attempt worth another try? Not once the target has refused twice
    /// as many attempts as run at once without serving a single one: it is down or
    /// hostile, not busy, and waiting on it would only make the run slow.
    pub fn worth_retrying(&self) -> bool {
        self.state
            .lock()
            .is_ok_and(|s| s.served_total > 0 || s.refusals < 2 * s.max)
    }

    /// What happened so far.
    pub fn stats(&self) -> PacerStats {
        self.state.lock().map_or_else(
            |_| PacerStats::default(),
            |s| PacerStats {
                requested: s.max,
                initial: s.initial,
                lowest: s.lowest,
                last: s.limit,
                refusals: s.refusals,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refusals_halve_and_rounds_add_one() {
        let p = Pacer::new(32, 8);
        p.refused();
        p.refused();
        assert_eq!(p.stats().last, 2);
        for _ in 0..2 {
            p.served();
        }
        assert_eq!(p.stats().last, 3);
        let s = p.stats();
        assert_eq!(
            (s.requested, s.initial, s.lowest, s.refusals),
            (32, 8, 2, 2)
        );
        p.refused();
        p.refused();
        p.refused();
        assert_eq!(p.stats().last, 1, "never below one");
    }

    #[tokio::test]
    async fn a_target_that_never_serves_is_not_retried_for_ever() {
        let p = Pacer::new(2, 2);
        for _ in 0..3 {
            p.refused();
            assert!(p.worth_retrying());
        }
        p.refused();
        assert!(!p.worth_retrying(), "four refusals, nothing served");
        p.served();
        assert!(p.worth_retrying(), "a busy server, not a dead one");
    }

    #[tokio::test]
    async fn slots_are_limited_and_freed() {
        let p = Pacer::new(2, 2);
        let a = p.acquire().await;
        let _b = p.acquire().await;
        let waiting = tokio::spawn({
            let p = Arc::clone(&p);
            async move {
                let _c = p.acquire().await;
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a third attempt waits");
        drop(a);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiting)
            .await
            .expect("freed slot taken")
            .expect("task");
    }
}
