//! The differential comparison: what each party (the reference server and every
//! target) did with one input, normalised to what a mail system's users live with —
//! per step, accepted or refused; messages acknowledged; where the reply grammar
//! broke — and the disagreements between them, ranked by what they cost.
//!
//! Servers may differ in many things RFC 5321 leaves open (wording, which of several
//! codes, whether to accept 8-bit text without 8BITMIME), so a disagreement is not a
//! bug of either side by itself: it is a place where a message, a sender or a
//! recipient would fare differently depending on the server, and the parties' views
//! say which one stands apart. The ranking follows the damage: a different number
//! of messages out of the same octets is how SMTP smuggling shows (one server ends
//! the data where another does not, and reads the rest as commands), so it is
//! critical; then the envelope (a sender or recipient taken by one, refused by
//! another); then any other accept/refuse split; then reply grammar.

use std::fmt::Write as _;

use smtp_protocol::ReplyCode;

use super::exec::{CLOSING, End, Sync, Trace};
use super::hash::hash;
use super::input::{Input, Step};

/// What a party answered to one step, as a client acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Said {
    /// 2xx or 3xx first.
    Accept,
    /// 4xx or 5xx first.
    Refuse,
    /// No reply: the session ended before, or none came in time.
    Nothing,
}

impl Said {
    /// What a reply with `code` said: a code that does not parse is a refusal.
    fn of(code: u16) -> Self {
        if ReplyCode::new(code).is_some_and(|c| !c.is_negative()) {
            Self::Accept
        } else {
            Self::Refuse
        }
    }

    fn letter(self) -> char {
        match self {
            Self::Accept => 'A',
            Self::Refuse => 'R',
            Self::Nothing => '-',
        }
    }
}

/// One party's session, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Per step, what each of its replies said (empty: none; a pipelined batch has
    /// one per line).
    pub steps: Vec<Vec<Said>>,
    /// Per step: the reply before it was a 354, so its octets are message content
    /// to this party.
    pub in_data: Vec<bool>,
    /// Messages acknowledged ([`Trace::messages`]).
    pub messages: usize,
    /// The session broke RFC 5321 §4.2's reply grammar.
    pub malformed: bool,
    /// Every code after the greeting, the suffix's included.
    pub codes: Vec<u16>,
    /// The sync suffix's RSET and QUIT were answered, QUIT last: every reply the
    /// party owed came, so its replies can be counted.
    pub settled: bool,
}

/// Why a session cannot be compared: the party refused service or was not reached,
/// which says nothing of how it reads the input.
pub fn incomparable(trace: &Trace) -> bool {
    matches!(trace.end, End::Unreachable(_) | End::NotServing(_))
        || trace.codes().any(|c| c == super::exec::SHUTTING_DOWN)
}

/// `trace` of `input`, normalised.
pub fn view(input: &Input, trace: &Trace) -> View {
    let n = input.steps.len();
    let mut steps = vec![Vec::new(); n];
    let mut in_data = vec![false; n];
    let mut last = None;
    let mut at = 0;
    for a in &trace.answers {
        let k = a.step.map_or(0, |k| k + 1);
        // Steps up to the one this reply came after saw `last` as the reply before.
        while at < k.min(n) {
            in_data[at] = last == Some(super::expect::START_DATA);
            at += 1;
        }
        if let Some(k) = a.step.filter(|&k| k < n) {
            steps[k].push(Said::of(a.code));
        }
        last = Some(a.code);
    }
    while at < n {
        in_data[at] = last == Some(super::expect::START_DATA);
        at += 1;
    }
    // Replies to lines injected before a TLS handshake are replies that step got:
    // a party that ran them stands apart from one that discarded them.
    if let Some(k) = trace.tls_at.filter(|&k| k < n) {
        steps[k].extend(trace.injected.iter().map(|&c| Said::of(c)));
    }
    let codes: Vec<u16> = trace.codes().collect();
    View {
        steps,
        in_data,
        messages: trace.messages(),
        malformed: matches!(trace.end, End::Malformed { .. }),
        // Both of the suffix's commands answered, QUIT last: a 221 the party
        // sent to close on its own (Postfix's answer to a `.` command) is no sign.
        settled: matches!(&trace.sync, Sync::Replies(t) | Sync::Tail(t)
            if t.len() >= 2 && t.last() == Some(&CLOSING)),
        codes,
    }
}

/// A class of disagreement, most damaging first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// The same octets make a different number of messages, or one party answers
    /// message content with more than one reply (it read commands inside it): the
    /// smuggling class (RFC 5321 §4.1.1.4, §2.3.8), critical.
    MessageCount,
    /// A MAIL or RCPT accepted by one party and refused by another (RFC 5321
    /// §4.1.1.2, §4.1.1.3): a sender or recipient fares differently.
    Envelope,
    /// Any other command accepted by one and refused (or left unanswered) by another.
    AcceptRefuse,
    /// One party's replies break RFC 5321 §4.2, another's do not.
    ReplyGrammar,
}

