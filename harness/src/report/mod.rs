//! Reports of a run. [`model::Report`] is the one report (the JSON schema of README.md,
//! the contract other tools read); JUnit, Markdown and HTML are renderings of it, and
//! the terminal text is made from the run directly.
//!
//! Everything a target sends is untrusted: each rendering escapes for its own medium
//! (HTML entities, XML-valid characters, neutralised control characters).

pub mod badge;
pub mod baseline;
pub mod certification;
pub mod chain;
pub mod grades;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod model;
pub mod standing;
pub mod text;

use std::collections::BTreeMap;

use smtp_protocol::ehlo::EhloLine;

use crate::roles::CaseResult;
use crate::roles::server::Target;
use crate::wire::Dir;

/// What a report says was tested, in the header's fields: a server as discovered, or
/// the client under test described in the same place.
#[derive(Debug, Clone)]
pub struct Tested {
    /// Where it listened, HOST:PORT; empty for a client under test, which has no
    /// address of its own (it connected to the harness, a port per case).
    pub address: String,
    /// Its greeting, or what the client is.
    pub banner: String,
    /// EHLO lines as advertised.
    pub ehlo: Vec<EhloLine>,
    /// EHLO lines after STARTTLS.
    pub tls_ehlo: Option<Vec<EhloLine>>,
    /// Why there is no post-TLS list although STARTTLS is advertised.
    pub tls_problem: Option<String>,
    /// The variables the cases used, secrets hidden (empty for a client).
    pub variables: BTreeMap<String, String>,
}

impl From<&Target> for Tested {
    fn from(t: &Target) -> Self {
        Self {
            address: t.addr.to_string(),
            banner: t.banner.clone(),
            ehlo: t.ehlo.clone(),
            tls_ehlo: t.tls_ehlo.clone(),
            tls_problem: t.tls_problem.clone(),
            variables: crate::profile::vars::shown(&t.vars),
        }
    }
}

impl Tested {
    /// A server that could not be tested (no connection, no greeting, a launch that
    /// died): where it was looked for, and why, in the place of its banner.
    pub fn unreached(address: &str, reason: &str) -> Self {
        Self {
            address: address.to_owned(),
            banner: reason.to_owned(),
            ehlo: Vec::new(),
            tls_ehlo: None,
            tls_problem: None,
            variables: BTreeMap::new(),
        }
    }

    /// A client under test, described by its commands.
    pub fn client(description: &str) -> Self {
        Self {
            address: String::new(),
            banner: format!("client under test: {description}"),
            ehlo: Vec::new(),
            tls_ehlo: None,
            tls_problem: None,
            variables: BTreeMap::new(),
        }
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Run {
    /// What was tested.
    pub target: Tested,
    /// Unix time of the start.
    pub started: u64,
    /// Unix time of the end.
    pub finished: u64,
    /// Every case, in catalogue order.
    pub cases: Vec<CaseResult>,
    /// How many cases ran at once, and the attempts the target refused.
    pub pacing: crate::runner::PacerStats,
}

impl Run {
    /// Count the verdicts.
    pub fn summary(&self) -> model::Counts {
        let mut s = model::Counts::default();
        for c in &self.cases {
            s.add(c.verdict);
        }
        s
    }
}

/// Text safe for any human-facing rendering: control characters (ESC above all, C1
/// too) are shown as `\xHH` escapes, CR/LF/TAB as `\r \n \t`; everything else is
/// kept, so a hostile banner cannot move a terminal's cursor or break a document.
pub fn neutral(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Sort key for a section like `4.1.1.10`: numbers compare as numbers, appendices
/// (`F.5`) after the numbered sections.
pub fn section_key(section: &str) -> Vec<u32> {
    section
        .split('.')
        .map(|p| {
            p.parse().unwrap_or_else(|_| {
                // "F" of "F.5": after every numbered section.
                1000 + p.bytes().next().map_or(0, u32::from)
            })
        })
        .collect()
}

/// The RFC Editor's address of a section (appendices have their own anchors).
pub fn rfc_link(rfc: u32, section: &str) -> String {
    let anchor = if section.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("appendix-{section}")
    } else {
        format!("section-{section}")
    };
    format!("https://www.rfc-editor.org/rfc/rfc{rfc}#{anchor}")
}

/// Who spoke an event, as transcripts write it: `C:` the client, `S:` the server, `==`
/// the TLS boundary, `..` a note. smtpspec is the client of a server under test and the
/// server of a client under test, so what it sent is `C:` in the one and `S:` in the
/// other.
pub fn speaker(dir: Dir, harness_serves: bool) -> &'static str {
    match (dir, harness_serves) {
        (Dir::Send, false) | (Dir::Recv, true) => "C:",
        (Dir::Send, true) | (Dir::Recv, false) => "S:",
        (Dir::Tls, _) => "==",
        (Dir::Note, _) => "..",
    }
}

/// A case's transcript as lines for people, each line neutralised; see [`speaker`].
/// A write or read that holds several lines (a multiline reply, a pipelined batch)
/// is shown one line per line, each with its speaker and its own `\r\n`.
/// Ends with a newline unless empty.
pub fn transcript_lines(c: &model::CaseReport) -> String {
    let mut out = String::new();
    let serves = c.harness_role.as_deref() == Some("server");
    for e in &c.transcript {
        let arrow = speaker(e.dir, serves);
        let data = neutral(&e.data);
        for piece in data.split_inclusive("\\n") {
            out.push_str(arrow);
            out.push(' ');
            out.push_str(piece);
            out.push('\n');
        }
        if data.is_empty() {
            out.push_str(arrow);
            out.push('\n');
        }
    }
    out
}
