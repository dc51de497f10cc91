//! The smuggling-chain matrix (`smtpspec report --chains`): smuggling takes two
//! parties, a relay that passes a non-standard end-of-data sequence on as it was sent
//! and a receiver that ends DATA at it. Neither report shows the pair alone; this
//! joins them.
//!
//! Both halves are keyed by the sequence's `eod:NAME` tag. A relay report (sender mode,
//! the `relay.smuggling` cases) says per case what the relay did with its sequence
//! (`relayed`: refused, split, passed, normalised). A receiver report says per case
//! whether the server ended DATA at the sequence (the `security.smuggling` cases fail
//! when it does). A chain is a sequence some relay passes and some receiver ends at;
//! a relay that splits the message is smuggled through on its own and is listed apart.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::html::esc;
use super::model::Report;
use crate::outcome::Verdict;

/// The tag prefix that names a case's end-of-data sequence.
const TAG: &str = "eod:";

/// The relays and receivers among a set of reports, and the chains between them.
#[derive(Debug, Default, Serialize)]
pub struct Chains {
    /// Per relay: what it did with each sequence (`passed`, `split`, ...).
    pub relays: BTreeMap<String, BTreeMap<String, String>>,
    /// Per receiver: the sequences it ends DATA at, each with the cases that show it.
    pub receivers: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Per receiver: the sequences its report tested at all.
    pub tested: BTreeMap<String, BTreeSet<String>>,
    /// Per relay, per receiver: the sequences of a working chain.
    pub chains: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// The sequence a case is tagged with.
fn sequence(tags: &[String]) -> Option<&str> {
    tags.iter().find_map(|t| t.strip_prefix(TAG))
}

/// The worst fact when several relay cases carry one sequence: one passing it on is
/// enough for a chain.
fn rank(fact: &str) -> u8 {
    match fact {
        "split" => 4,
        "passed" => 3,
        "normalised" => 2,
        "refused" => 1,
        _ => 0,
    }
}

/// Sort `reports` into relays and receivers and pair them.
pub fn chains(reports: &[Report]) -> Chains {
    let mut out = Chains::default();
    for r in reports {
        let name = r.target.name.clone();
        let mut relay: BTreeMap<String, String> = BTreeMap::new();
        let mut ends: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut tested = BTreeSet::new();
        for c in &r.cases {
            let Some(seq) = sequence(&c.tags) else {
                continue;
            };
            if let Some(fact) = &c.relayed {
                let slot = relay.entry(seq.to_owned()).or_default();
                if rank(fact) > rank(slot) {
                    fact.clone_into(slot);
                }
            } else if c.harness_role.is_none() && !c.id.starts_with("relay.") {
                if matches!(c.verdict, Verdict::Pass | Verdict::Fail | Verdict::Warn) {
                    tested.insert(seq.to_owned());
                }
                if c.verdict == Verdict::Fail {
                    ends.entry(seq.to_owned()).or_default().push(c.id.clone());
                }
            }
        }
        if !relay.is_empty() {
            out.relays.insert(name.clone(), relay);
        }
        if !tested.is_empty() {
            out.receivers.insert(name.clone(), ends);
            out.tested.insert(name, tested);
        }
    }
    for (relay, facts) in &out.relays {
        let row = out.chains.entry(relay.clone()).or_default();
        for (receiver, ends) in &out.receivers {
            let pairs = facts
                .iter()
                .filter(|(seq, fact)| *fact == "passed" && ends.contains_key(*seq))
                .map(|(seq, _)| seq.clone())
                .collect();
            row.insert(receiver.clone(), pairs);
        }
    }
    out
}

impl Chains {
    /// Whether the reports held both halves.
    pub fn is_empty(&self) -> bool {
        self.relays.is_empty() || self.receivers.is_empty()
    }

    /// Every sequence either half names, in order.
    fn sequences(&self) -> BTreeSet<&str> {
        let relayed = self.relays.values().flat_map(|m| m.keys());
        let tested = self.tested.values().flatten();
        relayed.chain(tested).map(String::as_str).collect()
    }

