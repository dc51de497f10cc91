//! The oracles off the wire: the target's process and its logs, for a target the
//! harness launched (or one named by a pid file and log paths). After each
//! generation the campaign looks: has the process ended (`target-death`, with how),
//! has a log a crash's mark (`log`), has the process group grown past its warm-up size
//! (`resource-growth`). A mark or a growth is tied to one input before it is reported:
//! the campaign pauses (every worker permit held), and the suspects are sent again —
//! halves of them for a log line, each of a few 200 times for a growth.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use super::Campaign;
use super::exec::{self, End, Trace};
use super::finding::Finding;
use super::input::Input;
use super::logwatch::{Hit, LogSpec, LogWatch};
use super::minimise;
use super::oracle::{self, Oracle};
use super::process::{Group, Life, Usage};
use crate::profile::Launch;
use crate::profile::launch::{self, Launched};

/// What is watched besides the wire.
#[derive(Debug, Clone, Default)]
pub struct WatchSpec {
    /// The target's process group.
    pub group: Option<Group>,
    /// Its logs.
    pub logs: Vec<LogSpec>,
    /// How to start it again, when the harness launched it: a death is then tied to
    /// one input (suspects sent to fresh processes) and the campaign goes on.
    pub relaunch: Option<Relaunch>,
}

/// A launched target the campaign may start again.
#[derive(Debug, Clone)]
pub struct Relaunch {
    /// The profile's launch section.
    pub launch: Launch,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The process running now; replaced at each start, stopped when the last clone
    /// of this is dropped.
    pub running: Arc<tokio::sync::Mutex<Option<Launched>>>,
}

/// The target's process group over the campaign, for `stats.json`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Figures {
    /// Resident memory after the warm-up, KiB.
    pub rss_start_kib: u64,
    /// The most resident memory sampled, KiB.
    pub rss_peak_kib: u64,
    /// Open descriptors after the warm-up.
    pub fds_start: u64,
    /// The most open descriptors sampled.
    pub fds_peak: u64,
    /// Times a launched target was started again (after a death, and while a death
    /// was tied to its input).
    pub restarts: u64,
}

/// A server's size settles once its pools and caches have filled: growth is
/// measured from the first sample after this.
const WARMUP: Duration = Duration::from_secs(3);
/// How often the group is sampled (a `/proc` scan).
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Resident growth that is looked into: both this much and a doubling.
const GROWTH_KIB: u64 = 64 * 1024;
/// Descriptor growth that is looked into (at least; four per worker otherwise).
const FDS_GROWTH: u64 = 1000;
/// How often a growth suspect is sent.
const REPEAT: usize = 200;
/// Growth per session that ties a suspect to a growth: 4 KiB, half a descriptor.
const PER_SESSION_KIB: u64 = 4;
/// How long a log line may take to appear after the session that caused it
/// (a syslog hop, a supervisor's notice).
const SETTLE: Duration = Duration::from_millis(500);
/// How long a log finding's minimisation may pause the campaign, about (an input
/// of aiosmtpd's that left it silent cost a second a probe: 30 s for one finding).
const LOG_SHRINK: Duration = Duration::from_secs(8);
/// Probes a log finding's minimisation gets, however slow each one is.
const LOG_SHRINK_LEAST: usize = 6;
/// Tries to tie a log line to one input before it is reported untied.
const LOG_TRIES: u8 = 3;
/// Growth suspects tried besides the empty session.
const GROWTH_SUSPECTS: usize = 7;
/// Deaths no single input explains before the campaign stops starting the target
/// again.
const UNTIED_DEATHS: u32 = 3;

/// The watch's state between generations.
pub(super) struct Watcher {
    group: Option<Group>,
    logs: LogWatch,
    start: Option<Usage>,
    next_sample: Instant,
    began: Instant,
    tries: HashMap<u64, u8>,
    /// Lines read while a reproduction ran, for the next look.
    pending: Vec<Hit>,
    figures: Figures,
    untied_deaths: u32,
}

/// What a bisection looks for after each half is sent.
#[derive(Debug, Clone, Copy)]
pub(super) enum Probe {
    /// The process ends (sent to a fresh one).
    Death,
    /// The log line of this key comes back.
    Log(u64),
    /// The store gains more messages than the sessions acknowledged.
    Store,
}

impl Watcher {
    /// `None` when there is nothing to watch.
    pub(super) fn new(spec: &WatchSpec) -> Option<Self> {
        if spec.group.is_none() && spec.logs.is_empty() {
            return None;
        }
        Some(Self {
            group: spec.group,
            logs: LogWatch::new(spec.logs.clone()),
            start: None,
            next_sample: Instant::now(),
            began: Instant::now(),
            tries: HashMap::new(),
            pending: Vec::new(),
            figures: Figures::default(),
            untied_deaths: 0,
        })
    }

