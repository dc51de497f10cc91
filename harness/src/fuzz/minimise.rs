//! Minimising a finding: delta debugging at step level (drop each step in turn), then
//! inside each remaining step (drop runs of octets, halving their length, or whole
//! lines of a batch), keeping every change after which the same finding still shows.
//! Bounded by a budget of sessions, so a slow target cannot hold the campaign.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::exec::{self, Limits, Trace};
use super::finding::Finding;
use super::input::{Input, Step};
use super::oracle::{self, Judged, Oracle};
use super::store::Aside;

/// The most time one finding's minimisation takes: a hung target costs seconds per
/// session, and the campaign must go on.
pub const TIME: Duration = Duration::from_secs(30);

/// What decides whether a smaller input still shows the finding: one target and an
/// oracle here, every party of a differential campaign in `differ.rs`.
pub trait Probe {
    /// What a showing input comes with (its trace and words, or every party's).
    type Evidence;

    /// Run `candidate`: its evidence when it shows the same finding.
    fn shows(&mut self, candidate: &Input) -> impl Future<Output = Option<Self::Evidence>>;
}

/// The smallest input found, within `budget` sessions and [`TIME`], that `probe`
/// still sees the finding in: steps dropped last first, then octets inside each step
/// in halving runs.
pub async fn shrink<P: Probe>(
    probe: &mut P,
    mut budget: usize,
    input: Input,
    evidence: P::Evidence,
) -> (Input, P::Evidence) {
    let deadline = Instant::now() + TIME;
    let mut best = (input, evidence);
    let mut try_one =
        async |candidate: Input, best: &mut (Input, P::Evidence), budget: &mut usize| {
            *budget = budget.saturating_sub(1);
            match probe.shows(&candidate).await {
                Some(e) => {
                    *best = (candidate, e);
                    true
                }
                None => false,
            }
        };
    // Steps, last first.
    let mut n = best.0.steps.len();
    while n > 0 && budget > 0 && Instant::now() < deadline {
        n -= 1;
        if n >= best.0.steps.len() || best.0.steps.len() == 1 {
            continue;
        }
        let mut shorter = best.0.clone();
        shorter.steps.remove(n);
        try_one(shorter, &mut best, &mut budget).await;
    }
    // Octets inside each step.
    for n in 0..best.0.steps.len() {
        let mut chunk = best.0.steps[n].octets() / 2;
        while chunk > 0 && budget > 0 && Instant::now() < deadline {
            let mut at = 0;
            while budget > 0 && Instant::now() < deadline {
                let Some(smaller) = without(&best.0.steps[n], at, chunk) else {
                    break;
                };
                let mut candidate = best.0.clone();
                candidate.steps[n] = smaller;
                if !try_one(candidate, &mut best, &mut budget).await {
                    at += chunk;
                }
            }
            chunk /= 2;
        }
    }
    best
}

/// One target, one oracle: the same class and identity must show.
pub struct Shrink {
    /// Where the target listens.
    pub target: SocketAddr,
    /// Session deadlines.
    pub limits: Limits,
    /// Sessions at most.
    pub budget: usize,
    /// The finding's class.
    pub oracle: Oracle,
    /// The finding's identity.
    pub key: u64,
    /// What the sessions tried acknowledged (the store oracle counts them).
    pub aside: Aside,
}

impl Probe for Shrink {
    type Evidence = (Trace, String);

    async fn shows(&mut self, candidate: &Input) -> Option<(Trace, String)> {
        let t = exec::run(self.target, candidate, self.limits).await;
        self.aside.add(candidate, &t);
        match oracle::judge(candidate, &t) {
            Judged::Finding { what, .. } if oracle::shows(candidate, &t, self.oracle, self.key) => {
                Some((t, what))
            }
            _ => None,
        }
    }
}

impl Shrink {
    /// The smallest input found that still shows the finding.
    pub async fn run(&mut self, input: Input, trace: Trace, what: String) -> Finding {
        let original_steps = input.steps.len();
        let budget = self.budget;
        let (input, (trace, what)) = shrink(self, budget, input, (trace, what)).await;
        Finding::shown((self.oracle, self.key), original_steps, input, trace, what)
    }
}

/// `step` with `len` octets from `at` taken out (a batch loses whole lines); `None`
/// when nothing is left to take at `at`.
fn without(step: &Step, at: usize, len: usize) -> Option<Step> {
    let cut = |b: &Vec<u8>| -> Option<Vec<u8>> {
        if at >= b.len() || b.len() <= 1 {
            return None;
        }
        let mut out = b.clone();
        out.drain(at..(at + len).min(b.len()));
        Some(out)
    };
    match step {
        Step::Line(b) => cut(b).map(Step::Line),
        Step::Raw(b) => cut(b).map(Step::Raw),
        Step::Body(b) => cut(b).map(Step::Body),
        Step::Batch { lines, .. } if lines.len() > 1 && at < lines.len() => {
            let mut lines = lines.clone();
            lines.remove(at);
            Some(Step::Batch {
                lines,
                cuts: Vec::new(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{Step, without};

    #[test]
    fn octets_and_lines_come_out() {
        let s = Step::Raw(b"abcdef".to_vec());
        assert_eq!(without(&s, 1, 2), Some(Step::Raw(b"adef".to_vec())));
        assert_eq!(without(&s, 6, 2), None);
        let b = Step::Batch {
            lines: vec![b"A".to_vec(), b"B".to_vec()],
            cuts: vec![1],
        };
        assert_eq!(
            without(&b, 0, 1),
            Some(Step::Batch {
                lines: vec![b"B".to_vec()],
                cuts: Vec::new()
            })
        );
        assert_eq!(without(&Step::Starttls, 0, 1), None);
    }
}
