//! The one judge of a delivery case's `expect:` block, over one [`Observation`] type
//! whoever the sender was.
//!
//! The reference client gives its own account of each delivery (every address it
//! tried, refused ones included, where each recipient went and why). A real MTA is
//! seen only from the scripted servers' side: connections, messages taken, and the
//! queue if its profile can be asked. The judge checks what the evidence shows and
//! says which evidence it lacks; it never passes on a check it could not make.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::outcome::Unmet;
use crate::roles::script::{Received, Scripted};
use crate::scenario::sender::{DeliveryDef, DeliveryExpect, Outcome};
use crate::wire::{Dir, Event};

/// What one sender did in one case, over all its deliveries.
pub(super) struct Observation {
    /// One per delivery the sender was asked to make (`runs`).
    pub runs: Vec<Run>,
    /// Every connection the scripted servers accepted, in order, over all runs.
    pub connections: Vec<IpAddr>,
    /// Messages the scripted servers took, by address, over all runs.
    pub taken: BTreeMap<IpAddr, usize>,
    /// The sender's account holds addresses it tried and was refused at; without it
    /// only addresses with a scripted server can be seen tried.
    pub sees_refused: bool,
    /// Every message taken, as it came on the wire, with the server that took it.
    pub received: Vec<(IpAddr, Received)>,
    /// MTA-STS policies the case's policy hosts handed out, over all its deliveries.
    pub policies_served: usize,
    /// What the sender asked the fake DNS in the judged delivery.
    pub questions: Vec<crate::dns::Question>,
}

impl Observation {
    /// What the scripted servers saw over `runs`; `sees_refused` says whether the
    /// sender's own account lists the addresses that refused it.
    pub(super) fn new(runs: Vec<Run>, servers: &Scripted, sees_refused: bool) -> Self {
        Self {
            runs,
            connections: servers.order(),
            taken: servers.taken(),
            sees_refused,
            received: servers.received(),
            policies_served: 0,
            questions: Vec::new(),
        }
    }
}

/// One delivery.
pub(super) struct Run {
    /// How it ended; `None` when not every recipient was taken and nothing tells a
    /// deferral from a bounce (both leave the servers alike).
    pub outcome: Option<Outcome>,
    /// The addresses tried, in order.
    pub tried: Vec<IpAddr>,
    /// The sender's own account, when it gives one.
    pub account: Option<Account>,
    /// What the MTA answered when the content was handed to it over SMTP.
    pub handover: Option<super::submit::Handover>,
}

/// What the reference client says of a delivery.
pub(super) struct Account {
    /// Where each delivered recipient went.
    pub delivered_to: Vec<IpAddr>,
    /// The reason given for each recipient's outcome.
    pub reasons: Vec<String>,
}

