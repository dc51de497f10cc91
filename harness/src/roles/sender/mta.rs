//! Delivery cases with a real MTA as the sender: smtpspec serves the case's zones on the
//! MTA's resolver address and the scripted servers on its SMTP port, hands the MTA a
//! message, and watches which servers it connects to, in what order, and which one
//! takes the message.
//!
//! From the servers' side a deferred and a bounced message look alike (neither reached
//! a server); the profile's `queued` command tells them apart (still in the queue:
//! deferred). Without it they are checked as "not delivered". `reason` is the
//! reference client's own words and is not checked.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::list;
use crate::outcome::{HarnessError, Unmet, Verdict};
use crate::profile::client::expand;
use crate::profile::launch::{exits_zero, run_to_end};
use crate::profile::sender::SenderProfile;
use crate::roles::CaseResult;
use crate::roles::script::Scripted;
use crate::scenario::load::Case;
use crate::scenario::sender::{DeliveryDef, Outcome};
use crate::wire::{Dir, Event};

fn note(text: String) -> Event {
    Event {
        dir: Dir::Note,
        data: text.into_bytes(),
    }
}

/// Why an MTA cannot take this case, if it cannot.
fn gate(def: &DeliveryDef, p: &SenderProfile) -> Option<String> {
    if def.rounds > 1 {
        return Some(
            "retry rounds are timed on the reference client; an MTA retries on its own schedule"
                .into(),
        );
    }
    if def.runs > p.max_runs {
        return Some(format!(
            "the case needs {} deliveries; the sender profile allows {}",
            def.runs, p.max_runs
        ));
    }
    match (&def.helo, &p.helo) {
        (Some(want), Some(have)) if !want.eq_ignore_ascii_case(have) => Some(format!(
            "the case needs the sender to be named {want}; the MTA is named {have}"
        )),
        (Some(want), None) => Some(format!("the case needs the sender to be named {want}")),
        _ => None,
    }
}

fn delivered(servers: &Scripted) -> usize {
    servers
        .counts
        .iter()
        .map(|(_, c)| c.messages.load(std::sync::atomic::Ordering::SeqCst))
        .sum()
}

fn order(servers: &Scripted) -> Vec<IpAddr> {
    servers
        .order
        .lock()
        .map(|o| o.iter().map(|ip| IpAddr::V4(*ip)).collect())
        .unwrap_or_default()
}

