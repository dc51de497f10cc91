//! Where mail for a domain goes (RFC 5321 §5.1, RFC 7505): the MX answer turned into an
//! ordered list of hosts, and the DNS lookups behind it.
//!
//! The planning is pure ([`plan`]) so that its rules — preference order, equal
//! preferences shuffled, implicit MX, null MX, self-MX pruning — are tested without a
//! network; [`Dns`] asks a given resolver address with hickory-resolver.

use crate::outcome::HarnessError;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use hickory_proto::rr::{RData, RecordType};
use hickory_resolver::Resolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use serde::Serialize;

use super::deviation::SenderDeviation;

/// What the DNS said about a name, reduced to what delivery decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// Records.
    Records(T),
    /// The name exists but has no record of this type (NOERROR, empty).
    NoRecords,
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// A failure that may pass: SERVFAIL, REFUSED, a timeout (RFC 5321 §5.1: "a
    /// temporary error").
    Temporary(String),
}

impl<T> Answer<T> {
    /// The records turned by `f`; the other answers as they are.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Self::Records(t) => Answer::Records(f(t)),
            Self::NoRecords => Answer::NoRecords,
            Self::NxDomain => Answer::NxDomain,
            Self::Temporary(why) => Answer::Temporary(why),
        }
    }
}

/// One host to try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The exchange (or the domain itself for an implicit MX), lower case, without the
    /// final dot.
    pub host: String,
    /// Its preference; `None` for the implicit MX of §5.1.
    pub preference: Option<u16>,
}

/// The decision for a domain before any connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Try these, in order.
    Hosts(Vec<Candidate>),
    /// Give up for good: no connection is made.
    Bounce(String),
    /// Try again later.
    Defer(String),
}

/// A small deterministic generator (SplitMix64): the shuffle of equal preferences must
/// be random across runs but reproducible with `--seed`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        finalise(self.0)
    }

    /// A number below `n` (0 when `n` is 0, so an empty choice never divides by zero).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// SplitMix64's finaliser: nearby inputs land far apart, which both the generator and
