//! The policy oracle: what the target's operator says it must refuse, and a session
//! in which it did not. The rules come from the profile (`policy:`), because a
//! server may lawfully relay or take AUTH in the clear where its operator wants it
//! to; only the operator's word makes it a finding.
//!
//! - `auth_requires_tls`: a 235 (RFC 4954 §6, "Authentication Succeeded") to an
//!   exchange that ran in the clear. RFC 4954 §4: a server "MUST implement a
//!   configuration in which it does not permit any plaintext password mechanisms,
//!   unless either the STARTTLS command has been negotiated or some other mechanism
//!   that protects the session from password snooping has been provided".
//! - `foreign_domains`: a 2xx to `RCPT TO:` for a mailbox in one of those domains in
//!   a session that has not authenticated: an open relay, the function RFC 5321 §7.9
//!   says sites limit "to known or identifiable sources".
//! - `tls_required`: a 2xx to `MAIL` in the clear. RFC 3207 §4: a server that
//!   requires TLS answers 530 "to every command other than NOOP, EHLO, STARTTLS, or
//!   QUIT".
//! - `auth_required`: a 2xx to `MAIL` in a session that has not authenticated (a
//!   failed AUTH does not count): RFC 4954 §6's 530 "Authentication required".
//!
//! One rule needs no profile, because no operator may want it broken: commands
//! pipelined in the clear after STARTTLS and answered over TLS once the handshake
//! is done (CVE-2011-0411 class). RFC 3207 §4.2: "The server MUST discard any
//! knowledge obtained from the client, such as the argument to the EHLO command,
//! which was not obtained from the TLS negotiation itself." A man in the middle
//! who adds lines after a client's STARTTLS has them run inside the client's TLS
//! session.
//!
//! A reply is paired with the command line it answers by the client's model of the
//! session ([`super::expect::Model::take_line`]), and only while the octets have one
//! reading; the finding must show again when the input is sent again.

use smtp_protocol::{Command, ForwardPath, Host, ParseOptions, ReplyCode};

use super::Campaign;
use super::exec::{self, Trace};
use super::finding::Finding;
use super::input::{Input, Step};
use super::minimise::{self, Probe};
use super::oracle::{self, Oracle};
use super::store::Aside;
use crate::profile::PolicyOptions;
use crate::scenario::template::Vars;

/// The foreign domain the embedded server is fuzzed with, and a good one for a
/// profile: `.invalid` (RFC 2606) never resolves, so nothing a relay takes leaves.
pub const FOREIGN_TEST_DOMAIN: &str = "relay-test.invalid";

/// The words (and so the identity) of an injection finding.
const INJECTED: &str = "STARTTLS: command lines pipelined in the clear after it were \
                        answered over TLS once the handshake was done (CVE-2011-0411 \
                        class; RFC 3207 §4.2: the server MUST discard what it got before \
                        the handshake)";

/// A rule broken: where, by which command, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// The step the offending reply came after.
    pub step: usize,
    /// Replies to that step before the offending one.
    pub before: usize,
    /// `AUTH`, `RCPT` or `STARTTLS`.
    pub verb: String,
    /// What the target accepted, in words (its identity: no addresses or numbers).
    pub what: String,
    /// The RFC and section of the rule: what the reproducer cites.
    pub spec: (u16, &'static str),
}

/// The first reply in `trace` that breaks `policy`.
pub fn judge(policy: &PolicyOptions, input: &Input, trace: &Trace) -> Option<Breach> {
    if let (false, Some(n)) = (trace.injected.is_empty(), trace.tls_at) {
        return Some(Breach {
            step: n,
            before: trace.answered.get(n).copied().unwrap_or(0),
            verb: "STARTTLS".into(),
            what: INJECTED.into(),
            spec: (3207, "4.2"),
        });
    }
    if !policy.auth_requires_tls
        && !policy.tls_required
        && !policy.auth_required
        && policy.foreign_domains.is_empty()
    {
        return None;
    }
    let mut authenticated = false;
    let mut rank = vec![0usize; input.steps.len()];
    for a in &trace.answers {
        let Some(n) = a.step.filter(|&n| n < input.steps.len()) else {
            continue;
        };
        let before = rank[n];
        rank[n] += 1;
        let clear = !(trace.tls_up && trace.tls_at.is_some_and(|t| n > t));
        if a.code == ReplyCode::AUTH_SUCCEEDED.get() {
            if policy.auth_requires_tls && clear {
                return Some(Breach {
                    step: n,
                    before,
                    verb: "AUTH".into(),
                    what: "AUTH succeeded (235) before STARTTLS, where the profile says \
                           AUTH requires TLS (RFC 4954 §4)"
                        .into(),
                    spec: (4954, "4"),
                });
            }
            authenticated = true;
            continue;
        }
        if !ReplyCode::new(a.code).is_some_and(ReplyCode::is_positive) {
            continue;
        }
        if let Some(b) = mail_breach(policy, a.line.as_deref(), clear, authenticated) {
            return Some(Breach {
                step: n,
                before,
                ..b
            });
        }
        if authenticated {
            continue;
        }
        let Some(domain) = a.line.as_deref().and_then(rcpt_domain) else {
            continue;
        };
        if policy
            .foreign_domains
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&domain))
        {
            return Some(Breach {
                step: n,
                before,
                verb: "RCPT".into(),
                what: format!(
                    "RCPT to a domain the profile says is foreign accepted ({}) without \
                     AUTH: an open relay (RFC 5321 §7.9)",
                    a.code
                ),
                spec: (5321, "7.9"),
            });
        }
    }
    None
}

