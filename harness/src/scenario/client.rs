//! Client cases: the client is under test and smtpspec plays the server. A case is a
//! script of what the server says and what it expects to hear; `smtpspec client`
//! starts the client once per case, pointed at the scripted server.
//!
//! ```yaml
//! - id: helo-fallback-on-502
//!   title: A client whose EHLO is refused with 502 falls back to HELO
//!   spec: { rfc: 5321, section: "3.2", level: SHOULD }
//!   client:
//!     script:
//!       - reply: "220 mx.smtpspec.test ESMTP"
//!       - expect: EHLO
//!       - reply: "502 5.5.1 EHLO not implemented"
//!       - expect: HELO
//!       - reply: "250 mx.smtpspec.test"
//!       - expect: MAIL
//! ```
//!
//! Whatever the script does not say is still judged: every line the client sends must
//! end with CRLF (RFC 5321 §2.3.8), and once the script ends the client must finish
//! within the step timeout (its exit status is checked against `exit`).

use crate::yaml::Invalid;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// The `client:` block of a case.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientDef {
    /// How the client is configured for this case; the client's profile gives one
    /// command per mode, and a case whose mode it lacks is skipped.
    #[serde(default)]
    pub mode: ClientMode,
    /// What the client's exit status must say.
    #[serde(default)]
    pub exit: ExitExpect,
    /// The case is about what a pipelining client does: against a client that never
    /// pipelines it passes, and its reason says that nothing pipelined was seen.
    #[serde(default)]
    pub pipelining: bool,
    /// The server's side of the conversation, in order.
    #[schemars(with = "Vec<ServeStep>")]
    pub script: Vec<Spanned<ServeStep>>,
}

/// How the client under test is configured.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ClientMode {
    /// Plain SMTP: no TLS, no AUTH.
    #[default]
    Plain,
    /// STARTTLS required: the client must refuse to go on without it.
    TlsRequired,
    /// AUTH with the profile's user and password, TLS not required.
    Auth,
    /// AUTH with the profile's user and password, and STARTTLS required: neither the
    /// credentials nor the mail may go out in the clear.
    AuthTls,
}

impl ClientMode {
    /// Every mode, in the order help texts and reports list them.
    pub const ALL: [Self; 4] = [Self::Plain, Self::TlsRequired, Self::Auth, Self::AuthTls];

    /// The mode a file or a command line names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// As written in files and profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::TlsRequired => "tls-required",
            Self::Auth => "auth",
            Self::AuthTls => "auth-tls",
        }
    }
}

/// The exit status a client must end with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExitExpect {
    /// Not checked.
    #[default]
    Any,
    /// 0: the client reports the message sent.
    Success,
    /// Not 0: the client reports that the message was not sent.
    Failure,
}

/// One step of the server's script.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ServeStep {
    /// Send a reply: one line, or a list of lines (a multiline reply written out, e.g.
    /// `["250-mx.test", "250 PIPELINING"]`); CRLF is added to each line.
    Reply(ReplyLines),
    /// Send octets exactly (escapes `\r \n \t \0 \\ \xHH`), e.g. a 220 with an injected
    /// second reply in the same write.
    ReplyRaw(String),
    /// Read the next command line; it must have this verb (`expect: MAIL`) or match
    /// the full form.
    Expect(ExpectCommand),
    /// Read the message content after a 354, up to `<CRLF>.<CRLF>`, and check it.
    ExpectData(DataCheck),
    /// The client must send nothing for this long (`1s`). Also spelled
    /// `expect_silence`, as in server steps.
    #[serde(alias = "expect_silence")]
    Silence(String),
    /// The client must close the connection (within the step timeout).
    ExpectClose,
    /// Run the TLS handshake as the server, now (after a 220 to STARTTLS).
    Starttls,
    /// The same, but a client that closes the connection instead (refusing what came
    /// with the 220) ends the script there, without fault.
    StarttlsOrClose,
    /// Refuse the handshake (after a 220 to STARTTLS): read the client's first TLS
    /// record, its ClientHello, and answer it with a fatal handshake_failure alert, as
    /// a server whose TLS cannot agree with the client's does. The script goes on
    /// (its end is the close). A client that sends a command instead of starting TLS
    /// fails (RFC 3207 §4); one that hangs up ends the script.
    TlsAlert,
    /// The rest of the script needs a client that opened with EHLO (it offers
    /// extensions, or tests the EHLO exchange itself): after a HELO the case is skipped,
    /// for RFC 5321 §3.2 lets a client that needs no extension use HELO.
    NeedsEhlo,
}

