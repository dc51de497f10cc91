//! A case is one of three kinds: steps against a server, a delivery (the sender under
//! test) or a client script (the client under test). This checks that a case is exactly
//! one of them and what the delivery and client blocks say beyond their YAML types.

use std::sync::Arc;

use super::super::CaseDef;
use super::super::client::{ClientCase, check_client};
use super::super::sender::DeliveryDef;

/// The checked delivery and client blocks of `def`; every problem goes to `report`
/// with its line and column.
pub(super) fn check(
    def: &CaseDef,
    first_line: u64,
    report: &mut dyn FnMut(u64, u64, String),
) -> (Option<Arc<DeliveryDef>>, Option<Arc<ClientCase>>) {
    let kinds = usize::from(!def.steps.is_empty())
        + usize::from(def.delivery.is_some())
        + usize::from(def.client.is_some());
    if kinds != 1 {
        let msg = if kinds == 0 {
            "a case needs steps, a delivery or a client script"
        } else {
            "a case has one of steps, a delivery or a client script, not several"
        };
        let (line, col) = def
            .delivery
            .as_ref()
            .map(|d| (d.referenced.line(), d.referenced.column()))
            .or_else(|| {
                def.client
                    .as_ref()
                    .map(|c| (c.referenced.line(), c.referenced.column()))
            })
            .unwrap_or((first_line, 1));
        report(line, col, msg.into());
    }
    let client = match &def.client {
        Some(c) => match check_client(&c.value) {
            Ok(checked) => Some(Arc::new(checked)),
            Err(problems) => {
                for (line, col, problem) in problems {
                    report(line, col, problem);
                }
                None
            }
        },
        None => None,
    };
    let delivery = match &def.delivery {
        None => None,
        Some(d) => {
            for problem in check_delivery(&d.value) {
                report(
                    d.referenced.line(),
                    d.referenced.column(),
                    format!("delivery: {problem}"),
                );
            }
            Some(Arc::new(d.value.clone()))
        }
    };
    (delivery, client)
}

/// The hand-over to a real MTA: where it comes from and what it must survive.
fn check_handover(d: &DeliveryDef) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = d.expect.lookups() {
        problems.push(e.into_message());
    }
    if !d.expect.survives_lookup.is_empty() && d.content.is_none() {
        problems.push(
            "expect.survives_lookup needs content: the MTA must receive the message over SMTP"
                .into(),
        );
    }
    if let Some(ip) = d.source {
        if !ip.is_loopback() && !ip.is_documentation() {
            problems.push(format!(
                "source: {ip} is neither loopback (127.0.0.0/8) nor a documentation \
                 address (RFC 5737) a test namespace may hold"
            ));
        }
        if d.content.is_none() {
            problems.push("source needs content: only an SMTP handover comes from it".into());
        }
    }
    problems
}

/// What YAML types cannot say about a delivery block.
fn check_delivery(d: &DeliveryDef) -> Vec<String> {
    let mut problems = crate::dns::zone::check(&d.zones);
    if d.zones.is_empty() {
        problems.push("zones: at least one zone is needed".into());
    }
    if !(1..=1000).contains(&d.runs) {
        problems.push(format!("runs: {} is not 1 to 1000", d.runs));
    }
    if !(1..=10).contains(&d.rounds) {
        problems.push(format!("rounds: {} is not 1 to 10", d.rounds));
    }
    if d.runs > 1 && d.expect.tried.is_some() {
        problems.push("expect.tried needs runs: 1 (use first_tried to measure a spread)".into());
    }
    for (ip, [low, high]) in &d.expect.first_tried {
        if !(0.0..=1.0).contains(low) || !(0.0..=1.0).contains(high) || low > high {
            problems.push(format!(
                "expect.first_tried {ip}: [{low}, {high}] is not a range within 0..1"
            ));
        }
    }
    if let Some(r) = &d.expect.reason
        && let Err(e) = regex::Regex::new(r)
    {
        problems.push(format!("expect.reason: {e}"));
    }
    if let Some(b) = &d.before {
        problems.extend(
            crate::dns::zone::check(&b.zones)
                .into_iter()
                .map(|p| format!("before.zones: {p}")),
        );
        if let Some(w) = &b.wait
            && crate::scenario::parse_duration(w)
                .is_none_or(|d| d > std::time::Duration::from_secs(60))
        {
            problems.push(format!("before.wait: {w:?} is not a duration up to 60s"));
        }
        if d.runs != 1 || d.rounds != 1 {
            problems.push("before needs runs: 1 and rounds: 1".into());
        }
    }
    if let Some(Err(at)) = d.content_octets() {
        problems.push(format!(
            "content: bad escape at offset {at} (\\r \\n \\t \\0 \\\\ \\xHH)"
        ));
    }
    if let Some(r) = &d.expect.relayed {
        if d.runs != 1 {
            problems.push("expect.relayed needs runs: 1".into());
        }
        match r.end() {
            None => problems.push(format!(
                "expect.relayed.sequence: {:?} names no end-of-data sequence (one of {})",
                r.sequence,
                smtp_protocol::EndOfData::ALL.map(|e| e.name()).join(", ")
            )),
            Some(end) => {
                let seq = end.bytes();
                let content = d.content_octets().and_then(Result::ok).unwrap_or_default();
                if !content.windows(seq.len()).any(|w| w == seq) {
                    problems.push(format!(
                        "expect.relayed.sequence: the content does not carry {} ({})",
                        end.name(),
                        end.escaped()
                    ));
                }
            }
        }
    }
    problems.extend(check_handover(d));
    for a in d.to.iter().chain(&d.from) {
        if smtp_protocol::Mailbox::parse(a).is_err() {
            problems.push(format!("{a:?} is not a mailbox"));
        }
    }
    if let Some(h) = &d.helo
        && smtp_protocol::Host::parse(h).is_err()
    {
        problems.push(format!("helo: {h:?} is not a domain"));
    }
    for ip in d.servers.keys() {
        if !ip.is_loopback() {
            problems.push(format!(
                "servers: {ip} is not a loopback address (127.0.0.0/8)"
            ));
        }
    }
    problems
}