impl Class {
    /// Every class, in rank order.
    pub const ALL: [Self; 4] = [
        Self::MessageCount,
        Self::Envelope,
        Self::AcceptRefuse,
        Self::ReplyGrammar,
    ];

    /// The name in file names, stats and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::MessageCount => "message-count",
            Self::Envelope => "envelope",
            Self::AcceptRefuse => "accept-refuse",
            Self::ReplyGrammar => "reply-grammar-split",
        }
    }

    /// How much it matters.
    pub fn severity(self) -> &'static str {
        match self {
            Self::MessageCount => "critical",
            Self::Envelope => "high",
            Self::AcceptRefuse => "medium",
            Self::ReplyGrammar => "low",
        }
    }

    /// The RFC 5321 section a reproducer of this class tests.
    pub fn section(self) -> &'static str {
        match self {
            Self::MessageCount => "4.1.1.4",
            Self::Envelope => "4.1.1.3",
            Self::AcceptRefuse => "4.2",
            Self::ReplyGrammar => "4.2",
        }
    }
}

/// One disagreement between the parties on one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// Its class.
    pub class: Class,
    /// Its identity: the class, the step's verb and which parties stand where.
    pub key: u64,
    /// The step it shows at (`None`: the whole session).
    pub step: Option<usize>,
    /// Per party: does it stand with the reference (party 0)?
    pub apart: Vec<bool>,
    /// In words, parties named.
    pub what: String,
}

/// The worst disagreement among `views` (party 0 the reference), if any. `names`
/// name the parties in the words.
pub fn compare(input: &Input, views: &[View], names: &[String]) -> Option<Disagreement> {
    let p = Parties {
        input,
        views,
        names,
    };
    views.first()?;
    p.boundaries()
        .or_else(|| p.split(Class::Envelope, &["MAIL", "RCPT"]))
        .or_else(|| p.split(Class::AcceptRefuse, &[]))
        .or_else(|| p.grammar())
}

/// A disagreement's identity: its class, the command (a word that is no verb is
/// one command, as for findings) and which parties stand apart (`bits`).
fn key(class: Class, verb: &str, bits: &str) -> u64 {
    let verb = super::oracle::command_identity(verb);
    hash(format!("{}/{verb}/{bits}", class.name()).as_bytes())
}

/// One input's views, the reference's first, and what each class looks for in them.
struct Parties<'a> {
    input: &'a Input,
    views: &'a [View],
    names: &'a [String],
}

/// How a party is described for one comparison.
type Describe<'f> = &'f dyn Fn(&View) -> String;

