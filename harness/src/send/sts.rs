//! MTA-STS for the reference client (RFC 8461): a recipient domain that publishes a
//! policy (a TXT record at `_mta-sts.<domain>` and the policy itself over HTTPS at
//! `mta-sts.<domain>`) says which MX hosts may take its mail and that they must show a
//! certificate valid for their name.
//!
//! Policies are cached per domain for their `max_age` ([`Cache`], kept as long as the
//! [`SendOptions`](super::SendOptions) that hold it: one `smtpspec send`, or one
//! delivery case). Every delivery still looks at the TXT record: a new id is fetched
//! (§3.1), and when the TXT record or the policy cannot be had, a cached policy that
//! has not expired still applies (§3.3); without one there is no policy (deliver as
//! without one). TLSRPT reports (RFC 8460) are not sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::route::{Answer, Dns, canonical};
use crate::wire::{Conn, http};

/// The most of a policy read (RFC 8461 §3.3 lets senders cap it; 64 KiB is what
/// implementations use).
pub const POLICY_CAP: usize = 64 * 1024;

/// Where RFC 8461 §3.3 puts the policy.
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

/// Why a domain has no policy to apply, in words for the transcript (RFC 8461 §3.1,
/// §3.3: a policy that cannot be had is treated as none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoPolicy(pub String);

impl std::fmt::Display for NoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for NoPolicy {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for NoPolicy {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// How strictly a policy is to be applied (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only to the listed MX hosts, only over TLS with a valid certificate.
    Enforce,
    /// Deliver as usual; failures are only to be reported.
    Testing,
    /// The domain withdrew its policy.
    None,
}

/// A policy as parsed (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// How strictly it applies: only `enforce` keeps mail from a host (§5).
    pub mode: Mode,
    /// The MX hosts it allows, lower case: a name, or `*.` and a name (one leftmost
    /// label), matched against the MX answer's names (§4.1).
    pub mx: Vec<String>,
    /// How long it may be kept and applied after its fetch, in seconds (§3.2, §5.1).
    pub max_age: u64,
}

impl Policy {
    /// Parse a policy body: lines of `key: value` separated by CRLF or LF; unknown
    /// keys are ignored (§3.2); `version`, `mode` and `max_age` are required, and `mx`
    /// unless the mode is `none`.
    pub fn parse(body: &[u8]) -> Result<Self, NoPolicy> {
        let text = std::str::from_utf8(body).map_err(|_| "the policy is not UTF-8")?;
        let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
        for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
            if line.trim().is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(format!("the line {line:?} is not \"key: value\"").into());
            };
            let value = value.trim();
            // §3.2: of a key other than mx, the first occurrence counts and later
            // ones are ignored (not even parsed).
            match key.trim() {
                "version" if version.is_none() => version = Some(value.to_string()),
                "mode" if mode.is_none() => {
                    mode = Some(match value {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        other => return Err(format!("mode {other:?} is not one of §5's").into()),
                    });
                }
                "max_age" if max_age.is_none() => {
                    // 1*10DIGIT: no sign, no space.
                    let age = (!value.is_empty()
                        && value.len() <= 10
                        && value.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| value.parse::<u64>().ok())
                    .flatten()
                    .ok_or_else(|| format!("max_age {value:?} is not 1 to 10 digits"))?;
                    if age > 31_557_600 {
                        return Err(format!("max_age {age} is over a year (31557600)").into());
                    }
                    max_age = Some(age);
                }
                "mx" => mx.push(value.to_ascii_lowercase()),
                _ => {}
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err(format!("version is {version:?}, not STSv1").into());
        }
        let mode = mode.ok_or("no mode")?;
        let max_age = max_age.ok_or("no max_age")?;
        if mx.is_empty() && mode != Mode::None {
            return Err("no mx".into());
        }
        Ok(Self { mode, mx, max_age })
    }

    /// Whether MX host `host` matches one of the `mx` patterns (§4.1): equal, or a
    /// wildcard that stands for exactly its leftmost label.
    pub fn allows(&self, host: &str) -> bool {
        let host = canonical(host);
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => *p == host,
        })
    }

    /// The policy in one line, for the route's report: what the sender held itself to.
    pub fn describe(&self) -> String {
        let mode = match self.mode {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        };
        format!(
            "mode {mode}, mx {}, max_age {}",
            self.mx.join(" "),
            self.max_age
        )
    }
}

