//! Evidence before a finding: the input that showed it is sent again, and it must show
//! again. A silent close is sent again one command line per write, and only an
//! orderly close counts: a server that closes with input unread resets the
//! connection, and the reset throws away what it sent just before (Postfix's 221 to a
//! non-SMTP command was seen lost so), so a reset shows no silence.
//!
//! Confirmations run beside the campaign, not in its fold: a target that closes on
//! many inputs (Postfix after its error limit) makes a suspicion every few sessions,
//! and each confirmation waits for replies one line at a time; run inline they held
//! up every generation behind them. A store look waits for them (their messages are
//! counted before the store is).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::{Id, JoinSet};

use super::Campaign;
use super::exec::{self, End, Limits, Sync, Trace};
use super::input::Input;
use super::latency::{self, Again, Outlier};
use super::oracle::{self, Judged, Oracle};
use super::store::Aside;
use super::waiting::{Checks, Waiting};

/// Confirmations at once, at most; a suspicion met while they run waits its turn
/// ([`Waiting`]).
const AT_ONCE: usize = 8;

/// Confirmations under way.
#[derive(Default)]
pub(super) struct Confirming {
    tasks: JoinSet<Done>,
    /// Each task's identity and input: one confirmation per identity at a time,
    /// and the inputs are suspects of what the target's process shows meanwhile.
    under_way: HashMap<Id, (u64, Input)>,
    /// The campaign's worker permits and pace: a confirmation is one of its
    /// sessions (`--jobs`, `--rate` hold for it too).
    pub(super) permits: Option<Arc<Semaphore>>,
    pub(super) gap: Option<Duration>,
    /// Suspicions met while every slot was taken, most severe first.
    pub(super) waiting: Waiting<Oracle>,
    /// The slow replies of the latency suspicions waiting, by identity.
    slow: HashMap<u64, Outlier>,
}

impl Confirming {
    /// The inputs being sent again now.
    pub(super) fn inputs(&self) -> impl Iterator<Item = &Input> {
        self.under_way.values().map(|(_, i)| i)
    }
}

/// A confirmation's end.
struct Done {
    oracle: Oracle,
    key: u64,
    confirmed: Option<Confirmed>,
    aside: Aside,
    /// A slow reply that was slow only pipelined: the server's right, and its
    /// identity a step nearer to being taken as such without a check.
    pipelined: bool,
}

impl Campaign {
    /// Send `input` again beside the campaign, to confirm a finding of class
    /// `oracle` and identity `key` it seemed to show.
    pub(super) fn start_confirming(&mut self, input: &Input, oracle: Oracle, key: u64) {
        if !self.slot_for(input, oracle, key) {
            return;
        }
        let (target, limits, again) = (self.options.target, self.options.limits, input.clone());
        self.spawn_confirmation(input, key, async move {
            let (confirmed, aside) = confirm(target, limits, &again, oracle, key).await;
            Done {
                oracle,
                key,
                confirmed,
                aside,
                pipelined: false,
            }
        });
    }

    /// Send `input`, whose reply `o` was slow, again beside the campaign
    /// ([`latency::again`]): waited for with patient deadlines, run inline it held up
    /// the fold of every session behind it (a Postfix campaign spent a third of its
    /// time there, the workers idle).
    pub(super) fn start_confirming_slow(&mut self, input: &Input, key: u64, o: Outlier) {
        let oracle = Oracle::LatencyOutlier;
        if !self.slot_for(input, oracle, key) {
            if self.confirming.waiting.holds(key) {
                self.confirming.slow.entry(key).or_insert(o);
            }
            return;
        }
        let (target, limits, again) = (self.options.target, self.options.limits, input.clone());
        self.spawn_confirmation(input, key, async move {
            let mut aside = Aside::default();
            let seen = latency::again(target, limits.patient(), &again, &o, &mut aside).await;
            let (confirmed, pipelined) = match seen {
                Again::Slow(trace, what) => (Some((again, *trace, what, key)), false),
                Again::Pipelined => (None, true),
                Again::NotSlow => (None, false),
            };
            Done {
                oracle,
                key,
                confirmed,
                aside,
                pipelined,
            }
        });
    }

    /// A slot to confirm identity `key` now: none when it is known or being
    /// confirmed, or when every slot is taken (then it waits its turn).
    fn slot_for(&mut self, input: &Input, oracle: Oracle, key: u64) -> bool {
        let c = &mut self.confirming;
        if self.seen.contains(&key) || c.under_way.values().any(|(k, _)| *k == key) {
            return false;
        }
        if c.tasks.len() >= AT_ONCE {
            c.waiting.push(oracle, key, input);
            return false;
        }
        true
    }

    /// Run `check` as one of the campaign's sessions (its permits and pace).
    fn spawn_confirmation(
        &mut self,
        input: &Input,
        key: u64,
        check: impl Future<Output = Done> + Send + 'static,
    ) {
        let c = &mut self.confirming;
        let (permits, gap) = (c.permits.clone(), c.gap);
        let task = c.tasks.spawn(async move {
            let _permit = match permits {
                Some(p) => p.acquire_owned().await.ok(),
                None => None,
            };
            if let Some(gap) = gap {
                tokio::time::sleep(gap).await;
            }
            check.await
        });
        c.under_way.insert(task.id(), (key, input.clone()));
    }