impl ServeStep {
    /// The step's name as written in files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Reply(_) => "reply",
            Self::ReplyRaw(_) => "reply_raw",
            Self::Expect(_) => "expect",
            Self::ExpectData(_) => "expect_data",
            Self::Silence(_) => "silence",
            Self::ExpectClose => "expect_close",
            Self::Starttls => "starttls",
            Self::StarttlsOrClose => "starttls_or_close",
            Self::TlsAlert => "tls_alert",
            Self::NeedsEhlo => "needs_ehlo",
        }
    }
}

/// A reply as lines.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ReplyLines {
    /// One line.
    One(String),
    /// Several lines, each written as it goes on the wire (`250-...`, `250 ...`).
    Many(Vec<String>),
}

impl ReplyLines {
    /// The octets on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let lines: Vec<&str> = match self {
            Self::One(l) => vec![l],
            Self::Many(ls) => ls.iter().map(String::as_str).collect(),
        };
        lines
            .iter()
            .flat_map(|l| l.bytes().chain(*b"\r\n"))
            .collect()
    }
}

/// What the next command must be.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ExpectCommand {
    /// `expect: MAIL`: this verb.
    Verb(String),
    /// The full form.
    Full(ExpectCommandFull),
}

/// The full form of a command expectation.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectCommandFull {
    /// One of these verbs (e.g. `[QUIT, RSET]` where either is right).
    #[serde(default)]
    pub verbs: Vec<String>,
    /// A regular expression the whole line must match.
    #[serde(default)]
    pub matches: Option<String>,
    /// A regular expression the line must not match (e.g. an unadvertised parameter).
    #[serde(default)]
    pub lacks: Option<String>,
    /// `false`: the client may also close the connection here instead (e.g. after a
    /// 421); then the rest of the script is not played.
    #[serde(default = "yes")]
    pub required: bool,
    /// Verbs that end the case as `skip` if the client sends one of them here: another
    /// right behaviour, which this case cannot judge (a client that does not log in
    /// unasked, say).
    #[serde(default)]
    pub skip_on: Vec<String>,
    /// Why, for the skip's reason.
    #[serde(default)]
    pub skip_why: Option<String>,
    /// Replies by verb: when the client sends one of these verbs here, smtpspec answers
    /// with this line at once, and the script goes on (`{ QUIT: "221 bye", DATA: "554
    /// no valid recipients" }`): a client may take any of several right paths.
    #[serde(default)]
    pub answer: std::collections::BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// Checks on the message content.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataCheck {
    /// Texts the content (after dot-unstuffing) must contain, e.g. a line that began
    /// with a dot in the message file (escapes as in `reply_raw`).
    #[serde(default)]
    pub contains: Vec<String>,
    /// Texts it must not contain.
    #[serde(default)]
    pub lacks: Vec<String>,
    /// `true`: a bare CR or LF anywhere in the content fails the case (RFC 5321
    /// §2.3.8). Off by default so that one cause fails one case.
    #[serde(default)]
    pub crlf_only: bool,
    /// Lines of the message file that start with a dot, as the client must send them
    /// stuffed (RFC 5321 §4.5.2). Judged only on lines the client sent as lines, after
    /// a CRLF: a dot after a bare LF does not start a line on the wire (that is the
    /// bare LF's fault, which `crlf_only` judges, not the stuffing's).
    #[serde(default)]
    pub stuffed: Vec<String>,
}

