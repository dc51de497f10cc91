//! What the fuzzing server does in one session: an honest server (the replies a client
//! expects at each step of RFC 5321 §4.3.2's sequences) with faults at chosen places.
//! A fault names where it strikes (the greeting, the first reply to a verb, the reply
//! to the end of data) and what it does to that reply: the malformed multiline forms,
//! codes and lengths of RFC 5321 §4.2 and §4.5.3.1.5, replies no command asked for,
//! replies dripped an octet at a time, and at STARTTLS a reply injected in front of
//! the handshake (CVE-2021-38371 class) or a TLS alert instead of it.

use smtp_protocol::Verb;

use crate::scenario::client::ClientMode;
use crate::send::route::Rng;

/// The server's name in its replies.
pub const HOST: &str = "mx.fuzz.smtpspec.test";

/// Where a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum At {
    /// The 220 greeting.
    Greeting,
    /// The first reply to this verb.
    Verb(Verb),
    /// The reply after the message content.
    EndOfData,
}

impl At {
    /// As a reproducer and a finding's words name it.
    pub fn name(self) -> String {
        match self {
            Self::Greeting => "the greeting".into(),
            Self::Verb(v) => format!("the reply to {v}"),
            Self::EndOfData => "the reply to the end of data".into(),
        }
    }
}

/// What a fault does to the reply it strikes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum What {
    /// The same text under another code (any class, 1xx to 6xx and 0xx).
    Code(u16),
    /// A well-formed refusal: 4xx or 5xx with an enhanced code.
    Refuse(u16),
    /// Every line a continuation (`250-`): no final line comes, then the server closes.
    NoFinalLine,
    /// A multiline reply whose lines carry different codes.
    MixedCodes,
    /// The last line stretched to this many octets with its CRLF (RFC 5321 §4.5.3.1.5:
    /// at most 512).
    LongLine(usize),
    /// This many continuation lines before the final one.
    ManyLines(usize),
    /// A NUL in the text.
    Nul,
    /// Code and text run together (`250ok`), or the code alone.
    NoSpace,
    /// LF line ends instead of CRLF.
    BareLf,
    /// A second reply that no command asked for, in the same write.
    Extra,
    /// The reply written one octet per write.
    Drip,
    /// The reply after this many milliseconds.
    Late(u64),
    /// No reply: the server closes the connection.
    Close,
    /// Half the reply, then the server closes.
    CloseMid,
    /// These octets instead of the reply.
    Garbage(Vec<u8>),
    /// At STARTTLS: a reply injected after the 220 in the same write, before the
    /// handshake (CVE-2021-38371 class).
    Inject,
    /// At STARTTLS: the 220, then a TLS alert record instead of a handshake.
    TlsAlert,
    /// At EHLO: this extension left out of the reply.
    Without(&'static str),
}

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fault {
    /// Where.
    pub at: At,
    /// What.
    pub what: What,
}

/// A session's plan: the client's configuration and the faults.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Plan {
    /// The client profile's mode the client runs in.
    pub mode: ClientMode,
    /// At most one per place.
    pub faults: Vec<Fault>,
}

impl Plan {
    /// The fault at `at`, if any.
    pub fn fault(&self, at: At) -> Option<&What> {
        self.faults.iter().find(|f| f.at == at).map(|f| &f.what)
    }

    /// In words, for a finding.
    pub fn describe(&self) -> String {
        if self.faults.is_empty() {
            return format!("mode {}, no fault", self.mode.as_str());
        }
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|f| format!("{} {}", f.at.name(), what_name(&f.what)))
            .collect();
        format!("mode {}, {}", self.mode.as_str(), faults.join("; "))
    }
}