/// Addresses as a report shows them.
pub(super) fn list(ips: &[IpAddr]) -> String {
    if ips.is_empty() {
        "nothing".into()
    } else {
        ips.iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn note(text: String) -> Event {
    Event {
        dir: Dir::Note,
        data: text.into_bytes(),
    }
}

/// The case's `expect:` against what was observed: the pass reason, or what was
/// unmet. Notes for the report go to `transcript`.
pub(super) fn judge(
    def: &DeliveryDef,
    seen: &Observation,
    transcript: &mut Vec<Event>,
) -> Result<String, Unmet> {
    let e = &def.expect;
    for (n, r) in seen.runs.iter().enumerate() {
        let run = if seen.runs.len() > 1 {
            format!("run {}: ", n + 1)
        } else {
            String::new()
        };
        judge_run(e, &run, r, seen, def)?;
    }
    if let Some(want) = e.connections
        && want != seen.connections.len()
    {
        let saw = seen.connections.len();
        return Err(
            Unmet::wanted(format!("{want} connection(s)"), format!("{saw}")).said(format!(
                "wanted {want} connection(s) to the scripted servers, saw {saw} ({})",
                list(&seen.connections)
            )),
        );
    }
    if let Some(want) = e.delivered_to {
        let taken = seen.taken.get(&want).copied().unwrap_or(0);
        if taken == 0 {
            return Err(crate::unmet!(
                "the scripted server at {want} took no message"
            ));
        }
        if taken < seen.runs.len() {
            return Err(crate::unmet!(
                "the scripted server at {want} took {taken} message(s) in {} deliveries",
                seen.runs.len()
            ));
        }
    }
    if let Some(want) = &e.mail_parameter {
        mail_parameter(want, seen)?;
    }
    if def.requiretls
        && let Some((at, _)) = seen.received.iter().find(|(_, m)| !m.tls)
    {
        return Err(crate::unmet!(
            "the REQUIRETLS message reached {at} in the clear (RFC 8689 §4.2.1: TLS or nothing)"
        ));
    }
    let mut why = if e.first_tried.is_empty() {
        let Some(first) = seen.runs.first() else {
            return Err(crate::unmet!("the sender made no delivery"));
        };
        let outcome = match first.outcome {
            Some(o) => o.as_str(),
            None => "not delivered (deferred and bounced look alike from the servers' side)",
        };
        format!("{outcome}; tried {}", list(&first.tried))
    } else {
        first_tried(e, &seen.runs, transcript)?
    };
    if let Some(pattern) = &e.reason
        && seen.runs.iter().any(|r| r.account.is_none())
    {
        why.push_str(&format!(
            "; the reason /{pattern}/ was not checked: the sender gives no account of its own"
        ));
    }
    Ok(why)
}

/// One delivery against the `expect:` block: outcome, addresses tried, where it was
/// delivered, the reason given.
fn judge_run(
    e: &DeliveryExpect,
    run: &str,
    r: &Run,
    seen: &Observation,
    def: &DeliveryDef,
) -> Result<(), Unmet> {
    let detail = match &r.account {
        Some(a) => a.reasons.join("; "),
        None => format!("seen from the servers' side; tried {}", list(&r.tried)),
    };
    if let Some(want) = &e.outcome {
        match r.outcome {
            Some(got) if want.allows(got) => {}
            // Not delivered, and deferred or bounced would both do.
            None if want.list().iter().any(|o| *o != Outcome::Delivered) => {}
            got => {
                let got = got.map_or("not delivered", Outcome::as_str);
                let want = want.describe();
                return Err(Unmet::wanted(&want, got)
                    .said(format!("{run}wanted {want}, got {got} ({detail})")));
            }
        }
    }
    if let Some(want) = &e.tried {
        // A refused connection leaves no trace on the servers' side: without the
        // sender's account only addresses with a scripted server can be seen tried.
        let want: Vec<IpAddr> = want
            .iter()
            .copied()
            .filter(|ip| {
                seen.sees_refused || matches!(ip, IpAddr::V4(v4) if def.servers.contains_key(v4))
            })
            .collect();
        if r.tried != want {
            let (want, got) = (list(&want), list(&r.tried));
            return Err(Unmet::wanted(&want, &got)
                .said(format!("wanted the sender to try {want}, it tried {got}")));
        }
    }
    let Some(account) = &r.account else {
        return Ok(());
    };
    if let Some(want) = e.delivered_to {
        let got = &account.delivered_to;
        if got.iter().any(|ip| *ip != want) || got.is_empty() {
            return Err(Unmet::wanted(format!("delivery to {want}"), list(got))
                .said(format!("{run}wanted delivery to {want}, got {}", list(got))));
        }
    }
    if let Some(pattern) = &e.reason {
        let re = regex::Regex::new(pattern).map_err(|e| crate::unmet!("{e}"))?;
        if !account.reasons.iter().any(|r| re.is_match(r)) {
            let reasons = account.reasons.join("; ");
            return Err(Unmet::wanted(format!("/{pattern}/"), &reasons)
                .said(format!("{run}no reason matches /{pattern}/: {reasons}")));
        }
    }
    Ok(())
}

/// `mail_parameter`: every message taken came with the parameter on its MAIL (a relay
/// that drops REQUIRETLS lets the next hops deliver in the clear, RFC 8689 §4.2.1).
fn mail_parameter(want: &str, seen: &Observation) -> Result<(), Unmet> {
    for (at, m) in &seen.received {
        if !m.mail_params.iter().any(|k| k.eq_ignore_ascii_case(want)) {
            let got = if m.mail_params.is_empty() {
                "none".to_string()
            } else {
                m.mail_params.join(" ")
            };
            return Err(Unmet::wanted(want, &got).said(format!(
                "the message {at} took came without {want} on MAIL (its parameters: {got})"
            )));
        }
    }
    Ok(())
}

/// `first_tried`: over many runs, how often each address was tried first (RFC 5321
/// §5.1: equal preferences in random order).
fn first_tried(
    e: &DeliveryExpect,
    runs: &[Run],
    transcript: &mut Vec<Event>,
) -> Result<String, Unmet> {
    let mut first: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for r in runs {
        if let Some(ip) = r.tried.first() {
            *first.entry(*ip).or_default() += 1;
        }
    }
    let count = runs.len().max(1) as f64;
    let shares: Vec<String> = first
        .iter()
        .map(|(ip, n)| format!("{ip} {n}/{}", runs.len()))
        .collect();
    transcript.push(note(format!(
        "first tried over {} runs: {}",
        runs.len(),
        shares.join(", ")
    )));
    for (ip, [low, high]) in &e.first_tried {
        let share = first.get(ip).copied().unwrap_or(0) as f64 / count;
        if share < *low || share > *high {
            let want = format!("{:.0}–{:.0}%", low * 100.0, high * 100.0);
            let got = format!("{:.0}%", share * 100.0);
            return Err(Unmet::wanted(&want, &got).said(format!(
                "{ip} was tried first in {got} of {} runs, wanted {want} ({})",
                runs.len(),
                shares.join(", ")
            )));
        }
    }
    Ok(format!("first tried: {}", shares.join(", ")))
}
