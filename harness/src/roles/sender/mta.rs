//! Delivery cases with a real MTA as the sender: smtpspec serves the case's zones on the
//! MTA's resolver address and the scripted servers on its SMTP port, hands the MTA a
//! message, and watches which servers it connects to, in what order, and which one
//! takes the message.
//!
//! From the servers' side a deferred and a bounced message look alike (neither reached
//! a server); the profile's `queued` command tells them apart (still in the queue:
//! deferred). Without it they are checked as "not delivered". `reason` is the
//! reference client's own words and is not checked (the pass reason says so).

use std::path::Path;
use std::time::{Duration, Instant};

use super::judge::{Observation, Run, list};
use super::note;
use super::submit::{Envelope, Handover, hand_over};
use crate::outcome::HarnessError;
use crate::profile::client::expand;
use crate::profile::launch::{exits_zero, run_to_end};
use crate::profile::sender::SenderProfile;
use crate::roles::script::Scripted;
use crate::scenario::sender::{DeliveryDef, Outcome};
use crate::wire::Event;

/// Why an MTA cannot take this case, if it cannot.
pub(super) fn gate(def: &DeliveryDef, p: &SenderProfile) -> Option<String> {
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
    if (def.content.is_some() || def.requiretls) && p.submit.is_none() {
        return Some(
            "the case hands its content over SMTP octet for octet (sendmail(1) would rewrite \
             its line ends); the sender profile names no submit address"
                .into(),
        );
    }
    if let Some(ip) = def.source
        && std::net::TcpListener::bind((ip, 0)).is_err()
    {
        return Some(format!(
            "the case hands its content over from {ip}, which this host does not hold \
             (scripts/peers/netns.sh puts 192.0.2.66 on its namespaces' loopback)"
        ));
    }
    let policy_host =
        def.mta_sts.is_some() || def.before.as_ref().is_some_and(|b| b.mta_sts.is_some());
    if policy_host && p.ca.is_none() {
        return Some(
            "the case's MTA-STS policy host and MX hosts need a CA the MTA trusts \
             (RFC 8461 §4.2); the sender profile names none (ca:)"
                .into(),
        );
    }
    match (&def.helo, &p.helo) {
        (Some(want), Some(have)) if !want.eq_ignore_ascii_case(have) => Some(format!(
            "the case needs the sender to be named {want}; the MTA is named {have}"
        )),
        (Some(want), None) => Some(format!("the case needs the sender to be named {want}")),
        _ => None,
    }
}

/// The name smtpspec gives itself when it hands an MTA a message.
const SUBMIT_HELO: &str = "submit.smtpspec.test";

/// Why a REQUIRETLS case is not judged with this MTA, if it is not: it refused the
/// flagged message at submission in every run (the right answer of an MTA without
/// REQUIRETLS, RFC 8689 §2), so there was nothing it could pass on in the clear.
pub(super) fn refused_requiretls(def: &DeliveryDef, seen: &Observation) -> Option<String> {
    if !def.requiretls || seen.runs.is_empty() {
        return None;
    }
    let refusals: Vec<String> = seen
        .runs
        .iter()
        .map(|r| r.handover.as_ref().and_then(Handover::refusal))
        .collect::<Option<_>>()?;
    Some(format!(
        "the MTA refused the REQUIRETLS message at submission ({}): it does not take \
         REQUIRETLS (RFC 8689), so it cannot relay such a message in the clear; not judged",
        refusals.first().map(String::as_str).unwrap_or_default()
    ))
}

/// How the MTA gets the message.
enum Hand<'a> {
    /// The profile's inject command, expanded.
    Command(&'a [String]),
    /// Over SMTP to the profile's submit address, octet for octet (relay cases).
    Smtp {
        addr: std::net::SocketAddr,
        envelope: Envelope<'a>,
        content: &'a [u8],
    },
}

/// After every recipient's copy is taken, how long to wait for more: a relay that
/// ended DATA at a smuggled sequence sends a second message, a moment later.
fn linger(hand: &Hand<'_>) -> Duration {
    match hand {
        Hand::Command(_) => Duration::from_millis(300),
        Hand::Smtp { .. } => Duration::from_secs(1),
    }
}

