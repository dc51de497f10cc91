//! Feedback without instrumentation: what the target did, folded into a bit map. An
//! input that sets a bit no input set before reached a state of the target not seen
//! yet, and is kept in the corpus.
//!
//! The features: each reply code after the one before (an edge of the target's state
//! machine), each (verb, code) pair, enhanced status codes, the wording of replies
//! (digits and names dropped), multiline shapes, where and how the session ended, and
//! a latency bucket (log2 of milliseconds) per verb. A word that is no SMTP verb is
//! one verb here, as in a finding's identity: a mutated "QITIT" is a state of the
//! target no more than "QUITX" is, and every spelling counted as new filled the
//! corpus with them (20,844 bits in 120 s against the embedded server, and a planted
//! bug of one verb sequence not reached). A coverage-guided target could
//! add its own bits through [`Map::add`]: the seam for a grey-box hook.

use super::exec::{End, Sync, Trace};
pub use super::hash::hash;
use super::input::Input;
use super::oracle::command_identity;

/// Bits in the map: enough that distinct states rarely share one.
pub const BITS: usize = 1 << 16;

/// The kinds of feature, in the order of their tags: the names `stats.json` counts
/// bits under, so a campaign whose states keep growing shows which feature grows.
pub const KINDS: [&str; 9] = [
    "transition",
    "verb_code",
    "enhanced",
    "wording",
    "lines",
    "latency",
    "end",
    "short",
    "sync",
];

/// The map of every feature seen so far.
pub struct Map {
    bits: Vec<u64>,
    set: usize,
    by_kind: [usize; KINDS.len()],
}

impl Default for Map {
    fn default() -> Self {
        Self {
            bits: vec![0; BITS / 64],
            set: 0,
            by_kind: [0; KINDS.len()],
        }
    }
}

impl Map {
    /// Set the bit of `feature`; true when it was new.
    pub fn add(&mut self, feature: u64) -> bool {
        let i = (crate::send::route::finalise(feature) % BITS as u64) as usize;
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if self.bits[word] & bit != 0 {
            return false;
        }
        self.bits[word] |= bit;
        self.set += 1;
        true
    }

    /// Bits set so far: the distinct states seen.
    pub fn len(&self) -> usize {
        self.set
    }

    /// The bits of each kind of feature observed ([`KINDS`]); bits set through
    /// [`Map::add`] alone are in no kind.
    pub fn by_kind(&self) -> std::collections::BTreeMap<String, usize> {
        KINDS
            .iter()
            .zip(self.by_kind)
            .map(|(k, n)| ((*k).to_owned(), n))
            .collect()
    }

    /// No bit set yet.
    pub fn is_empty(&self) -> bool {
        self.set == 0
    }

    /// Fold a session in; the number of new bits.
    pub fn observe(&mut self, input: &Input, trace: &Trace) -> usize {
        self.observe_as(0, input, trace)
    }

    /// Fold in a session of party `party` of a differential campaign: each party's
    /// states are its own bits (party 0's are those of [`Map::observe`]).
    pub fn observe_as(&mut self, party: u64, input: &Input, trace: &Trace) -> usize {
        let salt = party.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut new = 0;
        for (kind, f) in features(input, trace) {
            if self.add(f ^ salt) {
                self.by_kind[usize::from(kind) - 1] += 1;
                new += 1;
            }
        }
        new
    }
}

/// The features of one session, each with its kind (1-based index into [`KINDS`]).
pub fn features(input: &Input, trace: &Trace) -> Vec<(u8, u64)> {
    let mut out = Vec::with_capacity(trace.answers.len() * 5 + 2);
    let mut prev = 0u16;
    for a in &trace.answers {
        let verb = a
            .step
            .and_then(|n| input.steps.get(n))
            .map_or_else(|| "GREETING".to_owned(), |s| s.verb());
        let v = hash(command_identity(&verb).as_bytes());
        out.push(tag(1, u64::from(prev) << 16 | u64::from(a.code)));
        out.push(tag(2, v ^ u64::from(a.code)));
        if let Some((c, s, d)) = a.enhanced {
            out.push(tag(
                3,
                u64::from(c) << 32 | u64::from(s) << 16 | u64::from(d),
            ));
        }
        out.push(tag(4, a.shape ^ u64::from(a.code)));
        out.push(tag(5, v ^ u64::from(a.lines.min(64) as u16)));
        out.push(tag(
            6,
            v ^ u64::from(64 - a.latency_ms.max(1).leading_zeros()),
        ));
        prev = a.code;
    }
    let (kind, at) = match &trace.end {
        End::Finished => (1, 0),
        End::Unreachable(_) => (2, 0),
        End::NotServing(code) => (3, u64::from(*code)),
        End::Closed { step, reset, .. } => (4 + u64::from(*reset), step_verb(input, *step)),
        End::Malformed { step, .. } => (6, step_verb(input, *step)),
        End::Tls(..) => (7, 0),
    };
    out.push(tag(7, kind << 48 ^ at ^ u64::from(prev)));
    out.push(tag(8, trace.short.min(8) as u64));
    // How the sync suffix went: hung, or how many replies and the last code.
    out.push(tag(
        9,
        match &trace.sync {
            Sync::NotSent => 0,
            Sync::Hung => 1,
            Sync::Replies(c) => {
                (2 + c.len().min(8) as u64) << 16 | u64::from(c.last().copied().unwrap_or(0))
            }
            Sync::Tail(c) => {
                (16 + c.len().min(8) as u64) << 16 | u64::from(c.last().copied().unwrap_or(0))
            }
        },
    ));
    out
}

fn step_verb(input: &Input, step: Option<usize>) -> u64 {
    step.and_then(|n| input.steps.get(n))
        .map_or(0, |s| hash(command_identity(&s.verb()).as_bytes()))
}

fn tag(kind: u8, value: u64) -> (u8, u64) {
    (
        kind,
        crate::send::route::finalise(value ^ u64::from(kind).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
    )
}

#[cfg(test)]
mod tests {
    use super::Map;

    #[test]
    fn a_feature_is_new_once() {
        let mut m = Map::default();
        assert!(m.add(42));
        assert!(!m.add(42));
        assert!(m.add(43));
        assert_eq!(m.len(), 2);
    }
}
