//! The latency oracle: a reply that takes ten times the 99th percentile of its
//! command's replies (and at least [`FLOOR_MS`]) when the same input sent again twice
//! is that slow again. A server that answers one input slowly every time has work
//! that grows with the input (a quadratic parser, a lookup per octet, a regex that
//! backtracks): a denial of service a few sessions can bring about.
//!
//! What is not a finding either: a reply slow only when its command was pipelined
//! (the same commands one write each are answered in time): a server may hold its
//! replies while pipelined input is pending (RFC 2920 §3.1). Counted as
//! `slowed_pipelined`.
//!
//! What is not a finding: a reply slowed after refusals (an error sleep, Postfix's
//! `smtpd_error_sleep_time` once `smtpd_soft_error_limit` is passed, a `delay`
//! modifier in an Exim ACL that refuses): a reply that comes after [`ERRORS_BEFORE`] refusals in
//! its session is counted as `slowed_after_errors`, not judged. Replies slower than
//! `--timeout` are not seen as latency at all (they are `unanswered_steps`).

use std::collections::HashMap;
use std::net::SocketAddr;

use smtp_protocol::ReplyCode;

use super::exec::{self, Answer, Limits, Trace};
use super::input::{self, Input, Step};
use super::store::Aside;

/// Replies of a command before its percentile is trusted.
const WARM: u64 = 500;
/// How many times the 99th percentile a reply must take.
const FACTOR: u64 = 10;
/// The least latency that is an outlier: below it, a busy machine's scheduling.
pub const FLOOR_MS: u64 = 50;
/// Refusals in a session after which a slow reply is the server's error sleep.
pub const ERRORS_BEFORE: usize = 3;

/// Outliers of one identity the pipelining explained, after which the next ones
/// are counted without being sent again (each check costs three sessions).
const EXPLAINED_ENOUGH: u32 = 3;

/// Replies per command, by log2 bucket of milliseconds.
#[derive(Debug, Default)]
pub struct Latencies {
    by_verb: HashMap<String, [u64; 24]>,
    /// Outliers the pipelining explained, by finding identity.
    explained: HashMap<u64, u32>,
}

/// A reply slower than its command's usual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlier {
    /// The step it answered.
    pub step: usize,
    /// Its command.
    pub verb: String,
    /// How long it took.
    pub ms: u64,
    /// The bar it passed: ten times the command's 99th percentile, or the floor.
    pub bar_ms: u64,
}

/// What one session shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Nothing slow.
    Usual,
    /// A slow reply after refusals: the server's error sleep.
    AfterErrors,
    /// A slow reply.
    Slow(Outlier),
}

impl Latencies {
    /// Count `trace`'s replies in.
    pub fn add(&mut self, input: &Input, trace: &Trace) {
        for a in &trace.answers {
            if let Some(verb) = verb(input, a) {
                let hist = self.by_verb.entry(verb).or_insert([0; 24]);
                hist[bucket(a.latency_ms)] += 1;
            }
        }
    }

    /// The bar a reply to `verb` must pass: ten times its 99th percentile (the upper
    /// edge of that bucket), at least [`FLOOR_MS`]; `None` before [`WARM`] replies.
    pub fn bar(&self, verb: &str) -> Option<u64> {
        let hist = self.by_verb.get(verb)?;
        let total: u64 = hist.iter().sum();
        if total < WARM {
            return None;
        }
        let mut seen = 0;
        for (b, n) in hist.iter().enumerate() {
            seen += n;
            if seen * 100 >= total * 99 {
                return Some(((1u64 << b) * FACTOR).max(FLOOR_MS));
            }
        }
        None
    }

    /// An outlier of identity `key` was slow only pipelined.
    pub fn explain(&mut self, key: u64) {
        *self.explained.entry(key).or_default() += 1;
    }

    /// Outliers of identity `key` were explained by the pipelining often enough
    /// that the next one is taken to be the same.
    pub fn explained_enough(&self, key: u64) -> bool {
        self.explained
            .get(&key)
            .is_some_and(|&n| n >= EXPLAINED_ENOUGH)
    }

    /// The first reply in `trace` over its command's bar. Replies read after a step
    /// whose replies did not come in time are not judged: they may be the late
    /// replies of that step, read by a later one and timed from its write (Postfix's
    /// hardened profile took 1.2 s over an EHLO; its 250 was read by the fifth step
    /// after it and filed as a 194-ms reply to that step's `START`).
    pub fn judge(&self, input: &Input, trace: &Trace) -> Seen {
        let mut refused = 0;
        for a in &trace.answers {
            let (Some(n), Some(verb)) = (a.step, verb(input, a)) else {
                continue;
            };
            if trace.first_short.is_some_and(|late| n > late) {
                break;
            }
            if let Some(bar) = self.bar(&verb)
                && a.latency_ms >= bar
            {
                if refused >= ERRORS_BEFORE {
                    return Seen::AfterErrors;
                }
                return Seen::Slow(Outlier {
                    step: n,
                    verb,
                    ms: a.latency_ms,
                    bar_ms: bar,
                });
            }
            if ReplyCode::new(a.code).is_some_and(ReplyCode::is_negative) {
                refused += 1;
            }
        }
        Seen::Usual
    }
}

