//! The store oracle, `accepted-but-wrong`: when the target's store can be read (the
//! embedded reference server's Maildir, a profile's `maildir`/`mbox`/`files`), the
//! messages it holds are compared with the messages the sessions saw acknowledged,
//! in a delivery agent's store once per recipient accepted ([`Trace::deliveries`]).
//! A server that stores
//! two messages out of one DATA, or one nobody saw acknowledged, has accepted
//! something other than what it said.
//!
//! Two seconds into the campaign, and then every three to eight seconds (the
//! interval grows while the looks are clean), the campaign lets the sessions in
//! flight finish and folds them (no new generation starts until then), so the
//! count is compared with every acknowledgement of every session that could have
//! stored: exact, not a guess. A message whose end went out but whose reply was
//! never read may be there or not, for one more look. A store that delivers late
//! (a queue, then a local delivery agent) only ever holds fewer. More messages than
//! acknowledged is a suspicion; the campaign pauses and sends the recent inputs that
//! reached DATA or BDAT again, in halves, every reply read to the close, until one
//! input alone makes the store gain more than its sessions acknowledged. An input
//! with BDAT whose octets have two readings is not weighed: the reply to its LAST
//! chunk cannot be told from the others.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::Campaign;
use super::exec::{Sync, Trace};
use super::input::Input;
use super::oracle::{self, Oracle};
use crate::profile::store::{MailStore, StoreKind};

/// How often the store is counted, at first and at most.
const LOOK_EVERY: Duration = Duration::from_secs(2);
const LOOK_AT_MOST: Duration = Duration::from_secs(16);
/// The longest time between looks while every look is clean: a look lets the
/// sessions in flight finish, and the slowest of them holds up the rest.
const LOOK_CLEAN: Duration = Duration::from_secs(8);
/// The share of the campaign's time its bisections may take: each pauses every
/// session, and a target whose excesses no input brings back (Postfix ends content
/// on a bare-LF dot, whose 250 a session may leave unread) cost a Postfix campaign a
/// quarter of its time, two or three bisections of 1.3-5 s in 20 s. An excess past
/// the budget is counted as unchecked and judged from there on.
const BISECT_SHARE: u32 = 10;
/// The most suspects kept between two looks.
const SUSPECTS: usize = 4096;
/// How long a probe waits for the store to stop growing.
const SETTLE: Duration = Duration::from_millis(300);
/// The longest a probe waits for it.
const SETTLE_MAX: Duration = Duration::from_secs(3);

/// What sessions run aside from the campaign's generations (confirmations, probes,
/// minimisation, latency checks) acknowledged, and may have stored unseen: the
/// store holds their messages too, so a look that did not count them would take
/// them for an excess no input brings back.
#[derive(Debug, Default, Clone, Copy)]
pub struct Aside {
    messages: usize,
    deliveries: usize,
    unsure: usize,
}

impl Aside {
    /// One more session aside.
    pub fn add(&mut self, input: &Input, trace: &Trace) {
        self.messages += trace.messages();
        self.deliveries += trace.deliveries();
        self.unsure += unsure(input, trace);
    }
}

/// The store and what the campaign saw acknowledged.
pub(super) struct StoreWatch {
    store: MailStore,
    /// Messages acknowledged in the sessions folded so far, plus what the store held
    /// before them and what probes and other pauses added (so that only the
    /// campaign's own sessions are judged).
    expected: usize,
    /// Messages that may or may not be there: their end went out, their reply was
    /// never read (the input closed first, or the reply came after the deadline).
    /// Those of this window, and those of the one before (a store that delivers late
    /// has them by then); older ones expire, so the slack stays small.
    unsure: usize,
    unsure_before: usize,
    /// When the next look is due, and the time between looks: half as long again
    /// after a clean look (up to [`LOOK_CLEAN`]), doubled (up to
    /// [`LOOK_AT_MOST`]) after an excess no input alone brings back (a 250 the
    /// session closed before reading: the store is right, the count was not), so such
    /// sessions cost a bisection now and then, not every look.
    next: Instant,
    every: Duration,
    /// The campaign's pause count at the last look.
    pauses: u64,
    /// When the watch began, and the time its bisections took since.
    began: Instant,
    bisecting: Duration,
    /// The inputs since the last look that reached DATA or BDAT.
    suspects: VecDeque<Input>,
    /// The store is the campaign's own (the embedded server's temporary Maildir):
    /// emptied after every look, so that counting stays cheap and a long campaign
    /// does not fill the disk with the messages it sent.
    disposable: bool,
    /// The store holds one copy per recipient (a delivery agent's), not one per
    /// message (the embedded server's Maildir, whose file lists every recipient).
    per_recipient: bool,
}