/// The policy id of the `_mta-sts` TXT records (§3.1): the one record that starts
/// with `v=STSv1`; anything else means no policy.
pub fn policy_id(records: &[String]) -> Result<String, NoPolicy> {
    let ours: Vec<&String> = records
        .iter()
        .filter(|r| r.starts_with("v=STSv1;") || r.as_str() == "v=STSv1")
        .collect();
    let [record] = ours.as_slice() else {
        return Err(format!(
            "{} TXT records start with v=STSv1 (§3.1 wants exactly one)",
            ours.len()
        )
        .into());
    };
    let id = record
        .split(';')
        .filter_map(|field| field.trim().split_once('='))
        .find(|(k, _)| *k == "id")
        .map(|(_, v)| v.to_string())
        .ok_or_else(|| format!("{record:?} has no id"))?;
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("the id {id:?} is not 1 to 32 letters and digits").into());
    }
    Ok(id)
}

/// Where and how a policy is fetched.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// The HTTPS port: 443, another for tests.
    pub port: u16,
    /// The roots the policy host's certificate, and under `enforce` each MX host's,
    /// must chain to (§3.3, §4.2).
    pub roots: Arc<rustls::RootCertStore>,
    /// How long each step of a fetch may take (connect, TLS, request, answer).
    pub timeout: Duration,
    /// Check the policy host's certificate (false only to misbehave on purpose).
    pub verify: bool,
    /// Look at the TXT record even while a cached policy is valid (false only to
    /// misbehave: a new policy id then goes unseen until the old one expires).
    pub check_txt: bool,
    /// Apply a valid cached policy when the TXT record or the policy cannot be had
    /// (false only to misbehave: stripping them then strips the policy, §3.3).
    pub keep_cached: bool,
}

impl Fetch {
    /// As RFC 8461 says, at `port`, against `roots`, each step within `timeout`.
    pub fn new(port: u16, roots: Arc<rustls::RootCertStore>, timeout: Duration) -> Self {
        Self {
            port,
            roots,
            timeout,
            verify: true,
            check_txt: true,
            keep_cached: true,
        }
    }
}

/// Policies fetched, by domain, with their id and when they were fetched (§5.1).
#[derive(Debug, Default)]
pub struct Cache(Mutex<HashMap<String, Cached>>);

#[derive(Debug, Clone)]
struct Cached {
    id: String,
    policy: Policy,
    fetched: Instant,
}

impl Cache {
    /// The policy of `domain` fetched less than its `max_age` ago, and its id.
    fn valid(&self, domain: &str) -> Option<(String, Policy)> {
        let map = self.0.lock().ok()?;
        let c = map.get(domain)?;
        (c.fetched.elapsed() < Duration::from_secs(c.policy.max_age))
            .then(|| (c.id.clone(), c.policy.clone()))
    }

    fn store(&self, domain: &str, id: &str, policy: &Policy) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(
                domain.to_string(),
                Cached {
                    id: id.to_string(),
                    policy: policy.clone(),
                    fetched: Instant::now(),
                },
            );
        }
    }
}

/// The policy of `domain` and where it came from (fetched, or the cache), or why
/// there is none: words for the transcript either way.
pub async fn discover(
    domain: &str,
    dns: &Dns,
    fetch: &Fetch,
    cache: &Cache,
) -> Result<(Policy, String), NoPolicy> {
    let domain = canonical(domain);
    let cached = cache.valid(&domain);
    if !fetch.check_txt
        && let Some((id, policy)) = cached.clone()
    {
        return Ok((
            policy,
            format!("cached (id {id}; the TXT record not looked at)"),
        ));
    }
    let id = match dns.txt(&format!("_mta-sts.{domain}")).await {
        Answer::Records(records) => policy_id(&records),
        Answer::Temporary(why) => Err(format!("the _mta-sts TXT lookup failed: {why}").into()),
        _ => Err(format!("_mta-sts.{domain} has no TXT record").into()),
    };
    let id = match id {
        Ok(id) => id,
        Err(why) => return from_cache(cached, why, fetch),
    };
    if let Some((cached_id, policy)) = &cached
        && *cached_id == id
    {
        return Ok((policy.clone(), format!("cached (id {id} unchanged)")));
    }
    match fetch_policy(&domain, &id, dns, fetch).await {
        Ok(policy) => {
            cache.store(&domain, &id, &policy);
            Ok((policy, format!("fetched (id {id})")))
        }
        Err(why) => from_cache(cached, why, fetch),
    }
}