/// A checked client case, ready to play.
#[derive(Debug, Clone)]
pub struct ClientCase {
    /// The client's configuration.
    pub mode: ClientMode,
    /// The exit status wanted.
    pub exit: ExitExpect,
    /// The case is about a pipelining client.
    pub pipelining: bool,
    /// The script.
    pub script: Vec<LocatedServe>,
}

/// A checked step with its place in the file.
#[derive(Debug, Clone)]
pub struct LocatedServe {
    /// What to do.
    pub action: Serve,
    /// Line in the file.
    pub line: u64,
    /// The step's name as written.
    pub name: &'static str,
}

/// An `expect` of a client script, checked: the command line the client must send.
#[derive(Debug, Clone)]
pub struct CommandCheck {
    /// Allowed verbs (empty: any).
    pub verbs: Vec<smtp_protocol::Verb>,
    /// The line must match.
    pub matches: Option<regex::Regex>,
    /// The line must not match.
    pub lacks: Option<regex::Regex>,
    /// A close instead is a failure.
    pub required: bool,
    /// Verbs that skip the case, and why.
    pub skip_on: Vec<smtp_protocol::Verb>,
    /// The reason of such a skip.
    pub skip_why: String,
    /// Replies sent at once, by verb.
    pub answer: Vec<(smtp_protocol::Verb, Vec<u8>)>,
}

/// An `expect_data` of a client script, checked: the content after 354.
#[derive(Debug, Clone)]
pub struct DataMatch {
    /// Must be in the unstuffed content.
    pub contains: Vec<Vec<u8>>,
    /// Must not be.
    pub lacks: Vec<Vec<u8>>,
    /// Bare CR or LF fails.
    pub crlf_only: bool,
    /// Dot lines that must arrive stuffed.
    pub stuffed: Vec<String>,
}

/// A checked step.
#[derive(Debug, Clone)]
pub enum Serve {
    /// Send these octets.
    Send(Vec<u8>),
    /// Read a command line.
    Expect(CommandCheck),
    /// Read the content after 354.
    ExpectData(DataMatch),
    /// Nothing may arrive for this long.
    Silence(std::time::Duration),
    /// The client must close.
    ExpectClose,
    /// Server-side TLS handshake; `true`: a close instead ends the script.
    Starttls(bool),
    /// Read the ClientHello, answer it with a handshake_failure alert.
    TlsAlert,
    /// Skip the case if the client opened with HELO.
    NeedsEhlo,
}

/// The verbs a word in `expect` stands for: a verb, or `HELLO` for EHLO or HELO (RFC
/// 5321 §3.2: a client that needs no extension may open with HELO).
fn verbs(word: &str) -> Result<Vec<smtp_protocol::Verb>, Invalid> {
    use smtp_protocol::Verb;
    if word.eq_ignore_ascii_case("HELLO") {
        return Ok(vec![Verb::Ehlo, Verb::Helo]);
    }
    Verb::from_bytes(word.to_ascii_uppercase().as_bytes())
        .map(|v| vec![v])
        .ok_or_else(|| crate::invalid!("{word:?} is not an SMTP verb smtpspec knows (or HELLO)"))
}

fn pattern(p: &Option<String>) -> Result<Option<regex::Regex>, Invalid> {
    p.as_deref()
        .map(|p| regex::Regex::new(p).map_err(|e| crate::invalid!("bad pattern: {e}")))
        .transpose()
}

fn octets(texts: &[String]) -> Result<Vec<Vec<u8>>, Invalid> {
    texts
        .iter()
        .map(|t| {
            super::template::unescape(t)
                .map_err(|at| crate::invalid!("bad escape at offset {at} in {t:?}"))
        })
        .collect()
}