impl StoreWatch {
    /// Watch `store` from what it holds now.
    pub(super) fn new(store: MailStore, disposable: bool, per_recipient: bool) -> Self {
        let expected = store.count();
        Self {
            store,
            expected,
            unsure: 0,
            unsure_before: 0,
            next: Instant::now() + LOOK_EVERY,
            every: LOOK_EVERY,
            pauses: 0,
            began: Instant::now(),
            bisecting: Duration::ZERO,
            suspects: VecDeque::new(),
            disposable,
            per_recipient,
        }
    }

    /// Sessions run aside: their acknowledgements expected, never suspects (each
    /// was a copy of an input the campaign judges on its own).
    pub(super) fn aside(&mut self, a: Aside) {
        self.expected += match self.per_recipient {
            true => a.deliveries,
            false => a.messages,
        };
        self.unsure += a.unsure;
    }

    /// A session's acknowledgements; its input a suspect when it reached content.
    pub(super) fn fold(&mut self, input: &Input, trace: &Trace) {
        let acked = acked(trace, self.per_recipient);
        self.expected += acked;
        self.unsure += unsure(input, trace);
        // An input with BDAT whose octets have two readings is no suspect: a LAST
        // chunk's reply cannot be told from the others, so what it stored cannot be
        // weighed against what it acknowledged. With one reading (the sync suffix
        // went out) the model places every reply.
        let reached = acked > 0
            || trace.codes().any(|c| c == super::expect::START_DATA)
            || trace.chunked_acks > 0;
        let weighable = matches!(trace.sync, Sync::Replies(_)) || mentions(input, b"BDAT") == 0;
        if (reached || mentions(input, b"BDAT") > 0) && weighable {
            if self.suspects.len() == SUSPECTS {
                self.suspects.pop_front();
            }
            self.suspects.push_back(input.clone());
        }
    }

    /// True when `count` is no more than the sessions acknowledged plus the
    /// messages they may have stored unseen; those found there become expected, the
    /// window moves on.
    fn explains(&mut self, count: usize) -> bool {
        let slack = self.unsure + self.unsure_before;
        if count > self.expected + slack {
            return false;
        }
        let absorbed = count.saturating_sub(self.expected);
        self.expected += absorbed;
        let older = absorbed.min(self.unsure_before);
        self.unsure = self.unsure.saturating_sub(absorbed - older);
        (self.unsure_before, self.unsure) = (self.unsure, 0);
        self.suspects.clear();
        self.empty();
        true
    }

    /// Remove what a disposable store holds; what is expected is then what is left
    /// (a message stored while this ran).
    fn empty(&mut self) {
        if !self.disposable || !matches!(self.store.kind, StoreKind::Maildir) {
            return;
        }
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.store.dir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        self.expected = self.store.count();
    }

    /// Start judging afresh from what the store holds now (after a pause whose
    /// sessions were not folded: a canary, a probe, a bisection of another oracle).
    pub(super) fn rebase(&mut self) {
        self.expected = self.store.count();
        (self.unsure, self.unsure_before) = (0, 0);
        self.suspects.clear();
        self.empty();
    }
}

/// What `trace` acknowledged, as a store that holds a copy per recipient or one
/// per message counts it.
fn acked(trace: &Trace, per_recipient: bool) -> usize {
    match per_recipient {
        true => trace.deliveries(),
        false => trace.messages(),
    }
}

/// A message `input` may have stored without the trace showing its reply: the last
/// reply read was a 354, and from the step that got it on, the octets hold the end of
/// content RFC 5321 §4.1.1.4 defines (CRLF "." CRLF), so the end went out and its
/// reply never came (the input closed first, or the reply was late). Lenient ends
/// (a dot between bare line ends) get no slack: a server that stores on them has its
/// reply read when the input is sent again, every reply read to the close. The slack
/// is this narrow because every unit of it can hide a real excess (a first version
/// that also counted BDAT inputs and every dot line hid the planted double store).
fn unsure(input: &Input, trace: &Trace) -> usize {
    let Some(k) = trace
        .answers
        .iter()
        .rev()
        .find(|a| a.code == super::expect::START_DATA)
        .and_then(|a| a.step)
    else {
        return 0;
    };
    if trace.codes().last() != Some(super::expect::START_DATA) {
        return 0;
    }
    let octets: Vec<u8> = input.steps[k.min(input.steps.len())..]
        .iter()
        .flat_map(|s| s.writes().concat())
        .collect();
    let end = smtp_protocol::EndOfData::CrLfDotCrLf.bytes();
    usize::from(octets.windows(end.len()).any(|w| w == end))
}