/// When the live policy cannot be had: the valid cached one (§3.3, a MUST), or none.
fn from_cache(
    cached: Option<(String, Policy)>,
    why: NoPolicy,
    fetch: &Fetch,
) -> Result<(Policy, String), NoPolicy> {
    match cached {
        Some((id, policy)) if fetch.keep_cached => Ok((
            policy,
            format!("cached (id {id}), which still applies (§3.3): {why}"),
        )),
        _ => Err(why),
    }
}

async fn fetch_policy(
    domain: &str,
    id: &str,
    dns: &Dns,
    fetch: &Fetch,
) -> Result<Policy, NoPolicy> {
    let host = format!("mta-sts.{domain}");
    let ip = match dns.addresses(&host).await {
        Answer::Records((ips, _)) if !ips.is_empty() => ips[0],
        _ => return Err(format!("policy id {id}: {host} has no address").into()),
    };
    let at = SocketAddr::new(ip, fetch.port);
    let body = get(at, &host, fetch)
        .await
        .map_err(|e| format!("policy id {id}: fetching https://{host}{POLICY_PATH} ({at}): {e}"))?;
    Policy::parse(&body).map_err(|e| format!("policy id {id}: {e}").into())
}

async fn get(at: SocketAddr, host: &str, fetch: &Fetch) -> Result<Vec<u8>, NoPolicy> {
    let mut conn = Conn::connect(at, fetch.timeout)
        .await
        .map_err(|e| e.to_string())?;
    if fetch.verify {
        conn.verify_with(Arc::clone(&fetch.roots), host);
    }
    conn.upgrade(fetch.timeout)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let answer = http::get(&mut conn, host, POLICY_PATH, fetch.timeout, POLICY_CAP)
        .await
        .map_err(|e| e.0)?;
    conn.shutdown(fetch.timeout).await;
    if answer.status != 200 {
        return Err(format!("HTTP status {} (§3.3: only 200 is a policy)", answer.status).into());
    }
    let plain = answer
        .content_type
        .as_deref()
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/plain"));
    if !plain {
        return Err(format!(
            "Content-Type {:?}, not text/plain (§3.3)",
            answer.content_type
        )
        .into());
    }
    Ok(answer.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_is_read_as_section_3_2_writes_it() {
        let p = Policy::parse(
            b"version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.Example.test\r\n\
              max_age: 86400\r\nextension: ignored\r\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 86400);
        assert!(p.allows("mx1.example.test."));
        assert!(p.allows("MX9.example.test"));
        assert!(!p.allows("example.test"));
        assert!(!p.allows("a.b.example.test"));
        let lf = Policy::parse(b"version: STSv1\nmode: none\nmax_age: 0\n").unwrap();
        assert_eq!(lf.mode, Mode::None);
        // A repeated key: the first counts, the second is not even read.
        let twice = Policy::parse(
            b"version: STSv1\nmode: testing\nmode: strict\nmx: a\nmax_age: 5\nmax_age: x\n",
        )
        .unwrap();
        assert_eq!((twice.mode, twice.max_age), (Mode::Testing, 5));
        for bad in [
            &b"mode: enforce\nmx: a\nmax_age: 1\n"[..],
            b"version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
            b"version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n",
            b"version: STSv1\nmode: enforce\nmax_age: 1\n",
            b"version: STSv1\nmode: enforce\nmx: a\n",
            b"version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999\n",
            b"version: STSv1\nmode enforce\n",
            b"version: STSv1\nmode: enforce\nmx: a\nmax_age: +86400\n",
        ] {
            assert!(
                Policy::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn exactly_one_record_names_the_policy() {
        let rec = |s: &[&str]| s.iter().map(|r| (*r).to_string()).collect::<Vec<_>>();
        assert_eq!(
            policy_id(&rec(&["v=STSv1; id=20261206T1;", "v=spf1 -all"])).unwrap(),
            "20261206T1"
        );
        assert!(policy_id(&rec(&["v=STSv1; id=a;", "v=STSv1; id=b;"])).is_err());
        assert!(policy_id(&rec(&["v=spf1 -all"])).is_err());
        assert!(policy_id(&rec(&["v=STSv1; id=bad-id;"])).is_err());
        assert!(policy_id(&rec(&["v=STSv1;"])).is_err());
    }
}
