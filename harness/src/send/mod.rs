//! The reference client: deliver one message the way RFC 5321 §5.1 says, through a
//! given resolver (the fake DNS), and report every attempt.
//!
//! Per recipient domain: look up MX ([`route`]), follow the plan host by host and
//! address by address, one [`attempt`] each; recipients that a host defers go on to the
//! next host, those it delivers or bounces are done. What is still deferred after every
//! host waits for the next round, up to a bounded number of rounds.

pub mod attempt;
pub mod dane;
pub mod deviation;
mod policy;
pub mod report;
pub mod route;
pub mod sts;
pub mod variant;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use smtp_protocol::address::{ForwardPath, Host};
use smtp_protocol::client::{
    ClientConfig, Disposition, Outgoing, RecipientResult, Stage, Timeouts, TlsPolicy,
};
use smtp_protocol::reply::ReplyCode;

pub use attempt::Trust;
pub use deviation::SenderDeviation;
use policy::{Check, Dane, Usable};
pub use report::{AttemptReport, Delivery, Final, Round, RouteReport};
use report::{report, unreachable};
use route::{Answer, Candidate, Dns, Plan, Rng};
pub use variant::ClientVariant;

/// How the reference client delivers.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// The resolver to ask; `None` is the system's.
    pub dns: Option<SocketAddr>,
    /// Skip DNS and hand everything to this server (a smarthost).
    pub server: Option<SocketAddr>,
    /// The SMTP port of MX hosts: 25 (RFC 5321 §4.5.4.1 "port 25"), another for tests.
    pub port: u16,
    /// The session's behaviour (EHLO name, TLS, AUTH, pipelining).
    pub client: ClientConfig,
    /// Names this host goes by besides its EHLO name, for the self-MX rule.
    pub own_names: Vec<String>,
    /// The per-command timeouts.
    pub timeouts: Timeouts,
    /// How long a TCP connection may take.
    pub connect_timeout: Duration,
    /// How long one DNS question may take.
    pub dns_timeout: Duration,
    /// At most this many rounds (1 = no retry).
    pub rounds: u32,
    /// The wait between rounds.
    pub retry_delay: Duration,
    /// Seed of the shuffle of equal MX preferences.
    pub seed: u64,
    /// Misbehave on purpose (the self-test of the delivery cases).
    pub deviations: Vec<SenderDeviation>,
    /// Verify server certificates against these roots; `None` accepts any (smtpspec
    /// tests SMTP, not a PKI).
    pub trust: Option<Trust>,
    /// Look for MTA-STS policies (RFC 8461), fetched so and checked against these
    /// roots; `None`: the client does not do MTA-STS (it has nothing to trust).
    pub mta_sts: Option<sts::Fetch>,
    /// The MTA-STS policies fetched so far (kept across deliveries made with these
    /// options, RFC 8461 §5.1).
    pub sts_cache: Arc<sts::Cache>,
}

impl SendOptions {
    /// Defaults of an MTA, compressed where a test cannot wait: one round, a 10 s
    /// connect timeout, 5 s DNS questions, the RFC's command timeouts.
    pub fn new(client: ClientConfig) -> Self {
        Self {
            dns: None,
            server: None,
            port: 25,
            client,
            own_names: Vec::new(),
            timeouts: Timeouts::default(),
            connect_timeout: Duration::from_secs(10),
            dns_timeout: Duration::from_secs(5),
            rounds: 1,
            retry_delay: Duration::from_secs(60),
            seed: 0,
            deviations: Vec::new(),
            trust: None,
            mta_sts: None,
            sts_cache: Arc::default(),
        }
    }
}

struct Pending {
    to: ForwardPath,
    result: Option<(Disposition, Option<SocketAddr>, String)>,
}

fn domain_of(to: &ForwardPath) -> String {
    match to {
        ForwardPath::Mailbox(m) => match &m.host {
            Some(Host::Domain(d)) => route::canonical(d.as_str()),
            Some(Host::Literal(l)) => l.to_string(),
            None => String::new(),
        },
        ForwardPath::Postmaster => String::new(),
    }
}

