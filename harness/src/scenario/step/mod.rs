//! The steps of a server case, in one place: what each is in a suite file ([`Step`],
//! whose JSON Schema editors see), what the loader checks it into ([`Action`], with
//! templates, escapes, durations and patterns checked), and the variables it uses.
//! A new step kind is a variant of both enums and an arm of [`check_step`] here, and an
//! arm in the server role (`roles/server/step.rs`); no renderer knows steps.

use crate::yaml::Invalid;
use std::collections::BTreeSet;
use std::time::Duration;

use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

use super::ExpectSpec;
use super::template::{self, KNOWN};

mod matcher;

pub use matcher::Matcher;
use matcher::matcher;

/// A message body to send after 354.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// The content; escapes as in `send_raw`.
    pub text: String,
    /// Dot-stuff and terminate with `<CRLF>.<CRLF>` (default), or send as written.
    #[serde(default = "yes")]
    pub stuff: bool,
    /// Pad the body with lines of text until it is larger than the SIZE the target
    /// advertised (RFC 1870); the case should `require: [SIZE]`.
    #[serde(default)]
    pub exceed_size: bool,
}

/// What the target stored for this case's message (found by the `{{case.token}}` it
/// carries), when the target profile gives access to its mailbox.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectStored {
    /// Octet strings (escapes as in `send_raw`) the stored message must contain.
    #[serde(default)]
    pub contains: Vec<String>,
    /// Octet strings it must not contain.
    #[serde(default)]
    pub lacks: Vec<String>,
    /// Regular expressions the stored message (read as text, invalid UTF-8 replaced)
    /// must match, e.g. the shape of the Received line the server added.
    #[serde(default)]
    pub matches: Vec<String>,
    /// `true`: no message with this case's token may be stored (refused, or accepted
    /// and bounced); watched for a second, as delivery may lag the 250.
    #[serde(default)]
    pub absent: bool,
    /// Header fields the stored message must have. Names are compared without regard
    /// to case (RFC 5322 §1.2.2: `Return-path:` is `Return-Path:`), values unfolded.
    #[serde(default)]
    pub headers: Vec<HeaderCheck>,
    /// A precondition, not the case's subject: a mismatch skips the case (a case
    /// about the shape of the Received line the server added, when it added none).
    #[serde(default)]
    pub given: bool,
}

/// A header field of the stored message.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderCheck {
    /// The field name, any case.
    pub name: String,
    /// A value one field of that name must have exactly (variables expanded).
    #[serde(default)]
    pub value: Option<String>,
    /// A regular expression one field of that name must match.
    #[serde(default)]
    pub matches: Option<String>,
}

fn yes() -> bool {
    true
}

/// A pipelined batch. A server must read its input as a stream (RFC 2920 §3.2): where
/// TCP cuts the batch must not change a single reply, so cases send the same batch
/// whole and cut at every octet, and expect the same replies.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The command lines; CRLF is added to each, variables are expanded.
    pub lines: Vec<String>,
    /// Where to cut the batch into separate writes: a list of octet offsets into the
    /// batch (ascending), or `each` for one write per octet. Absent: one write.
    #[serde(default)]
    pub split: Option<Split>,
}

/// How a batch is cut into writes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Split {
    /// Cut before each of these octet offsets.
    At(Vec<usize>),
    /// `each`: one octet per write.
    Every(Every),
}

/// The word `each`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    /// One octet per write.
    Each,
}

/// How long to watch for an end taken, and the real end to send once the target
/// waited: `expect_not_ended: 1s`, or `{ wait: 1s, end: '\r\n.\r\n' }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NotEnded {
    /// Only the wait.
    Wait(String),
    /// The wait, then the real end (escapes as in `send_raw`): the target must then
    /// answer it once, and nothing more (no reply to anything that came before).
    Full {
        /// How long to watch (`1s`).
        wait: String,
        /// The octets that really end the line or the data.
        #[serde(default)]
        end: Option<String>,
        /// A close with no reply before it fails instead of settling the case: the
        /// session died on the octets sent (RFC 5321 §3.8 lets a server close only after
        /// QUIT, after a 421, or after a timeout). For sizes and counters that crash a
        /// server rather than confuse its framing.
        #[serde(default)]
        must_survive: bool,
    },
}