/// What an input with a slow reply did when sent again.
#[derive(Debug)]
pub enum Again {
    /// Not that slow once: timing, not the input.
    NotSlow,
    /// Slow twice, but not with its commands one write each: the server held its
    /// replies while pipelined input was pending (RFC 2920 §3.1).
    Pipelined,
    /// Slow every time: the finding, with the last trace and its wording.
    Slow(Box<Trace>, String),
}

/// Send `input`, whose reply `o` was slow, again twice with `limits` (patient ones:
/// the reply is to be waited for, not cut), then its commands one write each; what
/// the sessions acknowledged is added to `aside`.
pub async fn again(
    target: SocketAddr,
    limits: Limits,
    input: &Input,
    o: &Outlier,
    aside: &mut Aside,
) -> Again {
    let mut last = None;
    for _ in 0..2 {
        let t = exec::run(target, input, limits).await;
        aside.add(input, &t);
        if !slow_again(input, &t, &o.verb, o.bar_ms) {
            return Again::NotSlow;
        }
        last = Some(t);
    }
    // A trailing pause keeps the sync suffix off the last command's write.
    let mut slow = input.unpipelined();
    slow.steps.push(Step::Pause(0));
    let t = exec::run(target, &slow, limits).await;
    aside.add(&slow, &t);
    if !slow_again(&slow, &t, &o.verb, o.bar_ms) {
        return Again::Pipelined;
    }
    let what = format!(
        "the reply to {verb} took {ms} ms, over ten times the 99th percentile of {verb} \
         replies (bar {bar} ms), and as long again both times the input was sent again, \
         its commands one write each too",
        verb = o.verb,
        ms = o.ms,
        bar = o.bar_ms
    );
    Again::Slow(Box::new(last.unwrap_or(t)), what)
}

/// `trace` has a reply to `verb` at least `bar` milliseconds slow.
pub fn slow_again(input: &Input, trace: &Trace, verb: &str, bar: u64) -> bool {
    trace
        .answers
        .iter()
        .any(|a| a.latency_ms >= bar && self::verb(input, a).is_some_and(|v| v == verb))
}

/// The command `a` answers: the line the session paired it with, else its step's
/// verb (a pipelined step's replies each have their own command, and the same
/// input one line per write is judged by the same one).
fn verb(input: &Input, a: &Answer) -> Option<String> {
    let step = input.steps.get(a.step?)?;
    Some(
        a.line
            .as_deref()
            .map_or_else(|| step.verb(), input::line_verb),
    )
}

fn bucket(ms: u64) -> usize {
    (64 - ms.max(1).leading_zeros() as usize).min(23)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::exec::{Answer, End};
    use crate::fuzz::input::Step;

    fn trace(replies: &[(u16, u64)]) -> Trace {
        let mut t = Trace::unreachable("");
        t.end = End::Finished;
        t.answers = replies
            .iter()
            .enumerate()
            .map(|(n, &(code, ms))| Answer {
                latency_ms: ms,
                ..Answer::after(n, code)
            })
            .collect();
        t
    }

    fn noops(n: usize) -> Input {
        Input {
            steps: vec![Step::Line(b"NOOP".to_vec()); n],
        }
    }

    #[test]
    fn replies_after_a_step_given_up_on_are_not_timed() {
        let mut l = Latencies::default();
        let one = noops(1);
        for _ in 0..WARM {
            l.add(&one, &trace(&[(250, 1)]));
        }
        // The first step's reply did not come in time; the slow reply read at the
        // second step may be the first's, late.
        let mut t = trace(&[(250, 1), (250, 900)]);
        t.first_short = Some(0);
        assert_eq!(l.judge(&noops(2), &t), Seen::Usual);
        t.first_short = None;
        assert!(matches!(l.judge(&noops(2), &t), Seen::Slow(_)));
    }

    #[test]
    fn a_reply_ten_times_the_p99_is_slow_after_the_warm_up() {
        let mut l = Latencies::default();
        let one = noops(1);
        assert_eq!(
            l.judge(&one, &trace(&[(250, 400)])),
            Seen::Usual,
            "not warm"
        );
        for _ in 0..WARM {
            l.add(&one, &trace(&[(250, 1)]));
        }
        // p99 in the 1 ms bucket (upper edge 2 ms): the bar is the floor.
        assert_eq!(l.bar("NOOP"), Some(FLOOR_MS));
        assert_eq!(l.judge(&one, &trace(&[(250, 10)])), Seen::Usual);
        let Seen::Slow(o) = l.judge(&one, &trace(&[(250, 80)])) else {
            panic!("not slow");
        };
        assert_eq!((o.verb.as_str(), o.ms), ("NOOP", 80));
        // After three refusals a slow reply is the server's error sleep.
        let t = trace(&[(500, 1), (500, 1), (500, 1), (250, 900)]);
        assert_eq!(l.judge(&noops(4), &t), Seen::AfterErrors);
        assert!(slow_again(&noops(4), &t, "NOOP", 800));
        assert!(!slow_again(&noops(4), &t, "NOOP", 1000));
    }
}
