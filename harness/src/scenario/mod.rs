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

pub mod client;
pub mod load;
pub mod sender;
pub mod step;
pub mod template;

pub use step::{Batch, Body, Every, ExpectEhlo, ExpectStored, HeaderCheck, NotEnded, Split, Step};

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

/// A policy a target's operator may declare in its profile (`policy:`), named by
/// the cases that judge it (`requires_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyName {
    /// AUTH only after STARTTLS (RFC 4954 §4).
    AuthRequiresTls,
    /// No mail before STARTTLS (RFC 3207 §4).
    TlsRequired,
    /// No mail before AUTH (RFC 4954 §6, RFC 6409 §4.3).
    AuthRequired,
}

impl PolicyName {
    /// The key as written in a profile and a case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthRequiresTls => "auth_requires_tls",
            Self::TlsRequired => "tls_required",
            Self::AuthRequired => "auth_required",
        }
    }
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
    /// Policies the target's profile must declare (`policy:` in the profile:
    /// `auth_requires_tls`, `tls_required`, `auth_required`), or the case is skipped:
    /// a server may lawfully take mail or AUTH in the clear where its operator wants
    /// it to, so only the operator's word makes a case about refusing them apply.
    #[serde(default)]
    pub requires_policy: Vec<PolicyName>,
    /// The port the case is for. `true`: one that speaks the PROXY protocol (the
    /// target profile's `proxy:`), and the case sends its own header, for the
    /// connection opens without the one smtpspec otherwise sends first. `false`: one
    /// that does not. Absent: either; on a PROXY port smtpspec sends a valid header
    /// before the case begins.
    #[serde(default)]
    pub proxy_port: Option<bool>,
    /// Free tags for `--filter` (e.g. a CVE).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The steps, each with its place in the file (a case has steps or a delivery).
    #[serde(default)]
    #[schemars(with = "Vec<Step>")]
    pub steps: Vec<Spanned<Step>>,
    /// A delivery case: the sender is under test (see [`delivery`]).
    #[serde(default)]
    #[schemars(with = "Option<sender::DeliveryDef>")]
    pub delivery: Option<Spanned<sender::DeliveryDef>>,
    /// A client case: the client is under test and smtpspec plays the server (see
    /// [`serving`]).
    #[serde(default)]
    #[schemars(with = "Option<client::ClientDef>")]
    pub client: Option<Spanned<client::ClientDef>>,
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
    /// `true`: a refusal (any 4xx or 5xx reply the rest does not accept, but 421) or a
    /// close is a permitted answer too. The target defended itself against what was
    /// sent (an early talker, RFC 5321 §4.3.1; input stuffed past a reply it had to
    /// wait for, RFC 2920 §3.1): the case passes there, with what it did recorded, and
    /// its remaining steps do not apply.
    #[serde(default)]
    pub or_refused: bool,
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

/// An id as suites and cases write it: lower-case letters, digits and `-` (and `.`
/// between the parts of a suite name).
pub(crate) fn valid_id(id: &str, dots: bool) -> bool {
    !id.is_empty()
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
        })
}

/// The JSON Schema of a suite file, so that editors complete and check scenarios
/// (committed as `scenarios/schema.json`; a test keeps it current).
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(SuiteFile).to_value();
    // One vocabulary across roles: each spelling of a silence is accepted in both.
    alias(&mut schema, "Step", "expect_silence", "silence");
    alias(&mut schema, "ServeStep", "silence", "expect_silence");
    let mut text =
        serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// Accept `alias` wherever the step `name` of the enum `def` is accepted (a serde
/// alias, which schemars does not show).
fn alias(schema: &mut serde_json::Value, def: &str, name: &str, alias: &str) {
    let Some(variants) = schema
        .pointer_mut(&format!("/$defs/{def}/oneOf"))
        .and_then(serde_json::Value::as_array_mut)
    else {
        return;
    };
    let Some(mut copy) = variants
        .iter()
        .find(|v| v.pointer(&format!("/properties/{name}")).is_some())
        .cloned()
    else {
        return;
    };
    if let Some(props) = copy.get_mut("properties").and_then(|p| p.as_object_mut())
        && let Some(spec) = props.remove(name)
    {
        props.insert(alias.to_owned(), spec);
    }
    if let Some(required) = copy.get_mut("required") {
        *required = serde_json::json!([alias]);
    }
    copy["description"] = serde_json::json!(format!("`{alias}`: the same step as `{name}`."));
    variants.push(copy);
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