    /// Take in the confirmations that ended (all of them, waiting, with `wait`):
    /// a finding confirmed is minimised and recorded, one that did not show again
    /// is counted as unconfirmed.
    pub(super) async fn collect_confirmations(&mut self, wait: bool) {
        while let Some(done) = self.next_confirmation(wait).await {
            match done.confirmed {
                // A slow reply is recorded as it came: each probe of a minimisation
                // would wait for it.
                Some((shown, trace, what, key)) if self.seen.insert(key) => {
                    if done.oracle == Oracle::LatencyOutlier {
                        self.record(done.oracle, key, shown, trace, what, None);
                    } else {
                        let f = self.minimise(done.oracle, key, shown, trace, what).await;
                        self.push(f);
                    }
                }
                Some(_) => {}
                None if done.pipelined => {
                    self.latencies.explain(done.key);
                    self.stats.slowed_pipelined += 1;
                }
                None => self.stats.unconfirm(done.oracle.name()),
            }
        }
        if !wait {
            self.confirm_waiting();
        }
    }

    /// Start the suspicions waiting, most severe first, as slots allow.
    fn confirm_waiting(&mut self) {
        while self.confirming.tasks.len() < AT_ONCE
            && let Some((oracle, key, input)) = self.confirming.waiting.pop()
        {
            match self.confirming.slow.remove(&key) {
                Some(o) => self.start_confirming_slow(&input, key, o),
                None if oracle == Oracle::LatencyOutlier => {}
                None => self.start_confirming(&input, oracle, key),
            }
        }
    }

    /// After the target died: the confirmations that had ended, recorded as they
    /// are (nothing is left to minimise against); the others dropped.
    pub(super) async fn keep_confirmed(&mut self) {
        while let Some(done) = self.next_confirmation(false).await {
            if let Some((shown, trace, what, key)) = done.confirmed
                && self.seen.insert(key)
            {
                self.record(done.oracle, key, shown, trace, what, None);
            }
        }
        self.confirming.tasks.abort_all();
    }

    /// The next confirmation that ended, its messages counted by the store oracle.
    async fn next_confirmation(&mut self, wait: bool) -> Option<Done> {
        loop {
            let c = &mut self.confirming;
            let next = if wait {
                c.tasks.join_next_with_id().await
            } else {
                c.tasks.try_join_next_with_id()
            }?;
            let id = match &next {
                Ok((id, _)) => *id,
                Err(e) => e.id(),
            };
            c.under_way.remove(&id);
            if let Ok((_, done)) = next {
                self.add_aside(done.aside);
                return Some(done);
            }
        }
    }
}

/// What confirmed a finding: the input that shows it, its trace, the wording and the
/// identity (a silent close confirmed unpipelined has its own).
pub type Confirmed = (Input, Trace, String, u64);

/// The finding of class `oracle` and identity `key` that `input` showed, shown again;
/// and what the sessions sent for it acknowledged.
pub async fn confirm(
    target: SocketAddr,
    limits: Limits,
    input: &Input,
    oracle: Oracle,
    key: u64,
) -> (Option<Confirmed>, Aside) {
    let mut aside = Aside::default();
    if oracle == Oracle::SilentClose {
        let confirmed = silent_close(target, limits, input, &mut aside).await;
        return (confirmed, aside);
    }
    let limits = if oracle == Oracle::Hang {
        limits.patient()
    } else {
        limits
    };
    let again = exec::run(target, input, limits).await;
    aside.add(input, &again);
    let confirmed = match oracle::judge(input, &again) {
        Judged::Finding { what, .. } if oracle::shows(input, &again, oracle, key) => {
            Some((input.clone(), again, what, key))
        }
        _ => None,
    };
    (confirmed, aside)
}

/// A silent close, confirmed one line per write, orderly closes only: a reset can
/// destroy replies the server sent (a kernel's answer to octets it left unread), and
/// Postfix, sent the lines of a long content step one write each, reset sessions
/// after its replies in this project's campaigns. A crash that resets (Exim 4.96
/// after RSET following a non-LAST BDAT chunk) is the log oracle's.
async fn silent_close(
    target: SocketAddr,
    limits: Limits,
    input: &Input,
    aside: &mut Aside,
) -> Option<Confirmed> {
    let slow = input.unpipelined();
    let t = exec::run(target, &slow, limits).await;
    aside.add(&slow, &t);
    let End::Closed {
        step: Some(n),
        reset: false,
        unanswered: 1..,
        verb,
    } = &t.end
    else {
        return None;
    };
    let (n, verb) = (*n, verb.clone().unwrap_or_else(|| slow.steps[*n].verb()));
    match oracle::judge(&slow, &t) {
        Judged::Finding {
            oracle: Oracle::SilentClose,
            verb,
            what,
            ..
        } => {
            let key = oracle::key(Oracle::SilentClose, &verb, &what);
            Some((slow, t, what, key))
        }
        // The last reply refused an earlier line: the server may have closed for that
        // refusal (it said why, RFC 5321 §7.8) or for this line. The lines before it,
        // alone, tell: a server that stays open after them and answers the sync
        // suffix closed for this line.
        Judged::ClosedAfterRefusal if t.answers.last().and_then(|a| a.step) < Some(n) => {
            let before = Input {
                steps: slow.steps[..n].to_vec(),
            };
            let probe = exec::run(target, &before, limits).await;
            aside.add(&before, &probe);
            let stayed = probe.end == End::Finished
                && matches!(&probe.sync, Sync::Replies(codes) if !codes.is_empty());
            if !stayed {
                return None;
            }
            let what = oracle::silent_close_what(false, &verb);
            let key = oracle::key(Oracle::SilentClose, &verb, &what);
            Some((slow, t, what, key))
        }
        _ => None,
    }
}

impl Checks for Campaign {
    async fn collect(&mut self, wait: bool) {
        self.collect_confirmations(wait).await;
    }

    fn start_waiting(&mut self) {
        self.confirm_waiting();
    }

    fn nothing_waits(&self) -> bool {
        self.confirming.waiting.is_empty()
    }
}