    /// The three tables: the chains, then each half.
    fn tables(&self) -> Vec<Table> {
        let receivers: Vec<String> = self.receivers.keys().cloned().collect();
        let relays: Vec<String> = self.relays.keys().cloned().collect();
        let seqs = self.sequences();
        let code = |s: &str| format!("`{s}`");
        // The row heads also show the octets, which the name alone does not spell out.
        let octets = |s: &str| match smtp_protocol::EndOfData::from_name(s) {
            Some(end) => format!("`{s}` (`{}`)", end.escaped()),
            None => code(s),
        };
        let chains = Table {
            title: None,
            intro: INTRO.into(),
            head: head("relay \\ receiver", &receivers),
            rows: relays
                .iter()
                .map(|relay| {
                    let mut row = vec![relay.clone()];
                    row.extend(receivers.iter().map(|rx| {
                        let pairs = &self.chains[relay][rx];
                        if pairs.is_empty() {
                            "—".to_owned()
                        } else {
                            pairs.iter().map(|s| code(s)).collect::<Vec<_>>().join(", ")
                        }
                    }));
                    row
                })
                .collect(),
        };
        let relayed = Table {
            title: Some("What each relay did with each sequence".into()),
            intro: "`passed`: one message, the sequence in it as sent (half a chain); \
                    `split`: the relay ended DATA at it itself; `normalised`: one message \
                    without it; `refused`; blank: not tested."
                .into(),
            head: head("sequence", &relays),
            rows: seqs
                .iter()
                .map(|seq| {
                    let mut row = vec![octets(seq)];
                    row.extend(
                        relays
                            .iter()
                            .map(|r| self.relays[r].get(*seq).cloned().unwrap_or_default()),
                    );
                    row
                })
                .collect(),
        };
        let received = Table {
            title: Some("Where each receiver ends DATA".into()),
            intro: "`ends DATA`: a `security.smuggling` case with that sequence failed (the \
                    cases are named); `holds`: tested, and no case failed; blank: not tested."
                .into(),
            head: head("sequence", &receivers),
            rows: seqs
                .iter()
                .map(|seq| {
                    let mut row = vec![octets(seq)];
                    row.extend(
                        receivers
                            .iter()
                            .map(|rx| match self.receivers[rx].get(*seq) {
                                Some(cases) => format!("ends DATA ({})", cases.join(", ")),
                                None if self.tested[rx].contains(*seq) => "holds".to_owned(),
                                None => String::new(),
                            }),
                    );
                    row
                })
                .collect(),
        };
        vec![chains, relayed, received]
    }

    /// The chains and both halves as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!("# {TITLE}\n\n");
        if self.is_empty() {
            out.push_str(NOTHING);
            out.push('\n');
            return out;
        }
        for t in self.tables() {
            if let Some(title) = &t.title {
                out.push_str(&format!("\n## {title}\n\n"));
            }
            out.push_str(&format!("{}\n\n", t.intro));
            for (n, row) in std::iter::once(&t.head).chain(&t.rows).enumerate() {
                let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
                if n == 0 {
                    out.push_str(&format!("|{}\n", "---|".repeat(row.len())));
                }
            }
        }
        out
    }

    /// The same as one self-contained HTML page.
    pub fn html(&self) -> String {
        let plain = |s: &str| esc(s).replace('`', "");
        let mut body = format!("<h1>{}</h1>\n", esc(TITLE));
        if self.is_empty() {
            body.push_str(&format!("<p>{}</p>\n", plain(NOTHING)));
        } else {
            for t in self.tables() {
                if let Some(title) = &t.title {
                    body.push_str(&format!("<h2>{}</h2>\n", esc(title)));
                }
                body.push_str(&format!("<p>{}</p>\n<table>\n", plain(&t.intro)));
                for (n, row) in std::iter::once(&t.head).chain(&t.rows).enumerate() {
                    let tag = if n == 0 { "th" } else { "td" };
                    let cells: String = row
                        .iter()
                        .map(|c| format!("<{tag}>{}</{tag}>", plain(c)))
                        .collect();
                    body.push_str(&format!("<tr>{cells}</tr>\n"));
                }
                body.push_str("</table>\n");
            }
        }
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{TITLE}</title>\
             <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
             td,th{{border:1px solid #999;padding:4px 8px;text-align:left}}</style></head>\
             <body>\n{body}</body></html>\n"
        )
    }
}

/// One table: a title (none for the first), a sentence, a head row and rows.
struct Table {
    title: Option<String>,
    intro: String,
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn head(corner: &str, columns: &[String]) -> Vec<String> {
    std::iter::once(corner.to_owned())
        .chain(columns.iter().cloned())
        .collect()
}

const TITLE: &str = "Smuggling chains (relays × receivers)";

const NOTHING: &str = "The reports hold no relay cases (`relay.smuggling`, sender mode) or \
no receiver cases (`security.smuggling`): nothing to pair.";

const INTRO: &str = "A cell lists the end-of-data sequences that the relay passes on as it \
was sent and at which the receiver ends DATA: a message sent through that relay to that \
receiver can carry a second, forged message (SMTP smuggling, CVE-2023-51764/5/6). A dash \
means no such pair among the sequences both reports tested.";