    /// The group's figures, when a group is watched.
    pub(super) fn figures(&self) -> Option<Figures> {
        self.group.map(|_| self.figures)
    }
}

/// An input the last generations sent, and whether its session ended otherwise
/// than finished (a close, a reset, no connection): the first suspects of a death.
pub(super) type Suspect = (Input, bool);

impl Campaign {
    /// Look at the process and its logs after a generation; true when the process
    /// ended (the campaign stops: there is nothing left to fuzz).
    pub(super) async fn watch(&mut self, suspects: &[Suspect], permits: &Arc<Semaphore>) -> bool {
        let Some(w) = self.watcher.as_mut() else {
            return false;
        };
        match w.group.map(|g| g.life()) {
            Some(Life::Running) | None => {}
            Some(ended) => return self.died(ended, suspects, permits).await,
        }
        let mut hits = std::mem::take(&mut w.pending);
        hits.extend(w.logs.hits());
        for hit in hits {
            self.log_hit(hit, suspects, permits).await;
        }
        self.sample(suspects, permits).await;
        false
    }

    /// The process ended. Without a way to start it again, the first suspect that
    /// ended early is written and the campaign stops; with one, the suspects are sent
    /// in halves to fresh processes until one input alone kills it, and the campaign
    /// goes on. True when it stops.
    async fn died(&mut self, ended: Life, suspects: &[Suspect], permits: &Arc<Semaphore>) -> bool {
        let what = death_words(&ended);
        if self.options.watch.relaunch.is_none() {
            self.note_death(what, suspects);
            return true;
        }
        let all = self.pause(permits).await;
        if self
            .seen
            .contains(&oracle::key(Oracle::TargetDeath, "", &what))
        {
            // A death already tied (the corpus holds its input's kin): start again.
            let up = self.relaunch().await;
            drop(all);
            return !up;
        }
        let inputs: Vec<Input> = suspects.iter().map(|(i, _)| i.clone()).collect();
        let tied = self.bisect(inputs, Probe::Death).await;
        let up = self.relaunch().await;
        drop(all);
        match tied {
            Some((input, trace, what)) => {
                let key = oracle::key(Oracle::TargetDeath, "", &what);
                if self.seen.insert(key) {
                    self.record(Oracle::TargetDeath, key, input, trace, what, None);
                }
            }
            None => {
                self.stats.unconfirm(Oracle::TargetDeath.name());
                let untied = self.watcher.as_mut().map_or(UNTIED_DEATHS, |w| {
                    w.untied_deaths += 1;
                    w.untied_deaths
                });
                if untied >= UNTIED_DEATHS {
                    self.note_death(
                        format!("{what}; no input sent alone to a fresh process did it"),
                        suspects,
                    );
                    return true;
                }
            }
        }
        !up
    }

    /// Start the target afresh, send `inputs`, and see whether it ends within a
    /// second: the last trace and how it ended.
    async fn dies_after(&mut self, inputs: &[Input]) -> Option<(Trace, String)> {
        if !self.relaunch().await {
            return None;
        }
        let traces = self.send_all(inputs, 1).await;
        let group = self.watcher.as_ref()?.group?;
        for _ in 0..20 {
            match group.life() {
                Life::Running => tokio::time::sleep(Duration::from_millis(50)).await,
                ended => return traces.into_iter().last().map(|t| (t, death_words(&ended))),
            }
        }
        None
    }

    /// Stop the launched target (what is left of it) and start it again; the watch
    /// follows the new process, its memory measured from a new warm-up.
    async fn relaunch(&mut self) -> bool {
        let Some(r) = self.options.watch.relaunch.clone() else {
            return false;
        };
        let mut running = r.running.lock().await;
        drop(running.take());
        let Ok(up) = launch::start(&r.launch, r.addr).await else {
            return false;
        };
        let leader = i32::try_from(up.pid()).ok();
        *running = Some(up);
        if let Some(w) = self.watcher.as_mut() {
            w.figures.restarts += 1;
            w.group = leader.map(|leader| Group { leader });
            w.start = None;
            w.began = Instant::now();
        }
        true
    }