fn what_name(w: &What) -> String {
    match w {
        What::Code(c) => format!("under code {c:03}"),
        What::Refuse(c) => format!("refused with {c}"),
        What::NoFinalLine => "with no final line".into(),
        What::MixedCodes => "with mixed codes".into(),
        What::LongLine(n) => format!("stretched to {n} octets"),
        What::ManyLines(n) => format!("with {n} continuation lines"),
        What::Nul => "with a NUL".into(),
        What::NoSpace => "without the space after the code".into(),
        What::BareLf => "with bare LF line ends".into(),
        What::Extra => "followed by a reply nobody asked for".into(),
        What::Drip => "dripped an octet at a time".into(),
        What::Late(ms) => format!("{ms} ms late"),
        What::Close => "replaced by a close".into(),
        What::CloseMid => "cut by a close".into(),
        What::Garbage(g) => format!("replaced by {} octets of garbage", g.len()),
        What::Inject => "with a reply injected before the TLS handshake".into(),
        What::TlsAlert => "followed by a TLS alert instead of a handshake".into(),
        What::Without(ext) => format!("without {ext}"),
    }
}

/// The places a fault may strike in `mode`.
fn places(mode: ClientMode) -> Vec<At> {
    let mut at = vec![
        At::Greeting,
        At::Verb(Verb::Ehlo),
        At::Verb(Verb::Helo),
        At::Verb(Verb::Mail),
        At::Verb(Verb::Rcpt),
        At::Verb(Verb::Data),
        At::EndOfData,
        At::Verb(Verb::Quit),
        At::Verb(Verb::Rset),
    ];
    if matches!(mode, ClientMode::TlsRequired | ClientMode::AuthTls) {
        at.push(At::Verb(Verb::StartTls));
    }
    if matches!(mode, ClientMode::Auth | ClientMode::AuthTls) {
        at.push(At::Verb(Verb::Auth));
    }
    at
}

/// The extensions a `Without` fault may drop.
const DROPPABLE: [&str; 5] = ["PIPELINING", "STARTTLS", "AUTH", "8BITMIME", "SIZE"];

/// A fault that fits `at`.
fn fault_for(at: At, rng: &mut Rng) -> What {
    if at == At::Verb(Verb::StartTls) && rng.below(3) == 0 {
        return if rng.below(2) == 0 {
            What::Inject
        } else {
            What::TlsAlert
        };
    }
    // A refused DATA is where a client most often goes wrong (content sent anyway,
    // RFC 5321 §3.3): a third of DATA's faults are refusals.
    if at == At::Verb(Verb::Data) && rng.below(3) == 0 {
        return What::Refuse(*rng.pick(&[451, 452, 503, 550, 552, 554]));
    }
    if at == At::Verb(Verb::Ehlo) && rng.below(4) == 0 {
        return What::Without(DROPPABLE[rng.below(DROPPABLE.len())]);
    }
    match rng.below(16) {
        0 => What::Code(rng.below(700) as u16),
        1 | 2 => What::Refuse(if rng.below(3) == 0 {
            *rng.pick(&[421, 450, 451, 452])
        } else {
            *rng.pick(&[500, 501, 502, 503, 504, 550, 552, 553, 554])
        }),
        3 => What::NoFinalLine,
        4 => What::MixedCodes,
        5 => What::LongLine(*rng.pick(&[511, 512, 513, 1000, 4096, 65_536])),
        6 => What::ManyLines(*rng.pick(&[100, 1000, 10_000])),
        7 => What::Nul,
        8 => What::NoSpace,
        9 => What::BareLf,
        10 => What::Extra,
        11 => What::Drip,
        12 => What::Late(*rng.pick(&[300, 1500])),
        13 => What::Close,
        14 => What::CloseMid,
        _ => {
            let n = 1 + rng.below(64);
            What::Garbage((0..n).map(|_| rng.below(256) as u8).collect())
        }
    }
}

/// A fresh plan: one to three faults at distinct places.
pub fn generate(modes: &[ClientMode], rng: &mut Rng) -> Plan {
    let mode = *rng.pick(modes);
    let mut plan = Plan {
        mode,
        faults: Vec::new(),
    };
    for _ in 0..=rng.below(3) {
        add_fault(&mut plan, rng);
    }
    plan
}

fn add_fault(plan: &mut Plan, rng: &mut Rng) {
    let at = *rng.pick(&places(plan.mode));
    let what = fault_for(at, rng);
    plan.faults.retain(|f| f.at != at);
    plan.faults.push(Fault { at, what });
    plan.faults.sort_by_key(|f| f.at);
}

