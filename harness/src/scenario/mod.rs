//! The scenario language (README.md, "The scenario language"): suites of cases, each
//! tied to an RFC section and requirement level, each a list of steps.
//!
//! ```yaml
//! suite: rfc5321.transaction
//! cases:
//!   - id: rcpt-before-mail
//!     title: RCPT before MAIL is refused
//!     spec: { rfc: 5321, section: "4.1.4", level: MUST }
//!     steps:
//!       - expect: 220
//!       - send: "EHLO {{client.helo}}"
//!       - expect: 250
//!       - send: "RCPT TO:<{{target.rcpt}}>"
//!       - expect: { code: 503 }
//! ```
//!
//! The model here is what the files say; [`load`] reads and checks them, with every
//! error located by file, line and column.

pub mod delivery;
pub mod load;
pub mod serving;
pub mod template;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// One file: a suite of cases.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// Dotted suite name, e.g. `rfc5321.transaction`; case ids are `suite/id`.
    pub suite: String,
    /// What the suite is about.
    #[serde(default)]
    pub description: Option<String>,
    /// The cases.
    pub cases: Vec<CaseDef>,
}

pub use crate::outcome::Level;

/// Where a requirement comes from.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// RFC number.
    pub rfc: u32,
    /// Section, e.g. `"4.1.4"`.
    pub section: String,
    /// Requirement level.
    pub level: Level,
    /// The sentence of the RFC that makes it one, verbatim (client MUST cases must have
    /// it: `smtpspec check` says so).
    #[serde(default)]
    pub quote: Option<String>,
}

/// One case.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseDef {
    /// Unique within the suite.
    pub id: String,
    /// One line for people.
    pub title: String,
    /// The requirement.
    pub spec: Spec,
    /// EHLO keywords the target must advertise, or the case is skipped; `!KEYWORD`
    /// for one it must not advertise (a case about servers without the extension).
    #[serde(default)]
    pub requires: Vec<String>,
    /// EHLO keywords the target must advertise once TLS is up (RFC 3207 §4.2: the
    /// post-TLS EHLO is a new list; AUTH is often offered only there), or the case is
    /// skipped. Implies STARTTLS.
    #[serde(default)]
    pub requires_after_tls: Vec<String>,
    /// Greeting codes the case is for (e.g. `[554]` for a server that refuses service
    /// at connection, RFC 5321 §3.1); the case is skipped against other greetings.
    /// Absent: the case expects a server that greets with 220.
    #[serde(default)]
    pub requires_greeting: Vec<u16>,
    /// Free tags for `--filter` (e.g. a CVE).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The steps, each with its place in the file (a case has steps or a delivery).
    #[serde(default)]
    #[schemars(with = "Vec<Step>")]
    pub steps: Vec<Spanned<Step>>,
    /// A delivery case: the sender is under test (see [`delivery`]).
    #[serde(default)]
    #[schemars(with = "Option<delivery::DeliveryDef>")]
    pub delivery: Option<Spanned<delivery::DeliveryDef>>,
    /// A client case: the client is under test and smtpspec plays the server (see
    /// [`serving`]).
    #[serde(default)]
    #[schemars(with = "Option<serving::ClientDef>")]
    pub client: Option<Spanned<serving::ClientDef>>,
}

/// What a reply must look like.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ExpectSpec {
    /// `expect: 250`
    Code(u16),
    /// `expect: 5xx`
    Class(String),
    /// `expect: { code: 550, enhanced: "5.1.1", text: "(?i)unknown" }`
    Full(ExpectReply),
}

/// The full form of `expect`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectReply {
    /// Exactly this code.
    #[serde(default)]
    pub code: Option<u16>,
    /// A class: `2xx`, `4xx`, `5xx`, or two digits like `55x`; or a list of them
    /// (`[4xx, 5xx]`: any refusal).
    #[serde(default)]
    pub class: Option<Classes>,
    /// One of these codes.
    #[serde(default)]
    pub codes: Option<Vec<u16>>,
    /// The enhanced status code (RFC 3463), e.g. `5.1.1`, or `5.x.x` for a class.
    #[serde(default)]
    pub enhanced: Option<String>,
    /// A regular expression the reply text must match.
    #[serde(default)]
    pub text: Option<String>,
    /// `true`: the reply must have several lines; `false`: exactly one.
    #[serde(default)]
    pub multiline: Option<bool>,
    /// Store the reply text in this variable.
    #[serde(default)]
    pub capture: Option<String>,
    /// The codes the RFC prefers among those accepted: any other accepted code gives
    /// `warn` (a SHOULD), never `fail` (e.g. `codes: [550, 552, 554], prefer: [552]`
    /// for an over-size message: RFC 1870 prefers 552, RFC 5321 §4.3.2 lists all three).
    #[serde(default)]
    pub prefer: Vec<u16>,
    /// The RFC sentence that narrows the codes RFC 5321 §4.3.2 lists for this command
    /// to those accepted here. Without it, `smtpspec check` requires every listed code
    /// of an accepted class to be accepted.
    #[serde(default)]
    pub because: Option<String>,
    /// A precondition of the case, not its subject (the sender accepted before a
    /// recipient is tested): any other reply skips the case with the reason, for the
    /// case cannot reach what it tests. A class (`given: 5xx`) makes only the class a
    /// precondition: a case about how a server refuses skips when it accepts, and the
    /// rest of the expectation judges the refusal.
    #[serde(default)]
    pub given: Given,
}

/// `given: true`, or `given: 5xx`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Given {
    /// The whole expectation is a precondition.
    Whole(bool),
    /// Only the class is.
    Class(String),
}

impl Default for Given {
    fn default() -> Self {
        Self::Whole(false)
    }
}

/// One reply class or several.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Classes {
    /// `5xx`
    One(String),
    /// `[4xx, 5xx]`
    Many(Vec<String>),
}

impl Classes {
    /// The classes as written.
    pub fn list(&self) -> Vec<&str> {
        match self {
            Self::One(c) => vec![c.as_str()],
            Self::Many(cs) => cs.iter().map(String::as_str).collect(),
        }
    }
}

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
    /// The server must send nothing for this long (`500ms`, `2s`); closing the
    /// connection sends nothing, so it satisfies this step.
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
            Self::ExpectSilence(_) => "expect_silence",
            Self::ExpectNotEnded(_) => "expect_not_ended",
            Self::Starttls => "starttls",
            Self::Handshake => "handshake",
            Self::ExpectStored(_) => "expect_stored",
            Self::Pause(_) => "pause",
        }
    }
}

/// The JSON Schema of a suite file, so that editors complete and check scenarios
/// (committed as `scenarios/schema.json`; a test keeps it current).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(SuiteFile);
    let mut text =
        serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// Parse `500ms`, `2s`, `1.5s`.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    (secs.is_finite() && (0.0..3600.0).contains(&secs))
        .then(|| std::time::Duration::from_secs_f64(secs))
}