    /// Tie a marked log line to one input and report it.
    async fn log_hit(&mut self, hit: Hit, suspects: &[Suspect], permits: &Arc<Semaphore>) {
        let key = oracle::key(Oracle::Log, &hit.pattern, hit.identity());
        if self.seen.contains(&key) {
            return;
        }
        let logged = match &hit.exception {
            Some(e) => format!("a traceback ending in {e:?}"),
            None => format!("{:?}", hit.line),
        };
        let what = format!(
            "the target logged {logged} ({}, pattern {:?})",
            hit.path.display(),
            hit.pattern
        );
        let inputs: Vec<Input> = suspects.iter().map(|(i, _)| i.clone()).collect();
        let all = self.pause(permits).await;
        let tied = self.bisect(inputs, Probe::Log(key)).await;
        if let Some((input, trace, _)) = tied {
            self.seen.insert(key);
            // Minimised as a finding on the wire is, still paused: a smaller input
            // shows it when the same line comes back after it alone.
            let original = input.steps.len();
            let (input, trace) = self.shrink_log(key, input, trace).await;
            drop(all);
            let f = Finding::shown((Oracle::Log, key), original, input, trace, what);
            self.push(f);
            return;
        }
        drop(all);
        self.stats.unconfirm(Oracle::Log.name());
        let tries = self.watcher.as_mut().map_or(LOG_TRIES, |w| {
            let t = w.tries.entry(key).or_default();
            *t += 1;
            *t
        });
        if tries >= LOG_TRIES && self.seen.insert(key) {
            // The line is evidence in itself; no input alone brings it back (an
            // interaction of sessions, a timer): reported with the first suspect.
            let input = suspects.first().map(|(i, _)| i.clone()).unwrap_or_default();
            let what = format!(
                "{what}; no input sent alone brought it back in {LOG_TRIES} tries (the \
                 first suspect is written)"
            );
            let trace = Trace::unreachable("not reproduced alone");
            self.record(Oracle::Log, key, input, trace, what, None);
        }
    }

    /// A log finding's input, minimised within about [`LOG_SHRINK`]. Each probe that
    /// does not show waits for the line as long as it took to come after the input
    /// tied, four times over and 100 ms more (at most [`SETTLE`]): aiosmtpd writes a
    /// traceback within milliseconds, and a whole [`SETTLE`] per probe paused a
    /// campaign 30 s for one finding. A line later than that lands in the next
    /// probe's window, so a smaller input must show the line once more, waited for
    /// in full.
    async fn shrink_log(&mut self, key: u64, input: Input, trace: Trace) -> (Input, Trace) {
        let one = std::slice::from_ref(&input);
        let started = Instant::now();
        let settle = match self.logs_after(one, key, SETTLE).await {
            Some((_, waited)) => (waited * 4 + Duration::from_millis(100)).min(SETTLE),
            None => SETTLE,
        };
        // As many probes as fit in LOG_SHRINK at the cost of this one (an input
        // that leaves the server silent waits out its deadlines every time).
        let each = started.elapsed().max(Duration::from_millis(1));
        let fit = (LOG_SHRINK.as_millis() / each.as_millis().max(1)) as usize;
        let budget = self.options.minimise_budget.min(fit.max(LOG_SHRINK_LEAST));
        let mut probe = LogLine {
            campaign: self,
            key,
            settle,
        };
        let (small, small_trace) =
            minimise::shrink(&mut probe, budget, input.clone(), trace.clone()).await;
        if small == input || settle == SETTLE {
            return (small, small_trace);
        }
        tokio::time::sleep(SETTLE).await;
        match self
            .logs_after(std::slice::from_ref(&small), key, SETTLE)
            .await
        {
            Some((t, _)) => (small, t),
            None => (input, trace),
        }
    }

    /// The one input among `set` after which `probe` shows: halves sent in turn (the
    /// first half, and the second only when the first did not show it).
    pub(super) async fn bisect(
        &mut self,
        mut set: Vec<Input>,
        probe: Probe,
    ) -> Option<(Input, Trace, String)> {
        loop {
            match set.len() {
                0 => return None,
                1 => {
                    let (trace, what) = self.shows_after(&set, probe).await?;
                    return Some((set.remove(0), trace, what));
                }
                n => {
                    let b = set.split_off(n / 2);
                    if self.shows_after(&set, probe).await.is_none() {
                        self.shows_after(&b, probe).await?;
                        set = b;
                    }
                }
            }
        }
    }

    /// The one input among `set` after which the store gains more messages than
    /// the sessions acknowledged (the store oracle's bisection).
    pub(super) async fn bisect_store(&mut self, set: Vec<Input>) -> Option<(Input, Trace, String)> {
        self.bisect(set, Probe::Store).await
    }