/// Deliver `message` as [`SendOptions`] say.
pub async fn deliver(message: &Outgoing, options: &SendOptions) -> Delivery {
    let mut pending: Vec<Pending> = message
        .to
        .iter()
        .map(|to| Pending {
            to: to.clone(),
            result: None,
        })
        .collect();
    let mut rng = Rng::new(options.seed);
    let mut own = options.own_names.clone();
    own.push(options.client.helo.to_string());
    let mut rounds = Vec::new();
    let last_round = if options.deviations.contains(&SenderDeviation::NoRetry) {
        1
    } else {
        options.rounds.max(1)
    };
    for number in 1..=last_round {
        if number > 1 {
            tokio::time::sleep(options.retry_delay).await;
        }
        let mut round = Round {
            number,
            routes: Vec::new(),
            attempts: Vec::new(),
        };
        let mut by_domain: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, p) in pending.iter().enumerate() {
            if p.result
                .as_ref()
                .is_none_or(|r| r.0 == Disposition::Deferred)
            {
                by_domain.entry(domain_of(&p.to)).or_default().push(i);
            }
        }
        if by_domain.is_empty() {
            break;
        }
        for (domain, members) in by_domain {
            let run = DomainRun {
                members: &members,
                pending: &mut pending,
                message,
                options,
                round: &mut round,
                any_temporary: false,
                turned_away: false,
                tried_any: false,
            };
            run.deliver(&domain, &own, &mut rng).await;
        }
        rounds.push(round);
        if pending.iter().all(|p| {
            p.result
                .as_ref()
                .is_some_and(|r| r.0 != Disposition::Deferred)
        }) {
            break;
        }
    }
    let recipients = pending
        .into_iter()
        .map(|p| {
            let (disposition, delivered_to, reason) =
                p.result
                    .unwrap_or((Disposition::Deferred, None, "never tried".into()));
            Final {
                recipient: p.to.to_string(),
                disposition,
                delivered_to,
                reason,
            }
        })
        .collect();
    Delivery { rounds, recipients }
}

/// A hop to one host: its name and preference, and the addresses to use when they are
/// known without DNS (a smarthost).
type Hop = (Candidate, Option<Vec<SocketAddr>>);

/// One domain's recipients in one round: its route (RFC 5321 §5.1), then each host
/// and address in order until every recipient is decided.
struct DomainRun<'a> {
    members: &'a [usize],
    pending: &'a mut [Pending],
    message: &'a Outgoing,
    options: &'a SendOptions,
    round: &'a mut Round,
    /// A failure that may pass (a lookup, a connection, a 4xx) was seen.
    any_temporary: bool,
    /// A host was turned away because it cannot carry a REQUIRETLS message (found
    /// insecurely, no TLS, a certificate that fails, no REQUIRETLS after TLS).
    turned_away: bool,
    /// At least one address was tried.
    tried_any: bool,
}