/// Check a client block; problems come with their line and column.
pub fn check_client(def: &ClientDef) -> Result<ClientCase, Vec<(u64, u64, String)>> {
    let mut script = Vec::new();
    let mut problems = Vec::new();
    if def.script.is_empty() {
        problems.push((1, 1, "client: the script is empty".to_string()));
    }
    for spanned in &def.script {
        let (line, col) = (spanned.referenced.line(), spanned.referenced.column());
        let step = &spanned.value;
        let action = check_serve(step);
        match action {
            Ok(action) => script.push(LocatedServe {
                action,
                line,
                name: step.name(),
            }),
            Err(e) => problems.push((line, col, format!("{}: {e}", step.name()))),
        }
    }
    if problems.is_empty() {
        Ok(ClientCase {
            mode: def.mode,
            exit: def.exit,
            pipelining: def.pipelining,
            script,
        })
    } else {
        Err(problems)
    }
}

/// One step of a client script, checked into what the client role plays.
fn check_serve(step: &ServeStep) -> Result<Serve, Invalid> {
    match step {
        ServeStep::Reply(r) => Ok(Serve::Send(r.to_bytes())),
        ServeStep::ReplyRaw(t) => {
            octets(std::slice::from_ref(t)).map(|mut v| Serve::Send(v.remove(0)))
        }
        ServeStep::Expect(ExpectCommand::Verb(v)) => verbs(v).map(|v| {
            Serve::Expect(CommandCheck {
                verbs: v,
                matches: None,
                lacks: None,
                required: true,
                skip_on: Vec::new(),
                skip_why: String::new(),
                answer: Vec::new(),
            })
        }),
        ServeStep::Expect(ExpectCommand::Full(f)) => (|| {
            Ok(Serve::Expect(CommandCheck {
                verbs: f
                    .verbs
                    .iter()
                    .map(|v| verbs(v))
                    .collect::<Result<Vec<_>, _>>()?
                    .concat(),
                matches: pattern(&f.matches)?,
                lacks: pattern(&f.lacks)?,
                required: f.required,
                skip_on: f
                    .skip_on
                    .iter()
                    .map(|v| verbs(v))
                    .collect::<Result<Vec<_>, _>>()?
                    .concat(),
                skip_why: f.skip_why.clone().unwrap_or_else(|| {
                    "another right behaviour, which this case does not judge".into()
                }),
                answer: f
                    .answer
                    .iter()
                    .map(|(v, line)| {
                        let vs = verbs(v)?;
                        if line.contains(['\r', '\n']) {
                            return Err(crate::invalid!(
                                "answer to {v}: one line, without CR or LF"
                            ));
                        }
                        let mut bytes = line.clone().into_bytes();
                        bytes.extend_from_slice(b"\r\n");
                        Ok(vs
                            .into_iter()
                            .map(move |v| (v, bytes.clone()))
                            .collect::<Vec<_>>())
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .concat(),
            }))
        })(),
        ServeStep::ExpectData(d) => (|| {
            if let Some(bad) = d.stuffed.iter().find(|l| !l.starts_with('.')) {
                return Err(crate::invalid!(
                    "stuffed: {bad:?} does not start with a dot"
                ));
            }
            Ok(Serve::ExpectData(DataMatch {
                contains: octets(&d.contains)?,
                lacks: octets(&d.lacks)?,
                crlf_only: d.crlf_only,
                stuffed: d.stuffed.clone(),
            }))
        })(),
        ServeStep::Silence(d) => super::parse_duration(d)
            .map(Serve::Silence)
            .ok_or_else(|| crate::invalid!("{d:?} is not a duration like 500ms or 2s")),
        ServeStep::ExpectClose => Ok(Serve::ExpectClose),
        ServeStep::Starttls => Ok(Serve::Starttls(false)),
        ServeStep::StarttlsOrClose => Ok(Serve::Starttls(true)),
        ServeStep::TlsAlert => Ok(Serve::TlsAlert),
        ServeStep::NeedsEhlo => Ok(Serve::NeedsEhlo),
    }
}
