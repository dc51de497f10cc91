//! What a delivery tells: its rounds, the route planned for each domain, every
//! connection attempt with its transcript, and where each recipient ended. `smtpspec
//! send --format json` prints it; delivery cases judge it.

use std::net::SocketAddr;

use serde::Serialize;
use smtp_protocol::client::{ClientFinding, Disposition, RecipientResult};

use super::route::Candidate;
use crate::wire::Event;

/// Everything that happened, for people and for scenarios.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// Where each recipient ended, in the order given.
    pub recipients: Vec<Final>,
}

/// One pass over the hosts of every domain still pending.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// From 1.
    pub number: u32,
    /// What the DNS said, per domain.
    pub routes: Vec<RouteReport>,
    /// Every connection tried, in order.
    pub attempts: Vec<AttemptReport>,
}

/// The plan for one domain in one round.
#[derive(Debug, Clone, Serialize)]
pub struct RouteReport {
    /// The recipient domain.
    pub domain: String,
    /// The hosts in the order they were to be tried.
    pub hosts: Vec<Candidate>,
    /// Why there is no host, when there is none.
    pub problem: Option<String>,
    /// The domain's MTA-STS policy (RFC 8461), or why it has none; absent when the
    /// client did not look.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// One connection (or a host that could not be reached at all).
#[derive(Debug, Clone, Serialize)]
pub struct AttemptReport {
    /// The MX host (or implicit MX, or smarthost).
    pub host: String,
    /// Its preference, if it came from an MX record.
    pub preference: Option<u16>,
    /// The address connected to; `None` when the host had no usable address.
    pub address: Option<SocketAddr>,
    /// `delivered`, `deferred`, `bounced`, `mixed`, or `unreachable`.
    pub result: String,
    /// Why, in a sentence.
    pub reason: String,
    /// Per recipient: address and disposition.
    pub recipients: Vec<(String, String)>,
    /// What a strict client noticed about this server.
    pub findings: Vec<String>,
    /// Both directions.
    pub transcript: Vec<Event>,
}

impl RouteReport {
    /// One line: the hosts in order with their preferences, or why there are none.
    pub fn describe(&self, round: u32) -> String {
        match &self.problem {
            Some(p) => format!("round {round}: {}: {p}", self.domain),
            None => {
                let hosts: Vec<String> = self
                    .hosts
                    .iter()
                    .map(|c| match c.preference {
                        Some(p) => format!("{} ({p})", c.host),
                        None => format!("{} (implicit MX)", c.host),
                    })
                    .collect();
                let policy = self
                    .policy
                    .as_ref()
                    .map(|p| format!("; {p}"))
                    .unwrap_or_default();
                format!(
                    "round {round}: {}: MX order {}{policy}",
                    self.domain,
                    hosts.join(", ")
                )
            }
        }
    }
}

impl AttemptReport {
    /// One line: host, address, result and why.
    pub fn describe(&self) -> String {
        let addr = self
            .address
            .map_or_else(|| "no address".into(), |a| a.to_string());
        format!("{} [{addr}]: {}: {}", self.host, self.result, self.reason)
    }
}

impl Final {
    /// One line: recipient, disposition and why.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} ({})",
            self.recipient,
            self.disposition.as_str(),
            self.reason
        )
    }
}

/// Where one recipient ended.
#[derive(Debug, Clone, Serialize)]
pub struct Final {
    /// The recipient.
    pub recipient: String,
    /// `delivered`, `deferred` or `bounced`.
    #[serde(serialize_with = "disposition_name")]
    pub disposition: Disposition,
    /// The address that took it, if delivered.
    pub delivered_to: Option<SocketAddr>,
    /// Why.
    pub reason: String,
}

impl Delivery {
    /// Every connection of every round, in order.
    pub fn attempts(&self) -> impl Iterator<Item = &AttemptReport> {
        self.rounds.iter().flat_map(|r| r.attempts.iter())
    }

    /// The exit status of `smtpspec send`: 0 all delivered, 1 something bounced, 3
    /// something still deferred.
    pub fn exit_code(&self) -> u8 {
        let any = |d: Disposition| self.recipients.iter().any(|r| r.disposition == d);
        if any(Disposition::Bounced) {
            1
        } else if any(Disposition::Deferred) {
            3
        } else {
            0
        }
    }
}

/// A disposition as reports write it (the protocol crate's name for it).
fn disposition_name<S: serde::Serializer>(d: &Disposition, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.as_str())
}

pub(super) fn unreachable(
    c: &Candidate,
    address: Option<SocketAddr>,
    reason: String,
) -> AttemptReport {
    AttemptReport {
        host: c.host.clone(),
        preference: c.preference,
        address,
        result: "unreachable".into(),
        reason,
        recipients: Vec::new(),
        findings: Vec::new(),
        transcript: Vec::new(),
    }
}

pub(super) fn report(
    c: &Candidate,
    addr: SocketAddr,
    results: &[RecipientResult],
    findings: &[ClientFinding],
    transcript: Vec<Event>,
) -> AttemptReport {
    let mut kinds: Vec<&str> = results.iter().map(|r| r.disposition.as_str()).collect();
    kinds.dedup();
    let result = match kinds.as_slice() {
        [one] => (*one).to_string(),
        [] => "deferred".into(),
        _ => "mixed".into(),
    };
    let reason = results
        .iter()
        .map(|r| r.reason.clone())
        .collect::<Vec<_>>()
        .join("; ");
    AttemptReport {
        host: c.host.clone(),
        preference: c.preference,
        address: Some(addr),
        result,
        reason,
        recipients: results
            .iter()
            .map(|r| (r.to.to_string(), r.disposition.as_str().to_string()))
            .collect(),
        findings: findings.iter().map(|f| format!("{f:?}")).collect(),
        transcript,
    }
}