impl DomainRun<'_> {
    async fn deliver(mut self, domain: &str, own: &[String], rng: &mut Rng) {
        let Some((hosts, dns)) = self.route(domain, own, rng).await else {
            return;
        };
        let policy = self.mta_sts(domain, dns.as_ref()).await;
        let first_only = self
            .options
            .deviations
            .contains(&SenderDeviation::FirstHostOnly);
        for (n, (candidate, fixed)) in hosts.into_iter().enumerate() {
            if first_only && n > 0 {
                break;
            }
            let Some(addrs) = self.addresses(&candidate, fixed, dns.as_ref()).await else {
                continue;
            };
            let check = match self.dane(&candidate, dns.as_ref()).await {
                Dane::Off => match self.enforced(policy.as_ref(), &candidate) {
                    Usable::Yes(check) => check,
                    Usable::No(why) => {
                        self.any_temporary = true;
                        self.round.attempts.push(unreachable(&candidate, None, why));
                        continue;
                    }
                },
                // RFC 8461 §2: MTA-STS never overrides DANE; where DANE applies, it decides.
                Dane::Check(v) => Check::Dane(v),
                Dane::Lost(why) => {
                    self.any_temporary = true;
                    self.round.attempts.push(unreachable(&candidate, None, why));
                    continue;
                }
            };
            let check = match self.requiretls(check, &candidate, dns.as_ref()) {
                Usable::Yes(check) => check,
                Usable::No(why) => {
                    self.turned_away = true;
                    self.round.attempts.push(unreachable(&candidate, None, why));
                    continue;
                }
            };
            for addr in addrs {
                if !self.try_address(&candidate, addr, check.clone()).await {
                    return;
                }
            }
        }
        self.settle_rest();
    }

    fn settle_all(&mut self, d: Disposition, why: &str) {
        for &i in self.members {
            self.pending[i].result = Some((d, None, why.to_string()));
        }
    }

    /// The hosts to try, from the smarthost or from MX (with the resolver to find
    /// their addresses); `None` when the recipients are already decided.
    async fn route(
        &mut self,
        domain: &str,
        own: &[String],
        rng: &mut Rng,
    ) -> Option<(Vec<Hop>, Option<Dns>)> {
        let options = self.options;
        // A smarthost takes everything; no DNS.
        if let Some(server) = options.server {
            let c = Candidate {
                host: server.ip().to_string(),
                preference: None,
            };
            self.round.routes.push(RouteReport {
                domain: domain.into(),
                hosts: vec![c.clone()],
                problem: None,
                policy: None,
            });
            return Some((vec![(c, Some(vec![server]))], None));
        }
        let dns = match Dns::new(options.dns, options.dns_timeout) {
            Ok(d) => d,
            Err(e) => {
                self.settle_all(Disposition::Deferred, &e.0);
                return None;
            }
        };
        let plan = route::plan(domain, dns.mx(domain).await, own, rng, &options.deviations);
        let (hosts, problem) = match plan {
            Plan::Hosts(mut h) => {
                if options
                    .deviations
                    .contains(&SenderDeviation::AddressFallback)
                    && h.iter().all(|c| c.preference.is_some())
                {
                    h.push(Candidate {
                        host: domain.to_string(),
                        preference: None,
                    });
                }
                (h, None)
            }
            Plan::Bounce(why) => {
                self.settle_all(Disposition::Bounced, &why);
                (Vec::new(), Some(why))
            }
            Plan::Defer(why) => {
                self.settle_all(Disposition::Deferred, &why);
                (Vec::new(), Some(why))
            }
        };
        self.round.routes.push(RouteReport {
            domain: domain.into(),
            hosts: hosts.clone(),
            problem,
            policy: None,
        });
        Some((hosts.into_iter().map(|h| (h, None)).collect(), Some(dns)))
    }

    /// A host's addresses; `None` (with the attempt reported) when it has none now.
    async fn addresses(
        &mut self,
        candidate: &Candidate,
        fixed: Option<Vec<SocketAddr>>,
        dns: Option<&Dns>,
    ) -> Option<Vec<SocketAddr>> {
        let dns = match (fixed, dns) {
            (Some(a), _) => return Some(a),
            (None, None) => return Some(Vec::new()),
            (None, Some(dns)) => dns,
        };
        if self
            .options
            .deviations
            .contains(&SenderDeviation::NumericMxAsAddress)
            && let Ok(ip) = candidate.host.trim_end_matches('.').parse::<IpAddr>()
        {
            return Some(vec![SocketAddr::new(ip, self.options.port)]);
        }
        let why = match dns.addresses(&candidate.host).await {
            Answer::Records((ips, _alias)) => {
                return Some(
                    ips.into_iter()
                        .map(|ip| SocketAddr::new(ip, self.options.port))
                        .collect(),
                );
            }
            Answer::Temporary(w) => {
                self.any_temporary = true;
                format!("address lookup failed: {w}")
            }
            Answer::NxDomain => "the host does not exist (NXDOMAIN)".into(),
            _ => "the host has no address (no A or AAAA)".into(),
        };
        self.round.attempts.push(unreachable(candidate, None, why));
        None
    }

    /// One SMTP session with `addr` for the recipients still open, under the
    /// certificate check `check` says; false when none is left open.
    async fn try_address(&mut self, candidate: &Candidate, addr: SocketAddr, check: Check) -> bool {
        let open: Vec<usize> = self
            .members
            .iter()
            .copied()
            .filter(|&i| {
                self.pending[i]
                    .result
                    .as_ref()
                    .is_none_or(|r| r.0 == Disposition::Deferred)
            })
            .collect();
        if open.is_empty() {
            return false;
        }
        let offer = Outgoing {
            from: self.message.from.clone(),
            to: open.iter().map(|&i| self.pending[i].to.clone()).collect(),
            content: self.message.content.clone(),
        };
        let options = self.options;
        let mut client = options.client.clone();
        let (trust, dane, required) = match check {
            Check::None => (options.trust.clone(), None, false),
            // RFC 7672 §2.2, RFC 8461 §4.2: TLS or nothing, and a certificate checked.
            Check::Dane(v) => (None, Some(v), true),
            Check::Pkix(t) => (Some(t), None, true),
        };
        if required {
            client.tls = TlsPolicy::Required;
        }
        client.requiretls = self.requires_tls();
        client.raw_line_ends |= options.deviations.contains(&SenderDeviation::BareLineEnds);
        client.strip_nul_after_stuffing |= options
            .deviations
            .contains(&SenderDeviation::StripNulAfterStuffing);
        let mut conn = attempt::run(
            addr,
            client,
            offer,
            &options.timeouts,
            options.connect_timeout,
            trust.as_ref(),
            dane,
        )
        .await;
        deviate(&mut conn.results, &options.deviations);
        self.tried_any = true;
        if let Some(why) = conn.connect_error {
            self.any_temporary = true;
            self.round
                .attempts
                .push(unreachable(candidate, Some(addr), why));
            return true;
        }
        for (&i, r) in open.iter().zip(&conn.results) {
            let to = (r.disposition == Disposition::Delivered).then_some(addr);
            self.pending[i].result = Some((r.disposition, to, format!("{}: {}", addr, r.reason)));
            if r.disposition == Disposition::Deferred {
                // No TLS, a failed handshake, or no REQUIRETLS after TLS: the session
                // gave up before a reply about the message (RFC 8689 §4.2.1 steps 4-5).
                let for_requiretls = self.requires_tls()
                    && r.reply.is_none()
                    && matches!(r.stage, Stage::StartTls | Stage::Handshake | Stage::Mail);
                if for_requiretls {
                    self.turned_away = true;
                } else {
                    self.any_temporary = true;
                }
            }
        }
        self.round.attempts.push(report(
            candidate,
            addr,
            &conn.results,
            &conn.findings,
            conn.transcript,
        ));
        true
    }

    /// Everything tried and still undecided: deferred, or bounced if no host could
    /// ever be used (every MX without an address, RFC 5321 §5.1).
    fn settle_rest(&mut self) {
        if self.requires_tls() && self.turned_away && !self.any_temporary {
            // RFC 8689 §4.2.1: every MX host failed its checks, so the message is not
            // sent to the domain and the sender gets a non-delivery notification. A
            // failure that may pass (a lookup, a connection, a 4xx) defers instead.
            for &i in self.members {
                let p = &mut self.pending[i];
                if p.result
                    .as_ref()
                    .is_none_or(|r| r.0 == Disposition::Deferred)
                {
                    let last = p.result.take().map(|r| format!(": last, {}", r.2));
                    let why = format!(
                        "REQUIRETLS (RFC 8689 §4.2.1): no MX host met its requirements{}",
                        last.unwrap_or_default()
                    );
                    p.result = Some((Disposition::Bounced, None, why));
                }
            }
            return;
        }
        let (d, why) = if self.any_temporary || self.tried_any {
            (Disposition::Deferred, "no host took the message")
        } else {
            (Disposition::Bounced, "no MX host has an address")
        };
        for &i in self.members {
            if self.pending[i].result.is_none() {
                self.pending[i].result = Some((d, None, why.to_string()));
            }
        }
    }
}

/// The per-recipient mistakes of [`SenderDeviation`], applied to what a session decided.
fn deviate(results: &mut [RecipientResult], deviations: &[SenderDeviation]) {
    for r in results {
        let code = r.reply.as_ref().map(|reply| reply.code);
        let flip = match (r.disposition, r.stage) {
            (Disposition::Bounced, Stage::Rcpt) => {
                deviations.contains(&SenderDeviation::RetryPermanent)
            }
            (Disposition::Deferred, Stage::Rcpt) if code == Some(ReplyCode::EXCEEDED_STORAGE) => {
                deviations.contains(&SenderDeviation::Rcpt552Permanent)
            }
            (Disposition::Deferred, Stage::Content) if code.is_some_and(|c| c.class() == 4) => {
                deviations.contains(&SenderDeviation::TemporaryAsPermanent)
            }
            _ => false,
        };
        if flip {
            r.disposition = match r.disposition {
                Disposition::Bounced => Disposition::Deferred,
                _ => Disposition::Bounced,
            };
            r.reason = format!("{} (deviating)", r.reason);
        }
    }
}