/// the fuzzer's feature hashes need.
pub fn finalise(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A name as delivery compares it: lower case, no final dot.
pub fn canonical(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Turn the MX answer for `domain` into a plan. `own_names` are the names this client
/// goes by, for the self-MX rule.
pub fn plan(
    domain: &str,
    mx: Answer<Vec<(u16, String)>>,
    own_names: &[String],
    rng: &mut Rng,
    deviations: &[SenderDeviation],
) -> Plan {
    let deviates = |d| deviations.contains(&d);
    let implicit = || {
        Plan::Hosts(vec![Candidate {
            host: canonical(domain),
            preference: None,
        }])
    };
    let mut records = match mx {
        Answer::NxDomain if deviates(SenderDeviation::NxdomainTemporary) => {
            return Plan::Defer(format!("{domain} does not exist (NXDOMAIN), queued anyway"));
        }
        Answer::NxDomain => {
            return Plan::Bounce(format!("{domain} does not exist (NXDOMAIN)"));
        }
        Answer::Temporary(_) if deviates(SenderDeviation::MxFailureAsNone) => return implicit(),
        Answer::Temporary(why) if deviates(SenderDeviation::DnsErrorsPermanent) => {
            return Plan::Bounce(format!("MX lookup for {domain} failed: {why}"));
        }
        Answer::Temporary(why) => {
            return Plan::Defer(format!("MX lookup for {domain} failed: {why}"));
        }
        // §5.1: no MX, so the domain itself is the host ("implicit MX").
        Answer::NoRecords => return implicit(),
        Answer::Records(r) => r,
    };
    let null = |(_, host): &(u16, String)| host == "." || host.is_empty();
    if records.iter().all(null) {
        if deviates(SenderDeviation::NullMxAsImplicit) {
            return implicit();
        }
        // RFC 7505 §3: the domain accepts no mail; do not connect anywhere.
        return Plan::Bounce(format!(
            "{domain} publishes a null MX: it accepts no mail (RFC 7505)"
        ));
    }
    // A null MX beside real ones is a misconfiguration (RFC 7505 §3 forbids it); the
    // real ones are still usable.
    records.retain(|r| !null(r));
    if !deviates(SenderDeviation::IgnorePreference) {
        records.sort_by_key(|&(p, _)| p);
    }
    if !deviates(SenderDeviation::NoShuffle) {
        shuffle_equal(&mut records, rng);
    }
    let own: Vec<String> = own_names.iter().map(|n| canonical(n)).collect();
    // §5.1: if this host is in the list, drop it and everything at its preference or
    // worse; only better hosts may relay.
    if let Some(mine) = records
        .iter()
        .filter(|_| !deviates(SenderDeviation::NoSelfPrune))
        .filter(|(_, h)| own.contains(&canonical(h)))
        .map(|&(p, _)| p)
        .min()
    {
        records.retain(|&(p, _)| p < mine);
        if records.is_empty() {
            return Plan::Bounce(format!(
                "the best MX for {domain} is this host itself: mail loops back (RFC 5321 §5.1)"
            ));
        }
    }
    Plan::Hosts(
        records
            .into_iter()
            .map(|(p, h)| Candidate {
                host: canonical(&h),
                preference: Some(p),
            })
            .collect(),
    )
}

/// Fisher–Yates within each run of equal preference (RFC 5321 §5.1: the sender "MUST
/// randomize them to spread the load").
fn shuffle_equal(records: &mut [(u16, String)], rng: &mut Rng) {
    let mut start = 0;
    while start < records.len() {
        let pref = records[start].0;
        let end = start + records[start..].iter().take_while(|r| r.0 == pref).count();
        for i in (start + 1..end).rev() {
            let j = start + rng.below(i - start + 1);
            records.swap(i, j);
        }
        start = end;
    }
}

/// The resolver the reference client asks.
pub struct Dns {
    resolver: Resolver<TokioRuntimeProvider>,
    /// The names (with type) whose answers came validated, AD set: what DANE may
    /// build on (RFC 7672 §2.2).
    signed: Mutex<HashSet<(String, RecordType)>>,
}

impl Dns {
    /// Ask the server at `addr` (UDP, with TCP after a truncated answer), or the system
    /// resolver (`/etc/resolv.conf`) when `addr` is `None`. `timeout` bounds each
    /// question; there is one attempt and no cache, so every round asks afresh.
    pub fn new(addr: Option<SocketAddr>, timeout: Duration) -> Result<Self, HarnessError> {
        let mut builder = match addr {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                Resolver::builder_with_config(
                    ResolverConfig::from_parts(None, vec![], vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => Resolver::builder_tokio()
                .map_err(|e| crate::harness_error!("system resolver: {e}"))?,
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.cache_size = 0;
        opts.ndots = 0;
        let resolver = builder
            .build()
            .map_err(|e| crate::harness_error!("resolver: {e}"))?;
        Ok(Self {
            resolver,
            signed: Mutex::new(HashSet::new()),
        })
    }

    /// Whether the last answer about `name` of type `rtype` came validated.
    pub fn signed(&self, name: &str, rtype: RecordType) -> bool {
        self.signed
            .lock()
            .is_ok_and(|s| s.contains(&(canonical(name), rtype)))
    }

    fn note(&self, name: &str, rtype: RecordType, secure: bool) {
        if let Ok(mut s) = self.signed.lock() {
            if secure {
                s.insert((canonical(name), rtype));
            } else {
                s.remove(&(canonical(name), rtype));
            }
        }
    }

    /// One lookup of `name`'s `rtype` records, each read by `pick`, and whether the
    /// answer came validated (AD).
    async fn records<T>(
        &self,
        name: &str,
        rtype: RecordType,
        pick: impl Fn(&RData) -> Option<T>,
    ) -> Answer<(Vec<T>, bool)> {
        match self.resolver.lookup(fqdn(name), rtype).await {
            Ok(lookup) => {
                let secure = lookup.message().metadata.authentic_data;
                let records: Vec<T> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| pick(&r.data))
                    .collect();
                if records.is_empty() {
                    Answer::NoRecords
                } else {
                    Answer::Records((records, secure))
                }
            }
            Err(e) => classify(&e),
        }
    }

    /// The TLSA records of MX host `host` at port 25 (`_25._tcp.host`, RFC 7672 §3),
    /// and whether the answer came validated.
    pub async fn tlsa(&self, host: &str) -> Answer<(Vec<super::dane::Tlsa>, bool)> {
        let name = format!("_25._tcp.{}", canonical(host));
        self.records(&name, RecordType::TLSA, |data| match data {
            RData::TLSA(t) => Some(super::dane::Tlsa {
                usage: t.cert_usage.into(),
                selector: t.selector.into(),
                matching: t.matching.into(),
                data: t.cert_data.clone(),
            }),
            _ => None,
        })
        .await
    }

    /// The TXT records at `name`, each one's strings joined (RFC 8461 §3.1 reads a
    /// record split into several strings as one).
    pub async fn txt(&self, name: &str) -> Answer<Vec<String>> {
        let found = self.records(name, RecordType::TXT, |data| match data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s))
                    .collect(),
            ),
            _ => None,
        });
        found.await.map(|(records, _)| records)
    }

    /// The MX records of `domain` (CNAMEs followed by the resolver).
    pub async fn mx(&self, domain: &str) -> Answer<Vec<(u16, String)>> {
        let found = self.records(domain, RecordType::MX, |data| match data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
            _ => None,
        });
        found.await.map(|(records, secure)| {
            self.note(domain, RecordType::MX, secure);
            records
        })
    }

    /// The addresses of `host` (A, then AAAA), and whether the name was an alias.
    pub async fn addresses(&self, host: &str) -> Answer<(Vec<IpAddr>, bool)> {
        let mut addrs = Vec::new();
        let mut alias = false;
        let mut last_err = None;
        // Validated when every answer that gave addresses was.
        let mut secure = true;
        for rtype in [RecordType::A, RecordType::AAAA] {
            match self.resolver.lookup(fqdn(host), rtype).await {
                Ok(lookup) => {
                    secure &= lookup.message().metadata.authentic_data;
                    for r in lookup.answers() {
                        match &r.data {
                            RData::A(a) => addrs.push(IpAddr::V4(a.0)),
                            RData::AAAA(a) => addrs.push(IpAddr::V6(a.0)),
                            RData::CNAME(_) => alias = true,
                            _ => {}
                        }
                    }
                }
                Err(e) => last_err = Some(classify::<()>(&e)),
            }
        }
        if !addrs.is_empty() {
            self.note(host, RecordType::A, secure);
            return Answer::Records((addrs, alias));
        }
        match last_err {
            Some(Answer::NxDomain) => Answer::NxDomain,
            Some(Answer::Temporary(why)) => Answer::Temporary(why),
            _ => Answer::NoRecords,
        }
    }
}