impl Parties<'_> {
    /// Every party describes the same.
    fn same(&self, f: Describe) -> bool {
        let first = f(&self.views[0]);
        self.views.iter().all(|v| f(v) == first)
    }

    /// A disagreement of `class` at `verb`: who stands apart from the reference by
    /// `f`, in words.
    fn found(
        &self,
        class: Class,
        verb: &str,
        step: Option<usize>,
        what: &str,
        f: Describe,
    ) -> Disagreement {
        let first = f(&self.views[0]);
        let apart: Vec<bool> = self.views.iter().map(|v| f(v) != first).collect();
        let words = self
            .views
            .iter()
            .zip(self.names)
            .map(|(v, n)| format!("{n}: {}", f(v)))
            .collect::<Vec<_>>()
            .join("; ");
        let bits: String = apart.iter().map(|a| if *a { '1' } else { '0' }).collect();
        Disagreement {
            class,
            key: key(class, verb, &bits),
            step,
            apart,
            what: format!("{what} — {words}"),
        }
    }

    /// The replies to the transaction's commands, step by step: agreeing is what makes
    /// a message-count split a boundary one, not a refused recipient.
    fn envelope(&self, v: &View) -> String {
        let mut out: String = self
            .input
            .steps
            .iter()
            .zip(&v.steps)
            .zip(&v.in_data)
            // Octets this party read as message content are no command of its
            // envelope, whatever words they carry (a smuggled `MAIL FROM`).
            .filter(|((s, _), content)| {
                !**content
                    && (0..s.lines().max(1))
                        .any(|i| matches!(s.verb_at(i).as_str(), "MAIL" | "RCPT" | "DATA" | "BDAT"))
            })
            .map(|((_, said), _)| said.iter().map(|s| s.letter()).collect::<String>() + "|")
            .collect();
        // The dialogue before the first 354, reply by reply, is the envelope too: a
        // transaction step with no reply of its own (the octets had two readings,
        // went out whole and were answered at the end), or a pipelined batch whose
        // replies came in reads that later steps claimed, would otherwise hide a
        // recipient one party refused and another took. A party that refused the
        // transaction before it began (a line too long for it) says nothing of where
        // messages end.
        out.push('/');
        out.extend(
            v.codes
                .iter()
                .take_while(|&&c| c != super::expect::START_DATA)
                .map(|&c| Said::of(c).letter()),
        );
        out
    }

    /// Per content step (a body, or any step some party took as message content: a
    /// 354 came just before): one reply or none (`1`) or more (`N`, commands read
    /// inside it) where the party took it as content, `-` where not.
    fn content(&self, v: &View) -> String {
        self.input
            .steps
            .iter()
            .enumerate()
            .filter(|(n, s)| matches!(s, Step::Body(_)) || self.views.iter().any(|w| w.in_data[*n]))
            .map(|(n, _)| match (v.in_data[n], v.steps[n].len()) {
                (false, _) => '-',
                (true, 0 | 1) => '1',
                (true, _) => 'N',
            })
            .collect()
    }

    /// `message-count`: the envelope agrees, the messages do not.
    fn boundaries(&self) -> Option<Disagreement> {
        // Among the parties whose envelope went as the reference's: a party that
        // refused a recipient the others took stands apart in `envelope`, and says
        // nothing of where its messages end.
        let envelope = self.envelope(&self.views[0]);
        let peers: Vec<bool> = self
            .views
            .iter()
            .map(|v| self.envelope(v) == envelope)
            .collect();
        if peers.iter().filter(|p| **p).count() < 2 {
            return None;
        }
        let among = |f: Describe| -> bool {
            let first = f(&self.views[0]);
            self.views
                .iter()
                .zip(&peers)
                .all(|(v, p)| !p || f(v) == first)
        };
        let reads = |c: char| {
            self.views
                .iter()
                .zip(&peers)
                .any(|(v, p)| *p && self.content(v).contains(c))
        };
        if !among(&|v| self.content(v)) && reads('N') && reads('1') {
            // Who read commands inside content stands apart; a party that refused
            // the content (a bare LF rejected) kept it whole as the reference did.
            let read = |v: &View| {
                if self.content(v).contains('N') {
                    "more than one reply to message content"
                } else {
                    "message content kept whole"
                }
                .to_string()
            };
            let words = |v: &View| format!("{}, {} message(s)", read(v), v.messages);
            return Some(self.found_among(
                &peers,
                Class::MessageCount,
                "DATA-CONTENT",
                "message boundaries differ",
                (&read, &words),
            ));
        }
        if let Some(d) = self.replies_after_data(&peers) {
            return Some(d);
        }
        // A party that refused the message (a 4xx/5xx to its content: a loop, a size,
        // a policy, a bare CR) has one message fewer by its own say: an accept/refuse
        // split.
        let refused_content = self.views.iter().zip(&peers).any(|(v, p)| {
            *p && (0..self.input.steps.len())
                .any(|n| v.in_data[n] && v.steps[n].first() == Some(&Said::Refuse))
        });
        let messages = |v: &View| format!("{} message(s)", v.messages);
        (!refused_content && !among(&messages)).then(|| {
            self.found_among(
                &peers,
                Class::MessageCount,
                "",
                "the same octets make a different number of messages",
                (&messages, &messages),
            )
        })
    }

    /// `message-count` by reply count: among the parties whose envelope went as the
    /// reference's and whose every reply came (the suffix's RSET and QUIT answered),
    /// one that answered more replies after the first 354 read commands out of what
    /// the reference took as content (its end came early: smuggling). Replies are
    /// paired with steps by the client's model, which cannot tell where a party
    /// ended the data, so the count decides.
    fn replies_after_data(&self, peers: &[bool]) -> Option<Disagreement> {
        let after = |v: &View| {
            let from = v
                .codes
                .iter()
                .position(|&c| c == super::expect::START_DATA)?;
            Some(v.codes.len() - from - 1)
        };
        let reference = after(&self.views[0]).filter(|_| self.views[0].settled)?;
        let counted: Vec<bool> = self
            .views
            .iter()
            .zip(peers)
            .map(|(v, p)| *p && v.settled && after(v).is_some())
            .collect();
        // Fewer replies are no sign: a party may close on its own with a 221 of its
        // own after the suffix went out (Postfix's answer to a `.` command line).
        let more = |v: &View| after(v).is_some_and(|n| n > reference);
        if !self.views.iter().zip(&counted).any(|(v, c)| *c && more(v)) {
            return None;
        }
        let read = |v: &View| {
            if more(v) {
                " (commands read inside message content)"
            } else {
                ""
            }
            .to_string()
        };
        let words = |v: &View| {
            let n = after(v).unwrap_or(0);
            format!(
                "{n} replies after the 354{}, {} message(s)",
                read(v),
                v.messages
            )
        };
        Some(self.found_among(
            &counted,
            Class::MessageCount,
            "DATA-REPLIES",
            "message boundaries differ",
            (&read, &words),
        ))
    }

    /// [`Self::found`] among the parties `peers` marks, standing apart by the
    /// first describer and described by the second; the others are described as
    /// standing apart in the envelope, and are not counted here.
    fn found_among(
        &self,
        peers: &[bool],
        class: Class,
        verb: &str,
        what: &str,
        (f, words): (Describe, Describe),
    ) -> Disagreement {
        let mut d = self.found(class, verb, None, what, &|v| f(v));
        let first = f(&self.views[0]);
        d.apart = self
            .views
            .iter()
            .zip(peers)
            .map(|(v, p)| *p && f(v) != first)
            .collect();
        let bits: String = d.apart.iter().map(|a| if *a { '1' } else { '0' }).collect();
        d.key = key(class, verb, &bits);
        let words = self
            .views
            .iter()
            .zip(self.names)
            .zip(peers)
            .map(|((v, n), p)| {
                if *p {
                    format!("{n}: {}", words(v))
                } else if self.envelope(v) != self.envelope(&self.views[0]) {
                    format!("{n}: (envelope differs)")
                } else {
                    format!("{n}: (replies incomplete)")
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        d.what = format!("{what} — {words}");
        d
    }

    /// The first reply accepted by one party and not by another, at a command of
    /// `verbs` (any command when empty).
    fn split(&self, class: Class, verbs: &[&str]) -> Option<Disagreement> {
        for (n, step) in self.input.steps.iter().enumerate() {
            if matches!(step, Step::Pause(_)) {
                continue;
            }
            let replies = self
                .views
                .iter()
                .map(|v| v.steps[n].len())
                .max()
                .unwrap_or(0);
            for i in 0..replies.max(1) {
                let verb = step.verb_at(i);
                if !verbs.is_empty() && !verbs.contains(&verb.as_str()) {
                    continue;
                }
                let at = |v: &View| v.steps[n].get(i).copied().unwrap_or(Said::Nothing);
                let said: Vec<Said> = self.views.iter().map(at).collect();
                if said.contains(&Said::Accept) && said.iter().any(|s| *s != Said::Accept) {
                    let words = |v: &View| -> String {
                        match at(v) {
                            Said::Accept => "accepted".into(),
                            Said::Refuse => "refused".into(),
                            Said::Nothing => "no reply".into(),
                        }
                    };
                    let what = format!("{verb} (step {})", n + 1);
                    return Some(self.found(class, &verb, Some(n), &what, &words));
                }
            }
        }
        None
    }

    /// `reply-grammar-split`: one party's replies are malformed, another's not.
    fn grammar(&self) -> Option<Disagreement> {
        let grammar = |v: &View| -> String {
            if v.malformed {
                "malformed reply".into()
            } else {
                "well-formed".into()
            }
        };
        (!self.same(&grammar))
            .then(|| self.found(Class::ReplyGrammar, "", None, "reply grammar", &grammar))
    }
}

/// Disagreements counted by party (rows, the reference left out) and class
/// (columns): how often each target stands apart from the reference.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Matrix {
    /// The targets, in command-line order.
    pub targets: Vec<String>,
    /// The classes, in rank order.
    pub classes: Vec<&'static str>,
    /// `cells[t][c]`: distinct disagreements of class `c` in which target `t` stood
    /// apart from the reference.
    pub cells: Vec<Vec<usize>>,
}

impl Matrix {
    /// An empty matrix for `parties` (the reference first).
    pub fn new(parties: &[String]) -> Self {
        Self {
            targets: parties.iter().skip(1).cloned().collect(),
            classes: Class::ALL.iter().map(|c| c.name()).collect(),
            cells: vec![vec![0; Class::ALL.len()]; parties.len().saturating_sub(1)],
        }
    }

    /// Count `d`.
    pub fn add(&mut self, d: &Disagreement) {
        let c = Class::ALL.iter().position(|k| *k == d.class).unwrap_or(0);
        for (t, apart) in d.apart.iter().skip(1).enumerate() {
            if *apart && let Some(row) = self.cells.get_mut(t) {
                row[c] += 1;
            }
        }
    }

    /// As a Markdown table.
    pub fn markdown(&self) -> String {
        let mut out = String::from("| target |");
        for c in &self.classes {
            let _ = write!(out, " {c} |");
        }
        out.push_str("\n| --- |");
        out.push_str(&" ---: |".repeat(self.classes.len()));
        out.push('\n');
        for (t, row) in self.targets.iter().zip(&self.cells) {
            let _ = write!(out, "| {} |", t.replace('|', "\\|"));
            for n in row {
                let _ = write!(out, " {n} |");
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests;