/// An EHLO keyword the target must advertise.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectEhlo {
    /// The keyword.
    pub keyword: String,
    /// A parameter it must carry, if any.
    #[serde(default)]
    pub param: Option<String>,
    /// `false`: the keyword must NOT be advertised.
    #[serde(default = "yes")]
    pub present: bool,
}

/// One step of a case.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Send a command line; CRLF is added. Variables `{{...}}` are expanded.
    Send(String),
    /// Send octets exactly: escapes `\r \n \t \0 \\ \xHH`; nothing is added.
    SendRaw(String),
    /// Send several command lines as one pipelined batch (RFC 2920 §3.1), in one write
    /// or cut into several writes.
    SendBatch(Batch),
    /// Send a message body (after 354).
    SendBody(Body),
    /// Wait for one reply and check it.
    Expect(ExpectSpec),
    /// Check the EHLO keywords of the last EHLO reply.
    ExpectEhlo(ExpectEhlo),
    /// The server must close the connection (within the step timeout).
    ExpectClose,
    /// One reply must come, whatever its code: closing or resetting the connection
    /// instead of answering a command is the finding (RFC 5321 §3.8: a server closes
    /// only after QUIT, or with a 421), and so is saying nothing until the step's
    /// deadline with the connection open (§4.2). The step fuzzer reproducers end with.
    ExpectAnswer,
    /// The server must send nothing for this long (`500ms`, `2s`); closing the
    /// connection sends nothing, so it satisfies this step. Also spelled `silence`, as
    /// in client scripts.
    #[serde(alias = "silence")]
    ExpectSilence(String),
    /// After octets that end a line or the data only in a way RFC 5321 forbids (a bare
    /// LF, `<LF>.<LF>`), watch whether the target took them as an end. Nothing: it
    /// waits, as it must. A positive reply, or two replies: it took them as an end
    /// (the finding). One refusal (4xx/5xx), with or without a close, or a close:
    /// safe, and the case passes there.
    ExpectNotEnded(NotEnded),
    /// STARTTLS: send it, expect 220, run the handshake.
    Starttls,
    /// Run the TLS handshake now (after a STARTTLS sent by hand and its 220).
    Handshake,
    /// Check the stored message (skipped when the target's mailbox is not readable).
    ExpectStored(ExpectStored),
    /// Wait this long.
    Pause(String),
}

impl Step {
    /// The step's name as written in files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Send(_) => "send",
            Self::SendRaw(_) => "send_raw",
            Self::SendBatch(_) => "send_batch",
            Self::SendBody(_) => "send_body",
            Self::Expect(_) => "expect",
            Self::ExpectEhlo(_) => "expect_ehlo",
            Self::ExpectClose => "expect_close",
            Self::ExpectAnswer => "expect_answer",
            Self::ExpectSilence(_) => "expect_silence",
            Self::ExpectNotEnded(_) => "expect_not_ended",
            Self::Starttls => "starttls",
            Self::Handshake => "handshake",
            Self::ExpectStored(_) => "expect_stored",
            Self::Pause(_) => "pause",
        }
    }
}

/// A checked step.
#[derive(Debug, Clone)]
pub enum Action {
    /// A line to send; CRLF added after expansion.
    Send(String),
    /// Octets to send, after expansion and unescaping.
    SendRaw(String),
    /// A pipelined batch: lines (CRLF added after expansion) and where to cut it.
    SendBatch {
        /// The command lines.
        lines: Vec<String>,
        /// Write boundaries.
        cuts: Cuts,
    },
    /// A body; `stuff` dot-stuffs and terminates it.
    SendBody {
        /// Text with escapes.
        text: String,
        /// Dot-stuff and terminate.
        stuff: bool,
        /// Pad past the advertised SIZE.
        exceed_size: bool,
    },
    /// Run the TLS handshake.
    Handshake,
    /// Check the stored message.
    ExpectStored(StoredCheck),
    /// Wait for a reply and match it.
    Expect(Matcher),
    /// Check the last EHLO reply.
    ExpectEhlo(ExpectEhlo),
    /// Wait for the server to close.
    ExpectClose,
    /// Any reply; a close instead is the finding.
    ExpectAnswer,
    /// Nothing may arrive for this long.
    Silence(Duration),
    /// Whatever arrives in this window must not show an end taken; then the real end
    /// (unescaped octets), if given, gets one reply and no more.
    NotEnded {
        /// The window.
        wait: Duration,
        /// The real end, as a template with escapes.
        end: Option<String>,
        /// A close with no reply fails.
        must_survive: bool,
    },
    /// STARTTLS and the handshake.
    Starttls,
    /// Wait.
    Pause(Duration),
}