fn fqdn(name: &str) -> String {
    let mut n = canonical(name);
    n.push('.');
    n
}

fn classify<T>(e: &NetError) -> Answer<T> {
    if e.is_nx_domain() {
        Answer::NxDomain
    } else if e.is_no_records_found() {
        Answer::NoRecords
    } else {
        Answer::Temporary(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(list: &[(u16, &str)]) -> Answer<Vec<(u16, String)>> {
        Answer::Records(list.iter().map(|&(p, h)| (p, h.to_string())).collect())
    }

    fn hosts(plan: Plan) -> Vec<String> {
        match plan {
            Plan::Hosts(h) => h.into_iter().map(|c| c.host).collect(),
            other => panic!("not hosts: {other:?}"),
        }
    }

    #[test]
    fn preference_order_then_fallback_hosts() {
        let p = plan(
            "x.test",
            mx(&[(20, "b.x.test."), (10, "A.x.test.")]),
            &[],
            &mut Rng::new(1),
            &[],
        );
        assert_eq!(hosts(p), ["a.x.test", "b.x.test"]);
    }

    #[test]
    fn equal_preferences_are_shuffled_both_ways() {
        let answer = mx(&[(10, "a."), (10, "b."), (10, "c."), (20, "z.")]);
        let mut first = std::collections::BTreeMap::new();
        let mut rng = Rng::new(7);
        for _ in 0..600 {
            let h = hosts(plan("x.test", answer.clone(), &[], &mut rng, &[]));
            assert_eq!(h[3], "z", "the worse preference stays last");
            *first.entry(h[0].clone()).or_insert(0) += 1;
        }
        // Each of three hosts first about a third of the time.
        for host in ["a", "b", "c"] {
            let n = first[host];
            assert!(
                (150..=250).contains(&n),
                "{host} first {n} of 600: {first:?}"
            );
        }
    }

    #[test]
    fn implicit_null_and_failures() {
        assert_eq!(
            plan("x.test", Answer::NoRecords, &[], &mut Rng::new(0), &[]),
            Plan::Hosts(vec![Candidate {
                host: "x.test".into(),
                preference: None
            }])
        );
        assert!(
            matches!(plan("x.test", mx(&[(0, ".")]), &[], &mut Rng::new(0), &[]), Plan::Bounce(r) if r.contains("7505"))
        );
        assert!(matches!(
            plan("x.test", Answer::NxDomain, &[], &mut Rng::new(0), &[]),
            Plan::Bounce(_)
        ));
        assert!(matches!(
            plan(
                "x.test",
                Answer::Temporary("SERVFAIL".into()),
                &[],
                &mut Rng::new(0),
                &[]
            ),
            Plan::Defer(_)
        ));
        // A null MX among real ones is ignored.
        assert_eq!(
            hosts(plan(
                "x.test",
                mx(&[(0, "."), (10, "a.")]),
                &[],
                &mut Rng::new(0),
                &[]
            )),
            ["a"]
        );
    }

    #[test]
    fn self_mx_prunes_equal_and_worse() {
        let own = vec!["relay.x.test".to_string()];
        let p = plan(
            "x.test",
            mx(&[
                (10, "best."),
                (20, "relay.x.test."),
                (20, "peer."),
                (30, "worse."),
            ]),
            &own,
            &mut Rng::new(0),
            &[],
        );
        assert_eq!(hosts(p), ["best"]);
        let p = plan(
            "x.test",
            mx(&[(10, "relay.x.test."), (20, "b.")]),
            &own,
            &mut Rng::new(0),
            &[],
        );
        assert!(matches!(p, Plan::Bounce(r) if r.contains("loops")));
    }
}