/// Hand the MTA the message once and watch the scripted servers until every
/// recipient's copy is taken or the profile's settle time is over: the addresses
/// tried, how the delivery ended (None when not every recipient was taken and the
/// profile cannot say whether the rest is still queued), and notes for the transcript.
async fn deliver_once(
    profile: &SenderProfile,
    hand: &Hand<'_>,
    rcpts: usize,
    servers: &Scripted,
    n: u32,
) -> Result<(Run, Vec<Event>), HarnessError> {
    let dir = profile.dir.as_deref();
    let mut notes = Vec::new();
    let seen = servers.order().len();
    let before = servers.messages();
    let before_rcpts = servers.recipients_taken();
    let handover: Option<Handover> = match hand {
        Hand::Command(inject) => {
            let out = run_to_end(inject, dir, Duration::from_secs(30)).await?;
            if !out.is_empty() {
                notes.push(note(format!("inject: {out}")));
            }
            None
        }
        Hand::Smtp {
            addr,
            envelope,
            content,
        } => {
            let (h, transcript) = hand_over(*addr, SUBMIT_HELO, envelope, content).await?;
            notes.push(note(format!(
                "handed over at {addr} (the MTA's SMTP listener), {} octets of content as they are",
                content.len()
            )));
            notes.extend(transcript);
            Some(h)
        }
    };
    // Watch until the servers took the message for every recipient (and a moment more
    // for stray connections and split messages), or the settle time is over. A refused
    // handover has nothing to deliver.
    let all_taken = |s: &Scripted| s.recipients_taken() >= before_rcpts + rcpts;
    let refused = handover.as_ref().is_some_and(|h| h.refused.is_some());
    let deadline = Instant::now()
        + if refused {
            Duration::ZERO
        } else {
            profile.settle
        };
    while Instant::now() < deadline {
        if all_taken(servers) {
            tokio::time::sleep(linger(hand)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tried = servers.order();
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
        servers.messages() - before,
        servers.recipients_taken() - before_rcpts,
        rcpts,
        match outcome {
            Some(Outcome::Deferred) => "; the rest still queued (deferred)",
            Some(Outcome::Bounced) => "; the rest gone from the queue (bounced)",
            _ => "",
        }
    )));
    let run = Run {
        outcome,
        tried: tried[seen..].to_vec(),
        account: None,
        handover,
    };
    Ok((run, notes))
}

/// Hand the MTA the message `runs` times and observe it from the scripted servers'
/// side; the error carries the notes gathered so far.
pub(super) async fn observe(
    def: &DeliveryDef,
    profile: &SenderProfile,
    message: &Path,
    servers: &Scripted,
    dns: &crate::dns::Running,
) -> Result<(Observation, Vec<Event>), (HarnessError, Vec<Event>)> {
    let dir = profile.dir.as_deref();
    let mut transcript = Vec::new();
    if let Some(reset) = &profile.reset
        && let Err(e) = run_to_end(reset, dir, Duration::from_secs(30)).await
    {
        return Err((HarnessError::during("reset", e), transcript));
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
    let content = match def.content_octets().and_then(Result::ok) {
        // A REQUIRETLS message goes over SMTP, where MAIL can carry the flag.
        None if def.requiretls => {
            Some(b"Subject: smtpspec delivery case\r\n\r\nHello.\r\n".to_vec())
        }
        c => c,
    };
    let hand = match (&content, profile.submit) {
        (Some(content), Some(addr)) => Hand::Smtp {
            addr,
            envelope: Envelope {
                // The case's sender when it names one (a hostile-lookup case's domain
                // leads to the hostile records), else the profile's.
                from: def.from.as_deref().unwrap_or(&profile.from),
                to: &to,
                requiretls: def.requiretls,
                source: def.source,
            },
            content,
        },
        _ => Hand::Command(&inject),
    };
    let mut runs = Vec::new();
    for n in 0..def.runs {
        match deliver_once(profile, &hand, to.len(), servers, n).await {
            Ok((run, notes)) => {
                runs.push(run);
                transcript.extend(notes);
            }
            Err(e) => return Err((HarnessError::during("inject", e), transcript)),
        }
        if let Some(reset) = &profile.reset
            && n + 1 < def.runs
        {
            let _ = run_to_end(reset, dir, Duration::from_secs(30)).await;
        }
    }
    let asked = dns.log.lock().map(|l| l.clone()).unwrap_or_default();
    transcript.push(note(format!(
        "the MTA asked the fake DNS {} question(s){}",
        asked.len(),
        questions(&asked)
    )));
    let seen = Observation::new(runs, servers, false);
    Ok((seen, transcript))
}

/// The questions asked, each once in the order first asked, with how often: what a
/// hostile-lookup case's evidence is read from. At most 12 are listed.
fn questions(asked: &[crate::dns::Question]) -> String {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for q in asked {
        let key = format!("{} {}", q.rtype, q.name.trim_end_matches('.'));
        match seen.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => seen.push((key, 1)),
        }
    }
    let shown: Vec<String> = seen
        .iter()
        .take(12)
        .map(|(k, n)| {
            if *n > 1 {
                format!("{k} ({n} times)")
            } else {
                k.clone()
            }
        })
        .collect();
    match (shown.is_empty(), seen.len() > 12) {
        (true, _) => String::new(),
        (false, false) => format!(": {}", shown.join(", ")),
        (false, true) => format!(": {}, … {} more", shown.join(", "), seen.len() - 12),
    }
}