/// Occurrences of `word` (any case) in `input`'s octets.
fn mentions(input: &Input, word: &[u8]) -> usize {
    input
        .steps
        .iter()
        .flat_map(|s| s.writes())
        .map(|w| {
            w.windows(word.len())
                .filter(|x| x.eq_ignore_ascii_case(word))
                .count()
        })
        .sum()
}

impl Campaign {
    /// A look at the store is due: the campaign lets the sessions in flight finish.
    pub(super) fn store_look_due(&self) -> bool {
        self.store
            .as_ref()
            .is_some_and(|w| Instant::now() >= w.next)
    }

    /// Every session folded, nothing in flight: more messages in the store than
    /// acknowledged since the last look is tied to one input and reported.
    pub(super) async fn look_at_store(&mut self, permits: &Arc<Semaphore>) {
        let paused = self.pauses.load(std::sync::atomic::Ordering::Relaxed);
        let Some(w) = self.store.as_mut() else {
            return;
        };
        w.next = Instant::now() + w.every;
        if std::mem::replace(&mut w.pauses, paused) != paused {
            // Sessions ran that were not folded (a canary's second flight, another
            // oracle's probes): judge from here on.
            w.rebase();
            return;
        }
        // A store that delivers after the 250 (a queue, then a local delivery agent)
        // holds fewer now, never more.
        if w.explains(w.store.count()) {
            w.every = (w.every * 3 / 2).clamp(LOOK_EVERY, LOOK_CLEAN.max(w.every));
            return;
        }
        if w.bisecting > w.began.elapsed() / BISECT_SHARE {
            self.stats.unchecked += 1;
            w.rebase();
            return;
        }
        let suspects: Vec<Input> = w.suspects.drain(..).collect();
        let bisecting = Instant::now();
        let all = self.pause(permits).await;
        let mut tied = self.bisect_store(suspects).await;
        // Sent alone once more, it must do it again: a message a session left
        // behind (the client gone before the server stored it) lands in a probe's
        // count at most once.
        if let Some((input, ..)) = &tied
            && self
                .stores_extra(std::slice::from_ref(input))
                .await
                .is_none()
        {
            tied = None;
        }
        drop(all);
        if let Some(w) = self.store.as_mut() {
            w.bisecting += bisecting.elapsed();
        }
        match tied {
            Some((input, trace, what)) => {
                let key = oracle::key(Oracle::AcceptedButWrong, "", &what);
                if self.seen.insert(key) {
                    self.record(Oracle::AcceptedButWrong, key, input, trace, what, None);
                }
            }
            // The store held more than the sessions acknowledged, and no input alone
            // does it again: counted, not reported.
            None => {
                self.stats.unconfirm(Oracle::AcceptedButWrong.name());
                if let Some(w) = self.store.as_mut() {
                    w.every = (w.every * 2).min(LOOK_AT_MOST);
                }
            }
        }
        if let Some(w) = self.store.as_mut() {
            w.rebase();
        }
    }

    /// Send `inputs` (the campaign paused), every reply read to the close; the last
    /// trace and the words when the store gained more messages than they acknowledged.
    pub(super) async fn stores_extra(&mut self, inputs: &[Input]) -> Option<(Trace, String)> {
        let watch = self.store.as_ref()?;
        let (store, per_recipient) = (watch.store.clone(), watch.per_recipient);
        let before = store.count();
        let limits = super::exec::Limits {
            whole: true,
            ..self.options.limits
        };
        let traces = self.send_all_within(inputs, 1, limits).await;
        let acked: usize = traces.iter().map(|t| acked(t, per_recipient)).sum();
        // The store may take a moment after the 250 (a queue, a delivery agent).
        let (mut held, mut since, started) = (store.count(), Instant::now(), Instant::now());
        while since.elapsed() < SETTLE && started.elapsed() < SETTLE_MAX {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = store.count();
            if now != held {
                (held, since) = (now, Instant::now());
            }
        }
        let gained = held.saturating_sub(before);
        // No slack here: every reply is read to the close.
        (gained > acked).then(|| {
            let what = match per_recipient {
                true => format!(
                    "the store gained {gained} message(s) from sessions whose acknowledged \
                     messages make {acked} at most (one per recipient accepted)"
                ),
                false => format!(
                    "the store gained {gained} message(s) from sessions that were \
                     acknowledged {acked}"
                ),
            };
            (
                traces
                    .into_iter()
                    .last()
                    .unwrap_or_else(|| Trace::unreachable("")),
                what,
            )
        })
    }
}