/// Seeds that ask for what the policy forbids: a transaction to each foreign
/// domain, plainly and behind a source route (RFC 5321 §4.1.1.3 says to ignore the
/// route, so the mailbox's domain decides). AUTH seeds come from the catalogue.
pub fn seeds(policy: &PolicyOptions, vars: &Vars) -> Vec<Input> {
    let var = |k: &str, d: &str| vars.get(k).cloned().unwrap_or_else(|| d.to_owned());
    let (helo, from) = (
        var("client.helo", "client.smtpspec.test"),
        var("client.from", "sender@client.smtpspec.test"),
    );
    let local = var("target.domain", "localhost");
    let mut out = Vec::new();
    for domain in &policy.foreign_domains {
        for to in [
            format!("<relay-test@{domain}>"),
            format!("<@{local}:relay-test@{domain}>"),
        ] {
            let line = |l: String| Step::Line(l.into_bytes());
            out.push(Input {
                steps: vec![
                    line(format!("EHLO {helo}")),
                    line(format!("MAIL FROM:<{from}>")),
                    line(format!("RCPT TO:{to}")),
                    line("DATA".into()),
                    Step::Raw(
                        b"Subject: smtpspec relay probe\r\n\r\nnot to be delivered\r\n.\r\n"
                            .to_vec(),
                    ),
                    line("QUIT".into()),
                ],
            });
        }
    }
    out
}

/// A smaller input shows the same breach: same verb, same words.
struct Shows<'a> {
    target: std::net::SocketAddr,
    limits: exec::Limits,
    policy: &'a PolicyOptions,
    key: u64,
    aside: Aside,
}

impl Probe for Shows<'_> {
    type Evidence = (Trace, String);

    async fn shows(&mut self, candidate: &Input) -> Option<(Trace, String)> {
        let t = exec::run(self.target, candidate, self.limits).await;
        self.aside.add(candidate, &t);
        let b = judge(self.policy, candidate, &t)?;
        (oracle::key(Oracle::Policy, &b.verb, &b.what) == self.key).then_some((t, b.what))
    }
}

impl Campaign {
    /// A session whose lines pipelined after STARTTLS preceded what looked wrong
    /// (a server that runs them over TLS answers them where later commands' replies
    /// are due: a reply too many). It is sent again, listening after the handshake;
    /// an injection shown then is judged as a policy finding, and explains the
    /// session when the second one, its injected replies set apart, shows nothing
    /// else (a real bug after the handshake is still confirmed as itself).
    pub(super) async fn injection_explains(&mut self, input: &Input, trace: &Trace) -> bool {
        if trace.pipelined_at_tls == 0 {
            return false;
        }
        let t = exec::run(self.options.target, input, self.options.limits.listening()).await;
        self.ran_aside(input, &t);
        if t.injected.is_empty() {
            return false;
        }
        self.judge_policy(input, &t).await;
        !matches!(oracle::judge(input, &t), oracle::Judged::Finding { .. })
    }

    /// A breach of the profile's policy, sent again: it must show again. Recorded
    /// minimised, cut after the step whose reply broke the rule, so the reproducer
    /// ends by asking that reply to be a refusal.
    pub(super) async fn judge_policy(&mut self, input: &Input, trace: &Trace) {
        let Some(b) = judge(&self.options.policy, input, trace) else {
            return;
        };
        let key = oracle::key(Oracle::Policy, &b.verb, &b.what);
        if self.seen.contains(&key) {
            return;
        }
        let mut probe = Shows {
            target: self.options.target,
            limits: self.options.limits.listening(),
            policy: &self.options.policy,
            key,
            aside: Aside::default(),
        };
        let Some(evidence) = probe.shows(input).await else {
            let aside = probe.aside;
            self.add_aside(aside);
            self.stats.unconfirm(Oracle::Policy.name());
            return;
        };
        let budget = self.options.minimise_budget;
        let (mut small, (mut t, what)) =
            minimise::shrink(&mut probe, budget, input.clone(), evidence).await;
        let aside = probe.aside;
        self.add_aside(aside);
        self.seen.insert(key);
        if let Some(b) = judge(&self.options.policy, &small, &t) {
            small.steps.truncate(b.step + 1);
            t.answered.truncate(b.step + 1);
            t.answered[b.step] = b.before;
        }
        let mut f = Finding::shown((Oracle::Policy, key), input.steps.len(), small, t, what);
        f.spec = b.spec;
        self.push(f);
    }
}