/// An `expect_stored` step with its patterns compiled.
#[derive(Debug, Clone)]
pub struct StoredCheck {
    /// The step as written.
    pub spec: super::ExpectStored,
    /// `matches`, compiled.
    pub patterns: Vec<Regex>,
    /// `headers`, with their patterns compiled.
    pub headers: Vec<HeaderMatch>,
}

/// One header check of `expect_stored`.
#[derive(Debug, Clone)]
pub struct HeaderMatch {
    /// Field name (compared without case).
    pub name: String,
    /// Exact value (a template).
    pub value: Option<String>,
    /// Pattern the value must match.
    pub matches: Option<Regex>,
}

/// Where a batch is cut into writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cuts {
    /// One write.
    None,
    /// Before each of these octet offsets (ascending, non-zero).
    At(Vec<usize>),
    /// After every octet.
    Each,
}

/// A step with where it was written.
#[derive(Debug, Clone)]
pub struct LocatedAction {
    /// The step.
    pub action: Action,
    /// Line in the file (1-based).
    pub line: u64,
    /// The step's name as written.
    pub name: &'static str,
}

/// The template texts of a step.
pub(super) fn texts(action: &Action) -> Vec<&str> {
    match action {
        Action::Send(t) | Action::SendRaw(t) => vec![t],
        Action::SendBatch { lines, .. } => lines.iter().map(String::as_str).collect(),
        Action::SendBody { text, .. } => vec![text],
        Action::ExpectStored(StoredCheck { spec: e, .. }) => e
            .contains
            .iter()
            .chain(&e.lacks)
            .chain(e.headers.iter().filter_map(|h| h.value.as_ref()))
            .map(String::as_str)
            .collect(),
        _ => Vec::new(),
    }
}

fn check_text(text: &str, escapes: bool, captured: &BTreeSet<String>) -> Result<(), Invalid> {
    let names =
        template::names(text).map_err(|at| crate::invalid!("unclosed '{{{{' at offset {at}"))?;
    if let Some(unknown) = names
        .iter()
        .find(|n| !KNOWN.contains(n) && !captured.contains(**n))
    {
        return Err(crate::invalid!(
            "unknown variable {{{{{unknown}}}}} (known: {})",
            KNOWN.join(", ")
        ));
    }
    if escapes {
        template::unescape(text).map_err(|at| {
            crate::invalid!("bad escape at offset {at} (use \\r \\n \\t \\0 \\\\ \\xHH)")
        })?;
    }
    Ok(())
}

fn duration(s: &str) -> Result<Duration, Invalid> {
    super::parse_duration(s)
        .ok_or_else(|| crate::invalid!("{s:?} is not a duration like 500ms or 2s"))
}