/// A plan near `base`: a fault added, replaced or dropped.
pub fn mutate(base: &Plan, rng: &mut Rng) -> Plan {
    let mut plan = base.clone();
    match rng.below(3) {
        0 if !plan.faults.is_empty() => {
            let k = rng.below(plan.faults.len());
            plan.faults.remove(k);
            if plan.faults.is_empty() {
                add_fault(&mut plan, rng);
            }
        }
        1 if !plan.faults.is_empty() => {
            let k = rng.below(plan.faults.len());
            plan.faults[k].what = fault_for(plan.faults[k].at, rng);
        }
        _ => add_fault(&mut plan, rng),
    }
    plan
}

/// An honest reply, as lines without their CRLF.
pub fn honest(at: At, mode: ClientMode, tls: bool, without: Option<&str>) -> Vec<String> {
    let one = |s: &str| vec![s.to_owned()];
    match at {
        At::Greeting => one(&format!("220 {HOST} ESMTP smtpspec client fuzzing")),
        At::EndOfData => one("250 2.0.0 Ok: queued as FUZZ"),
        At::Verb(v) => match v {
            Verb::Ehlo => ehlo(mode, tls, without),
            Verb::Helo => one(&format!("250 {HOST}")),
            Verb::Mail => one("250 2.1.0 Ok"),
            Verb::Rcpt => one("250 2.1.5 Ok"),
            Verb::Data => one("354 End data with <CR><LF>.<CR><LF>"),
            Verb::Rset | Verb::Noop => one("250 2.0.0 Ok"),
            Verb::Quit => one("221 2.0.0 Bye"),
            Verb::StartTls => one("220 2.0.0 Ready to start TLS"),
            Verb::Auth => one("235 2.7.0 Authentication successful"),
            _ => one("502 5.5.1 Command not implemented"),
        },
    }
}

fn ehlo(mode: ClientMode, tls: bool, without: Option<&str>) -> Vec<String> {
    let mut ext = vec![
        "PIPELINING",
        "SIZE 10240000",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
    ];
    if matches!(mode, ClientMode::TlsRequired | ClientMode::AuthTls) && !tls {
        ext.push("STARTTLS");
    }
    if matches!(mode, ClientMode::Auth) || (mode == ClientMode::AuthTls && tls) {
        ext.push("AUTH PLAIN LOGIN");
    }
    ext.retain(|e| without.is_none_or(|w| !e.starts_with(w)));
    let mut lines = vec![HOST.to_owned()];
    lines.extend(ext.iter().map(|e| (*e).to_owned()));
    let last = lines.len() - 1;
    lines
        .iter()
        .enumerate()
        .map(|(k, l)| format!("250{}{l}", if k == last { ' ' } else { '-' }))
        .collect()
}

/// The octets of `lines` with `what` done to them (the faults that are not about the
/// octets, such as `Close` or `Drip`, are the server's to carry out).
pub fn render(lines: &[String], what: Option<&What>) -> Vec<u8> {
    let crlf = |ls: &[String]| -> Vec<u8> {
        ls.iter()
            .flat_map(|l| l.bytes().chain(*b"\r\n"))
            .collect::<Vec<u8>>()
    };
    let code = lines
        .first()
        .map_or("250", |l| l.get(..3).unwrap_or("250"))
        .to_owned();
    let text = |l: &String| l.get(4..).unwrap_or_default().to_owned();
    match what {
        Some(What::Code(c)) => {
            let c = format!("{c:03}");
            let last = lines.len() - 1;
            let ls: Vec<String> = lines
                .iter()
                .enumerate()
                .map(|(k, l)| format!("{c}{}{}", if k == last { ' ' } else { '-' }, text(l)))
                .collect();
            crlf(&ls)
        }
        Some(What::Refuse(c)) => {
            let class = c / 100;
            format!("{c} {class}.0.0 refused by the fuzzing server\r\n").into_bytes()
        }
        Some(What::NoFinalLine) => {
            let ls: Vec<String> = lines
                .iter()
                .map(|l| format!("{code}-{}", text(l)))
                .collect();
            crlf(&ls)
        }
        Some(What::MixedCodes) => {
            let mut ls = vec![format!("{code}-{HOST}"), "550-5.0.0 not this".into()];
            ls.extend(lines.iter().cloned());
            crlf(&ls)
        }
        Some(What::LongLine(n)) => {
            let mut ls = lines.to_vec();
            if let Some(last) = ls.last_mut() {
                let pad = n.saturating_sub(last.len() + 3);
                last.push(' ');
                last.extend(std::iter::repeat_n('x', pad));
            }
            crlf(&ls)
        }
        Some(What::ManyLines(n)) => {
            let mut ls: Vec<String> = (0..*n).map(|k| format!("{code}-line {k}")).collect();
            ls.extend(lines.iter().map(|l| format!("{code}-{}", text(l))));
            ls.push(format!("{code} end"));
            crlf(&ls)
        }
        Some(What::Nul) => {
            let mut b = crlf(lines);
            let at = 4.min(b.len());
            b.insert(at, 0);
            b
        }
        Some(What::NoSpace) => {
            let last = lines.last().cloned().unwrap_or_default();
            let mut b = crlf(&lines[..lines.len().saturating_sub(1)]);
            b.extend_from_slice(code.as_bytes());
            b.extend_from_slice(text(&last).as_bytes());
            b.extend_from_slice(b"\r\n");
            b
        }
        Some(What::BareLf) => lines.iter().flat_map(|l| l.bytes().chain(*b"\n")).collect(),
        Some(What::Extra) => {
            let mut b = crlf(lines);
            b.extend_from_slice(b"250 2.0.0 an extra reply\r\n");
            b
        }
        Some(What::Garbage(g)) => g.clone(),
        Some(What::Inject) => {
            let mut b = crlf(lines);
            b.extend_from_slice(
                b"250-injected.smtpspec.test\r\n250 AUTH PLAIN\r\n235 2.7.0 injected\r\n",
            );
            b
        }
        _ => crlf(lines),
    }
}