/// The domain of a `RCPT TO:` line's mailbox, as the target would read it (known
/// leniencies allowed); `None` for other commands and address literals.
/// A positive reply to MAIL where the policy says mail needs TLS or AUTH first.
fn mail_breach(
    policy: &PolicyOptions,
    line: Option<&[u8]>,
    clear: bool,
    authenticated: bool,
) -> Option<Breach> {
    let parsed = Command::parse_with(line?, ParseOptions { smtputf8: true }).ok()?;
    if !matches!(parsed.command, Command::Mail { .. }) {
        return None;
    }
    let (what, spec) = if policy.tls_required && clear {
        (
            "MAIL accepted before STARTTLS, where the profile says the port requires TLS \
             (RFC 3207 §4)",
            (3207, "4"),
        )
    } else if policy.auth_required && !authenticated {
        (
            "MAIL accepted without AUTH, where the profile says AUTH is required (RFC 4954 \
             §6)",
            (4954, "6"),
        )
    } else {
        return None;
    };
    Some(Breach {
        step: 0,
        before: 0,
        verb: "MAIL".into(),
        what: what.into(),
        spec,
    })
}

fn rcpt_domain(line: &[u8]) -> Option<String> {
    let parsed = Command::parse_with(line, ParseOptions { smtputf8: true }).ok()?;
    match parsed.command {
        Command::Rcpt {
            to: ForwardPath::Mailbox(m),
            ..
        } => match m.host? {
            Host::Domain(d) => Some(d.as_str().to_owned()),
            Host::Literal(_) => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::exec::Answer;

    /// The replies, each with the command line it answers (`""`: none), as the
    /// session's model pairs them.
    fn trace(said: &[(usize, u16, &str)]) -> Trace {
        let mut t = Trace::unreachable("");
        t.answers = said
            .iter()
            .map(|&(step, code, line)| Answer {
                line: (!line.is_empty()).then(|| line.as_bytes().into()),
                ..Answer::after(step, code)
            })
            .collect();
        t
    }

    fn lines(ls: &[&str]) -> Input {
        Input {
            steps: ls
                .iter()
                .map(|l| Step::Line(l.as_bytes().to_vec()))
                .collect(),
        }
    }

    fn policy(auth: bool, foreign: &[&str]) -> PolicyOptions {
        PolicyOptions {
            auth_requires_tls: auth,
            foreign_domains: foreign.iter().map(|d| (*d).to_owned()).collect(),
            ..PolicyOptions::default()
        }
    }

    #[test]
    fn mail_before_tls_or_auth_breaks_a_policy_that_requires_them() {
        let input = lines(&["EHLO c", "MAIL FROM:<a@b.example>"]);
        let tls = PolicyOptions {
            tls_required: true,
            ..PolicyOptions::default()
        };
        let b = judge(&tls, &input, &answered(&input, &[250, 250])).expect("breach");
        assert_eq!((b.step, b.verb.as_str(), b.spec), (1, "MAIL", (3207, "4")));
        assert_eq!(judge(&tls, &input, &answered(&input, &[250, 530])), None);
        // Without the policy, mail in the clear is every MX's right.
        let none = PolicyOptions::default();
        assert_eq!(judge(&none, &input, &answered(&input, &[250, 250])), None);
        let auth = PolicyOptions {
            auth_required: true,
            ..PolicyOptions::default()
        };
        // A failed AUTH leaves the session unauthenticated; a 235 lifts the rule.
        let failed = lines(&["EHLO c", "AUTH PLAIN AGFAYg==", "MAIL FROM:<a@b.example>"]);
        let b = judge(&auth, &failed, &answered(&failed, &[250, 535, 250])).expect("breach");
        assert_eq!((b.step, b.spec), (2, (4954, "6")));
        assert_eq!(
            judge(&auth, &failed, &answered(&failed, &[250, 235, 250])),
            None
        );
    }

    /// Each step's line answered with the code of the same rank.
    fn answered(input: &Input, codes: &[u16]) -> Trace {
        let said: Vec<(usize, u16, &str)> = input
            .steps
            .iter()
            .zip(codes)
            .enumerate()
            .map(|(n, (s, &c))| match s {
                Step::Line(l) => (n, c, std::str::from_utf8(l).unwrap_or_default()),
                _ => (n, c, ""),
            })
            .collect();
        trace(&said)
    }

    #[test]
    fn a_relay_is_a_2xx_to_a_foreign_rcpt_before_any_auth() {
        let input = lines(&[
            "EHLO c",
            "MAIL FROM:<a@b.example>",
            "RCPT TO:<x@Relay.Example>",
        ]);
        let p = policy(false, &["relay.example"]);
        let b = judge(&p, &input, &answered(&input, &[250, 250, 250])).expect("breach");
        assert_eq!((b.step, b.before, b.verb.as_str()), (2, 0, "RCPT"));
        assert_eq!(b.spec, (5321, "7.9"));
        // Refused: the policy held. Local: not a relay.
        assert_eq!(judge(&p, &input, &answered(&input, &[250, 250, 554])), None);
        let local = lines(&[
            "EHLO c",
            "MAIL FROM:<a@b.example>",
            "RCPT TO:<x@here.example>",
        ]);
        assert_eq!(judge(&p, &local, &answered(&local, &[250, 250, 250])), None);
        // After a 235 the client is known: relaying is its right.
        let mut authed = lines(&["EHLO c", "AUTH PLAIN AGFAYg=="]);
        authed.steps.extend(input.steps[1..].iter().cloned());
        let t = answered(&authed, &[250, 235, 250, 250]);
        assert_eq!(judge(&p, &authed, &t), None);
    }

    #[test]
    fn a_reply_is_judged_by_the_line_it_answers_not_by_its_rank_in_the_octets() {
        // Pipelined lines: the third reply answers the third line.
        let input = Input {
            steps: vec![Step::Raw(
                b"MAIL FROM:<a@b.example>\r\nRCPT TO:<x@here.example>\r\n\
                  RCPT TO:<y@relay.example>\r\n"
                    .to_vec(),
            )],
        };
        let p = policy(false, &["relay.example"]);
        let said = |last| {
            trace(&[
                (0, 250, "MAIL FROM:<a@b.example>"),
                (0, 250, "RCPT TO:<x@here.example>"),
                (0, last, "RCPT TO:<y@relay.example>"),
            ])
        };
        let b = judge(&p, &input, &said(250)).expect("breach");
        assert_eq!((b.step, b.before), (0, 2));
        assert_eq!(judge(&p, &input, &said(550)), None);
        // A foreign RCPT inside message content is content: the 250 after it
        // answers the end of data.
        let content = Input {
            steps: vec![Step::Raw(
                b"DATA\r\nRCPT TO:<y@relay.example>\r\n.\r\n".to_vec(),
            )],
        };
        let t = trace(&[(0, 354, "DATA"), (0, 250, "")]);
        assert_eq!(judge(&p, &content, &t), None);
    }

    #[test]
    fn auth_in_the_clear_breaks_a_tls_only_policy_and_after_tls_does_not() {
        let input = lines(&["EHLO c", "AUTH PLAIN AGFAYg=="]);
        let t = answered(&input, &[250, 235]);
        let b = judge(&policy(true, &[]), &input, &t).expect("breach");
        assert_eq!((b.verb.as_str(), b.spec), ("AUTH", (4954, "4")));
        assert_eq!(judge(&policy(false, &[]), &input, &t), None);
        let after = lines(&["EHLO c", "STARTTLS", "EHLO c", "AUTH PLAIN AGFAYg=="]);
        let mut tls = answered(&after, &[250, 220, 250, 235]);
        (tls.tls_up, tls.tls_at) = (true, Some(1));
        assert_eq!(judge(&policy(true, &[]), &after, &tls), None);
    }

    #[test]
    fn replies_over_tls_before_the_client_spoke_are_an_injection_whatever_the_policy() {
        let input = Input {
            steps: vec![
                Step::Line(b"EHLO c".to_vec()),
                Step::Raw(b"STARTTLS\r\nNOOP\r\n".to_vec()),
            ],
        };
        let mut t = trace(&[(0, 250, "EHLO c"), (1, 220, "STARTTLS")]);
        (t.tls_up, t.tls_at) = (true, Some(1));
        t.answered = vec![1, 1];
        assert_eq!(judge(&policy(false, &[]), &input, &t), None);
        t.injected = vec![250];
        let b = judge(&policy(false, &[]), &input, &t).expect("breach");
        assert_eq!((b.step, b.before, b.verb.as_str()), (1, 1, "STARTTLS"));
        assert_eq!(b.spec, (3207, "4.2"));
    }
}