/// Hand the MTA the message once and watch the scripted servers until every
/// recipient's copy is taken or the profile's settle time is over: the address tried
/// first, how the delivery ended (None when not every recipient was taken and the
/// profile cannot say whether the rest is still queued), and notes for the transcript.
async fn deliver_once(
    profile: &SenderProfile,
    inject: &[String],
    rcpts: usize,
    servers: &Scripted,
    n: u32,
) -> Result<(Option<IpAddr>, Option<Outcome>, Vec<Event>), HarnessError> {
    let dir = profile.dir.as_deref();
    let mut notes = Vec::new();
    let seen = order(servers).len();
    let before = delivered(servers);
    let before_rcpts = servers.recipients_taken();
    let out = run_to_end(inject, dir, Duration::from_secs(30)).await?;
    if !out.is_empty() {
        notes.push(note(format!("inject: {out}")));
    }
    // Watch until the servers took the message for every recipient (and a moment more
    // for stray connections), or the settle time is over.
    let all_taken = |s: &Scripted| s.recipients_taken() >= before_rcpts + rcpts;
    let deadline = Instant::now() + profile.settle;
    while Instant::now() < deadline {
        if all_taken(servers) {
            tokio::time::sleep(Duration::from_millis(300)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tried = order(servers);
    let outcome = match (all_taken(servers), &profile.queued) {
        (true, _) => Some(Outcome::Delivered),
        (false, Some(cmd)) if exits_zero(cmd, dir).await => Some(Outcome::Deferred),
        (false, Some(_)) => Some(Outcome::Bounced),
        (false, None) => None,
    };
    notes.push(note(format!(
        "delivery {}: connections to {}; {} message(s) taken for {} of {} recipient(s){}",
        n + 1,
        list(&tried[seen..]),
        delivered(servers) - before,
        servers.recipients_taken() - before_rcpts,
        rcpts,
        match outcome {
            Some(Outcome::Deferred) => "; the rest still queued (deferred)",
            Some(Outcome::Bounced) => "; the rest gone from the queue (bounced)",
            _ => "",
        }
    )));
    Ok((tried.get(seen).copied(), outcome, notes))
}

/// Run one delivery case with `profile`'s MTA as the sender.
pub(super) async fn run(
    case: &Case,
    def: &DeliveryDef,
    profile: &Arc<SenderProfile>,
    message: &Path,
) -> CaseResult {
    let start = Instant::now();
    let done = |v, why: String, t| CaseResult::new(case, v, why, start, t);
    if let Some(why) = gate(def, profile) {
        return done(Verdict::Skip, why, Vec::new());
    }
    let dir = profile.dir.as_deref();
    let dns = match crate::dns::serve(&def.zones, profile.dns).await {
        Ok(d) => d,
        Err(e) => return done(Verdict::Error, e.0, Vec::new()),
    };
    let scripts: Vec<_> = def.servers.iter().map(|(ip, s)| (*ip, s.clone())).collect();
    let servers = match crate::roles::script::start(&scripts, Some(profile.port)).await {
        Ok(s) => s,
        Err(e) => {
            dns.stop().await;
            return done(Verdict::Error, e.0, Vec::new());
        }
    };
    let mut transcript = Vec::new();
    let fail = |e: String, t| async move { CaseResult::new(case, Verdict::Error, e, start, t) };
    if let Some(reset) = &profile.reset
        && let Err(e) = run_to_end(reset, dir, Duration::from_secs(30)).await
    {
        dns.stop().await;
        servers.stop().await;
        return fail(format!("reset: {e}"), Vec::new()).await;
    }
    let first_zone = def.zones.keys().next().cloned().unwrap_or_default();
    let to = if def.to.is_empty() {
        vec![format!("user@{}", first_zone.trim_end_matches('.'))]
    } else {
        def.to.clone()
    };
    let values = [
        ("from", profile.from.clone()),
        // Several recipients are one argument, separated by spaces: the inject
        // command's shell splits them (`sendmail -f {from} {to}`).
        ("to", to.join(" ")),
        ("message", message.display().to_string()),
    ];
    let inject: Vec<String> = profile.inject.iter().map(|a| expand(a, &values)).collect();
    let mut firsts: Vec<IpAddr> = Vec::new();
    // Per run: how it ended, None when not every recipient was taken and the profile
    // cannot say whether the rest is still queued.
    let mut outcomes: Vec<Option<Outcome>> = Vec::new();
    for n in 0..def.runs {
        match deliver_once(profile, &inject, to.len(), &servers, n).await {
            Ok((first, outcome, notes)) => {
                firsts.extend(first);
                outcomes.push(outcome);
                transcript.extend(notes);
            }
            Err(e) => {
                dns.stop().await;
                servers.stop().await;
                return fail(format!("inject: {e}"), transcript).await;
            }
        }
        if let Some(reset) = &profile.reset
            && n + 1 < def.runs
        {
            let _ = run_to_end(reset, dir, Duration::from_secs(30)).await;
        }
    }
    let questions = dns.log.lock().map(|l| l.len()).unwrap_or(0);
    transcript.push(note(format!(
        "the MTA asked the fake DNS {questions} question(s)"
    )));
    dns.stop().await;
    let outcome = judge(def, &servers, &firsts, &outcomes);
    servers.stop().await;
    match outcome {
        Ok(why) => done(Verdict::Pass, why, transcript),
        Err(why) => done(case.level().unmet(), why.0, transcript),
    }
}

fn judge(
    def: &DeliveryDef,
    servers: &Scripted,
    firsts: &[IpAddr],
    outcomes: &[Option<Outcome>],
) -> Result<String, Unmet> {
    let e = &def.expect;
    let tried = order(servers);
    let taken = delivered(servers);
    let runs = def.runs as usize;
    if let Some(want) = &e.outcome {
        for got in outcomes {
            let said = match got {
                Some(got) if want.allows(*got) => continue,
                Some(Outcome::Delivered) => "a server took the message for every recipient",
                Some(Outcome::Deferred) => {
                    "not every recipient got it and it is still queued (deferred)"
                }
                Some(Outcome::Bounced) => {
                    "not every recipient got it and it is gone from the queue (bounced)"
                }
                // Deferred and bounced look alike from the servers' side.
                None if want.list().iter().any(|o| *o != Outcome::Delivered) => continue,
                None => "no server took the message for every recipient",
            };
            return Err(crate::unmet!(
                "wanted {}: {said} (tried {})",
                want.describe(),
                list(&tried)
            ));
        }
    }
    // A refused connection leaves no trace on the servers' side: only addresses with a
    // scripted server can be seen tried.
    if let Some(want) = &e.tried {
        let visible: Vec<IpAddr> = want
            .iter()
            .copied()
            .filter(|ip| matches!(ip, IpAddr::V4(v4) if def.servers.contains_key(v4)))
            .collect();
        if tried != visible {
            return Err(crate::unmet!(
                "wanted the sender to try {}, it tried {}",
                list(&visible),
                list(&tried)
            ));
        }
    }
    if let Some(want) = e.delivered_to
        && servers.messages_at(want) < runs
    {
        return Err(crate::unmet!(
            "wanted delivery to {want}; tried {}",
            list(&tried)
        ));
    }
    if let Some(want) = e.connections
        && want != tried.len()
    {
        return Err(crate::unmet!(
            "wanted {want} connection(s) to the scripted servers, saw {} ({})",
            tried.len(),
            list(&tried)
        ));
    }
    for (ip, [low, high]) in &e.first_tried {
        let share = firsts.iter().filter(|f| *f == ip).count() as f64 / runs.max(1) as f64;
        if share < *low || share > *high {
            return Err(crate::unmet!(
                "{ip} was tried first in {:.0}% of {runs} deliveries, wanted {:.0}–{:.0}%",
                share * 100.0,
                low * 100.0,
                high * 100.0
            ));
        }
    }
    let mut why = format!("tried {}; {taken} message(s) taken", list(&tried));
    if let Some(got) = outcomes.iter().flatten().next() {
        why.push_str(&format!("; {}", got.as_str()));
    } else if e.outcome.is_some() {
        why.push_str(" (deferred and bounced look alike from the servers' side)");
    }
    Ok(why)
}