pub use crate::wire::tls::HANDSHAKE_FAILURE_ALERT as TLS_ALERT;

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Vec<String> {
        honest(At::Verb(Verb::Ehlo), ClientMode::Plain, false, None)
    }

    #[test]
    fn the_honest_ehlo_reply_ends_with_a_final_line() {
        let l = lines();
        assert!(l[0].starts_with("250-"));
        assert!(l.last().unwrap().starts_with("250 "));
        assert!(!l.iter().any(|x| x.contains("STARTTLS")));
        let tls = honest(At::Verb(Verb::Ehlo), ClientMode::TlsRequired, false, None);
        assert!(tls.iter().any(|x| x.contains("STARTTLS")));
        let dropped = honest(
            At::Verb(Verb::Ehlo),
            ClientMode::TlsRequired,
            false,
            Some("STARTTLS"),
        );
        assert!(!dropped.iter().any(|x| x.contains("STARTTLS")));
    }

    #[test]
    fn faults_change_the_octets_as_named() {
        let l = lines();
        let b = render(&l, Some(&What::NoFinalLine));
        assert!(!b.split(|&c| c == b'\n').any(|x| x.starts_with(b"250 ")));
        let b = render(&l, Some(&What::LongLine(1000)));
        assert!(b.split(|&c| c == b'\n').any(|x| x.len() == 999));
        let b = render(&l, Some(&What::ManyLines(10_000)));
        assert_eq!(
            b.iter().filter(|&&c| c == b'\n').count(),
            10_000 + l.len() + 1
        );
        assert!(render(&l, Some(&What::Nul)).contains(&0));
        assert!(!render(&l, Some(&What::BareLf)).contains(&b'\r'));
        assert_eq!(
            render(&l, Some(&What::Refuse(554))),
            b"554 5.0.0 refused by the fuzzing server\r\n"
        );
    }

    #[test]
    fn the_same_seed_makes_the_same_plans() {
        let modes = [ClientMode::Plain, ClientMode::Auth];
        let a: Vec<Plan> = {
            let mut rng = Rng::new(7);
            (0..50).map(|_| generate(&modes, &mut rng)).collect()
        };
        let mut rng = Rng::new(7);
        let b: Vec<Plan> = (0..50).map(|_| generate(&modes, &mut rng)).collect();
        assert_eq!(a, b);
        assert!(
            a.iter()
                .all(|p| !p.faults.is_empty() && p.faults.len() <= 3)
        );
        let mutated = mutate(&a[0], &mut rng);
        assert!(!mutated.faults.is_empty());
    }
}