/// Check one step; `captured` holds the variables earlier steps of the case capture,
/// and grows with this step's capture.
pub(super) fn check_step(step: &Step, captured: &mut BTreeSet<String>) -> Result<Action, Invalid> {
    Ok(match step {
        Step::Send(t) => {
            check_text(t, false, captured)?;
            if t.contains(['\r', '\n']) {
                return Err("a line cannot hold CR or LF; use send_raw".into());
            }
            Action::Send(t.clone())
        }
        Step::SendRaw(t) => {
            check_text(t, true, captured)?;
            Action::SendRaw(t.clone())
        }
        Step::SendBatch(b) => check_batch(b, captured)?,
        Step::SendBody(b) => {
            check_text(&b.text, true, captured)?;
            Action::SendBody {
                text: b.text.clone(),
                stuff: b.stuff,
                exceed_size: b.exceed_size,
            }
        }
        Step::Expect(spec) => check_expect(spec, captured)?,
        Step::ExpectEhlo(e) => {
            if e.keyword.is_empty()
                || !e
                    .keyword
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(crate::invalid!("{:?} is not an EHLO keyword", e.keyword));
            }
            Action::ExpectEhlo(e.clone())
        }
        Step::ExpectClose => Action::ExpectClose,
        Step::ExpectAnswer => Action::ExpectAnswer,
        Step::ExpectSilence(d) => Action::Silence(duration(d)?),
        Step::ExpectNotEnded(n) => {
            let (wait, end, must_survive) = match n {
                NotEnded::Wait(w) => (w, None, false),
                NotEnded::Full {
                    wait,
                    end,
                    must_survive,
                } => (wait, end.clone(), *must_survive),
            };
            if let Some(e) = &end {
                check_text(e, true, captured)?;
            }
            Action::NotEnded {
                wait: duration(wait)?,
                end,
                must_survive,
            }
        }
        Step::Starttls => Action::Starttls,
        Step::Handshake => Action::Handshake,
        Step::ExpectStored(e) => check_stored(e, captured)?,
        Step::Pause(d) => Action::Pause(duration(d)?),
    })
}

/// A pipelined batch: lines without line ends, and cuts inside it in ascending order.
fn check_batch(b: &Batch, captured: &BTreeSet<String>) -> Result<Action, Invalid> {
    if b.lines.is_empty() {
        return Err("a batch needs at least one line".into());
    }
    for t in &b.lines {
        check_text(t, false, captured)?;
        if t.contains(['\r', '\n']) {
            return Err("a line cannot hold CR or LF; use send_raw".into());
        }
    }
    let cuts = match &b.split {
        None => Cuts::None,
        Some(Split::Every(_)) => Cuts::Each,
        Some(Split::At(at)) => {
            if at.first() == Some(&0) || at.windows(2).any(|w| w[0] >= w[1]) {
                return Err("split offsets must be ascending and above 0".into());
            }
            Cuts::At(at.clone())
        }
    };
    Ok(Action::SendBatch {
        lines: b.lines.clone(),
        cuts,
    })
}

/// An `expect`: its matcher, and the variable it captures (never a profile's).
fn check_expect(spec: &ExpectSpec, captured: &mut BTreeSet<String>) -> Result<Action, Invalid> {
    let m = matcher(spec)?;
    if let Some(name) = &m.capture {
        if KNOWN.contains(&name.as_str()) {
            return Err(crate::invalid!(
                "capture {name:?} would hide a profile variable"
            ));
        }
        captured.insert(name.clone());
    }
    Ok(Action::Expect(m))
}

/// An `expect_stored`: texts, patterns and header checks compiled, and `absent`
/// alone.
fn check_stored(e: &ExpectStored, captured: &BTreeSet<String>) -> Result<Action, Invalid> {
    for t in e.contains.iter().chain(&e.lacks) {
        check_text(t, true, captured)?;
    }
    if e.absent && !(e.contains.is_empty() && e.lacks.is_empty() && e.matches.is_empty()) {
        return Err("absent: true cannot go with contains, lacks or matches".into());
    }
    if e.absent && !e.headers.is_empty() {
        return Err("absent: true cannot go with headers".into());
    }
    let patterns = e
        .matches
        .iter()
        .map(|p| Regex::new(p).map_err(|err| crate::invalid!("bad pattern in matches: {err}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut headers = Vec::new();
    for h in &e.headers {
        if h.name.is_empty() || !h.name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
            return Err(crate::invalid!("{:?} is not a header field name", h.name));
        }
        if let Some(v) = &h.value {
            check_text(v, false, captured)?;
        }
        headers.push(HeaderMatch {
            name: h.name.clone(),
            value: h.value.clone(),
            matches: h
                .matches
                .as_deref()
                .map(Regex::new)
                .transpose()
                .map_err(|err| crate::invalid!("bad pattern in headers: {err}"))?,
        });
    }
    Ok(Action::ExpectStored(StoredCheck {
        spec: e.clone(),
        patterns,
        headers,
    }))
}