    /// Send `inputs` and see whether `probe` shows: the last trace, and how the
    /// process ended (a death), what the store holds, or nothing (a log line).
    async fn shows_after(&mut self, inputs: &[Input], probe: Probe) -> Option<(Trace, String)> {
        match probe {
            Probe::Death => self.dies_after(inputs).await,
            Probe::Log(key) => self
                .logs_after(inputs, key, SETTLE)
                .await
                .map(|(t, _)| (t, String::new())),
            Probe::Store => self.stores_extra(inputs).await,
        }
    }

    /// Send `inputs` at once, then wait up to `settle` for the line `key`; the last
    /// input's trace when it came, and how long after the sessions it did. The
    /// campaign is paused, so the other lines marked meanwhile are the same event
    /// seen in another log (Exim writes a crash to its main log and its paniclog):
    /// taken as found with it, not as findings of their own that no generation's
    /// input could be tied to.
    async fn logs_after(
        &mut self,
        inputs: &[Input],
        key: u64,
        settle: Duration,
    ) -> Option<(Trace, Duration)> {
        if let Some(w) = self.watcher.as_mut() {
            let before = w.logs.hits();
            w.pending.extend(before);
            w.logs.new_event();
        }
        let traces = self.send_all(inputs, 1).await;
        let sent = Instant::now();
        let deadline = sent + settle;
        let mut window: Vec<u64> = Vec::new();
        let mut found: Option<Duration> = None;
        loop {
            let w = self.watcher.as_mut()?;
            let hits = w.logs.hits();
            for hit in &hits {
                let k = oracle::key(Oracle::Log, &hit.pattern, hit.identity());
                if k == key && found.is_none() {
                    found = Some(sent.elapsed());
                }
                window.push(k);
            }
            // Lines after the one looked for may still be on their way.
            if let Some(waited) = found
                && (hits.is_empty() || Instant::now() >= deadline)
            {
                self.seen.extend(window);
                return traces.into_iter().last().map(|t| (t, waited));
            }
            if Instant::now() >= deadline {
                w.pending.extend(hits);
                return None;
            }
            if found.is_none() {
                w.pending.extend(hits);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sample the group; when it has grown past the bar, tie the growth to an input.
    async fn sample(&mut self, suspects: &[Suspect], permits: &Arc<Semaphore>) {
        let jobs = self.options.jobs as u64;
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        let Some(group) = w.group.filter(|_| Instant::now() >= w.next_sample) else {
            return;
        };
        w.next_sample = Instant::now() + SAMPLE_EVERY;
        let Some(now) = group.usage() else {
            return;
        };
        w.figures.rss_peak_kib = w.figures.rss_peak_kib.max(now.rss_kib);
        w.figures.fds_peak = w.figures.fds_peak.max(now.fds);
        let Some(start) = w.start else {
            if w.began.elapsed() >= WARMUP {
                w.start = Some(now);
                w.figures.rss_start_kib = now.rss_kib;
                w.figures.fds_start = now.fds;
            }
            return;
        };
        // A forking server (Postfix) grows by processes as the load settles: the
        // doubling is asked of each process's share, the absolute growth of the group.
        let each = |u: Usage, v: u64| v / u.processes.max(1);
        let rss = each(now, now.rss_kib) >= 2 * each(start, start.rss_kib)
            && now.rss_kib >= start.rss_kib + GROWTH_KIB;
        let fds = each(now, now.fds) >= 2 * each(start, start.fds)
            && now.fds >= start.fds + FDS_GROWTH.max(4 * jobs);
        let kind = match (rss, fds) {
            (true, _) => "resident memory",
            (_, true) => "open descriptors",
            _ => return,
        };
        let key = oracle::key(Oracle::ResourceGrowth, kind, "");
        if self.seen.contains(&key) {
            return;
        }
        let all = self.pause(permits).await;
        let tied = self.attribute(group, suspects, rss).await;
        drop(all);
        if let Some(w) = self.watcher.as_mut() {
            // Growth is measured from here on: the bar rises with what was seen.
            w.start = group.usage().or(Some(now));
        }
        let Some((input, trace, per)) = tied else {
            self.stats.unconfirm(Oracle::ResourceGrowth.name());
            return;
        };
        self.seen.insert(key);
        let what = if rss {
            format!(
                "resident memory grew from {} MiB to {} MiB after the warm-up; this input, \
                 sent {REPEAT} times, adds {per} KiB a session",
                start.rss_kib / 1024,
                now.rss_kib / 1024
            )
        } else {
            format!(
                "open descriptors grew from {} to {} after the warm-up; this input, sent \
                 {REPEAT} times, leaves {per} per 100 sessions open",
                start.fds, now.fds
            )
        };
        self.record(Oracle::ResourceGrowth, key, input, trace, what, None);
    }

    /// The first of the empty session and a few suspects (fewest steps first) that,
    /// sent [`REPEAT`] times, grows the group each time; its trace and the growth per
    /// session (KiB, or descriptors per 100 sessions).
    async fn attribute(
        &mut self,
        group: Group,
        suspects: &[Suspect],
        rss: bool,
    ) -> Option<(Input, Trace, u64)> {
        let mut candidates = vec![Input::default()];
        let mut rest: Vec<&Input> = suspects.iter().map(|(i, _)| i).collect();
        rest.sort_by_key(|i| i.steps.len());
        rest.dedup();
        candidates.extend(rest.into_iter().take(GROWTH_SUSPECTS).cloned());
        for input in candidates {
            let before = group.usage()?;
            let traces = self.send_all(std::slice::from_ref(&input), REPEAT).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let after = group.usage()?;
            if after.processes != before.processes {
                // A process came or went: its memory is not this input's doing.
                continue;
            }
            let per = if rss {
                after.rss_kib.saturating_sub(before.rss_kib) / REPEAT as u64
            } else {
                after.fds.saturating_sub(before.fds) * 100 / REPEAT as u64
            };
            if per >= if rss { PER_SESSION_KIB } else { 50 } {
                return traces.into_iter().last().map(|t| (input, t, per));
            }
        }
        None
    }

    /// Every worker permit: the campaign's sessions pause while the process is probed.
    /// Confirmations under way end first: a probe's evidence is the probe's alone.
    pub(super) async fn pause(
        &mut self,
        permits: &Arc<Semaphore>,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.collect_confirmations(true).await;
        let n = u32::try_from(self.options.jobs.max(1)).unwrap_or(u32::MAX);
        self.pauses
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Arc::clone(permits).acquire_many_owned(n).await.ok()
    }

    /// Each of `inputs` sent `times` times, `jobs` sessions at once; their traces.
    async fn send_all(&self, inputs: &[Input], times: usize) -> Vec<Trace> {
        self.send_all_within(inputs, times, self.options.limits)
            .await
    }

    /// [`Self::send_all`] with other deadlines (every reply read to the close, for
    /// the store oracle).
    pub(super) async fn send_all_within(
        &self,
        inputs: &[Input],
        times: usize,
        limits: exec::Limits,
    ) -> Vec<Trace> {
        let target = self.options.target;
        let gate = Arc::new(Semaphore::new(self.options.jobs.max(1)));
        let tasks: Vec<_> = inputs
            .iter()
            .flat_map(|i| std::iter::repeat_n(i, times))
            .map(|input| {
                let (input, gate) = (input.clone(), Arc::clone(&gate));
                tokio::spawn(async move {
                    let _permit = gate.acquire_owned().await;
                    exec::run(target, &input, limits).await
                })
            })
            .collect();
        // In the inputs' order, so each trace goes with its input.
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(
                t.await.unwrap_or_else(|e| {
                    Trace::unreachable(format!("the session's task failed: {e}"))
                }),
            );
        }
        out
    }

    /// The target stopped (its process ended, or it stopped accepting connections):
    /// the first suspect whose session ended otherwise than finished is written.
    pub(super) fn note_death(&mut self, what: String, suspects: &[Suspect]) {
        let key = oracle::key(Oracle::TargetDeath, "", &what);
        if !self.seen.insert(key) {
            return;
        }
        let suspect = suspects
            .iter()
            .find(|(_, ended)| *ended)
            .or(suspects.first())
            .map(|(i, _)| i.clone())
            .unwrap_or_default();
        let trace = Trace::unreachable(what.clone());
        self.record(Oracle::TargetDeath, key, suspect, trace, what, None);
    }
}

/// How the process ended, as a finding says it.
fn death_words(ended: &Life) -> String {
    match ended {
        Life::Exited(how) => format!("the target's process ended: {how}"),
        _ => "the target's process is gone".into(),
    }
}

/// The session ended otherwise than with every step sent and the suffix answered.
pub(super) fn ended_early(trace: &Trace) -> bool {
    !matches!(trace.end, End::Finished)
}

/// A log finding's minimisation probe: the campaign paused, a smaller input shows the
/// finding when the same line comes back after it alone.
struct LogLine<'a> {
    campaign: &'a mut Campaign,
    key: u64,
    /// How long a probe waits for the line.
    settle: Duration,
}

impl minimise::Probe for LogLine<'_> {
    type Evidence = Trace;

    async fn shows(&mut self, candidate: &Input) -> Option<Trace> {
        self.campaign
            .logs_after(std::slice::from_ref(candidate), self.key, self.settle)
            .await
            .map(|(t, _)| t)
    }
}
