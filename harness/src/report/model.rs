//! The report model: what a run found, in the shape of the JSON report (README.md,
//! "Command line", schema version 1). Every rendering (JSON, JUnit, Markdown, HTML)
//! is made from this one value, and `smtpspec report` reads it back from JSON files,
//! so a merged matrix says exactly what the single reports said.
//!
//! Field names are a contract: fields may be added (with defaults, so older reports
//! still read), none renamed or removed.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smtp_protocol::server::received::rfc3339;

use super::Run;
use crate::outcome::{Level, Mismatch, Verdict};
pub use crate::wire::EventReport;
use crate::wire::escape;

/// Version of the report schema.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What made it.
    pub tool: Tool,
    /// What was tested.
    pub target: TargetInfo,
    /// RFC 3339 UTC.
    pub started: String,
    /// RFC 3339 UTC.
    pub finished: String,
    /// How the run was made.
    #[serde(default)]
    pub settings: Settings,
    /// How many cases ran at once: the target may take fewer connections than
    /// `--jobs`, and the runner adapts (absent in reports made before it did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacing: Option<Pacing>,
    /// Counts per verdict, and the certification summary.
    pub summary: Summary,
    /// Counts per verdict for each requirement level.
    #[serde(default)]
    pub by_level: Vec<LevelCounts>,
    /// The requirements index seen through this run: per level, how many requirements
    /// every linked case passed, how many a linked case did not, and how many this run
    /// did not test. Counted over the roles this run tested (server for a server, client
    /// for a client, relay for a sender; all that ran for the main job).
    #[serde(default)]
    pub requirements: Vec<RequirementCounts>,
    /// Every case, in catalogue order.
    pub cases: Vec<CaseReport>,
}

/// Requirements of one level, of the roles this run tested, by what it showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RequirementCounts {
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// Every linked case ran and passed.
    pub verified: usize,
    /// A linked case failed or warned.
    pub violated: usize,
    /// Testable, but no linked case ran to a pass or fail here (none exists, skipped,
    /// errored, or filtered out).
    pub untested: usize,
}

/// The tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Tool {
    /// `smtpspec`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of the scenario files run (paths and contents), so that reports of
    /// different catalogues are not compared as if they were the same test.
    #[serde(default)]
    pub suite_digest: String,
}

/// The target as discovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetInfo {
    /// HOST:PORT; empty in a client run (the client under test has no address: it
    /// connected to the harness, a port per case; `banner` describes it).
    pub address: String,
    /// The greeting, as received (escaped).
    pub banner: String,
    /// EHLO lines.
    pub ehlo: Vec<String>,
    /// EHLO lines after STARTTLS, when there was a TLS session.
    #[serde(default)]
    pub ehlo_after_tls: Option<Vec<String>>,
    /// Why there is no post-TLS list although STARTTLS was offered.
    #[serde(default)]
    pub tls_problem: Option<String>,
    /// A name for the target in matrices (the profile's `name:` or file stem, else the
    /// address; `client under test` for a client without a profile).
    #[serde(default)]
    pub name: String,
    /// The variables the cases used (`target.rcpt`, `client.from`, ...): from the
    /// profile, the greeting or the command line; secrets shown as `(secret)`.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

impl TargetInfo {
    /// Where the target was, for a header: its address, or its name when it has none
    /// (the embedded server that did not start, a client under test).
    pub fn place(&self) -> &str {
        if self.address.is_empty() {
            &self.name
        } else {
            &self.address
        }
    }
}

/// Run settings that change what a report means.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Settings {
    /// `--filter`, if any.
    #[serde(default)]
    pub filter: Option<String>,
    /// `--fail-on`: `must`, `should` or `may` (reports written before 2026-12 say
    /// `info` for `may`).
    #[serde(default)]
    pub fail_on: String,
    /// `--jobs`.
    #[serde(default)]
    pub jobs: usize,
    /// `--timeout` in milliseconds.
    #[serde(default)]
    pub timeout_ms: u64,
    /// Deviations of the embedded server, if any.
    #[serde(default)]
    pub deviations: Vec<String>,
    /// Permitted variants of the embedded server and reference client, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
    /// Seed of any randomness in the run; none today (cases are deterministic), kept
    /// so that randomised suites can be replayed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// `--no-mail`: the cases that send a message were skipped, nothing was
    /// delivered.
    #[serde(default)]
    pub no_mail: bool,
}

/// Cases at once during a run, and the attempts the target refused (421, no greeting
/// in time, connection refused), each of which was retried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Pacing {
    /// `--jobs`.
    pub requested: usize,
    /// At the start, after probing how many connections the target takes.
    pub initial: usize,
    /// The lowest during the run.
    pub lowest: usize,
    /// At the end.
    pub last: usize,
    /// Attempts the target refused; the cases' `retries` say which.
    pub refusals: usize,
}

/// The summary: counts per verdict (the fields of `summary` since the first schema)
/// and the certification summary beside them (additive; absent in older reports).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Counts per verdict.
    #[serde(flatten)]
    pub counts: Counts,
    /// Scores, grades, caps and what was not tested (README.md, "Certification
    /// summary").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certification: Option<super::grades::Certification>,
}

/// Verdict counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    /// pass
    pub pass: usize,
    /// fail
    pub fail: usize,
    /// warn
    pub warn: usize,
    /// skip
    pub skip: usize,
    /// error
    pub error: usize,
}

impl Counts {
    /// Count one verdict.
    pub fn add(&mut self, verdict: Verdict) {
        *self.of_mut(verdict) += 1;
    }

    /// How many cases came to `verdict`.
    pub fn of(&self, verdict: Verdict) -> usize {
        match verdict {
            Verdict::Pass => self.pass,
            Verdict::Fail => self.fail,
            Verdict::Warn => self.warn,
            Verdict::Skip => self.skip,
            Verdict::Error => self.error,
        }
    }

    fn of_mut(&mut self, verdict: Verdict) -> &mut usize {
        match verdict {
            Verdict::Pass => &mut self.pass,
            Verdict::Fail => &mut self.fail,
            Verdict::Warn => &mut self.warn,
            Verdict::Skip => &mut self.skip,
            Verdict::Error => &mut self.error,
        }
    }

    /// All cases.
    pub fn total(&self) -> usize {
        self.pass + self.fail + self.warn + self.skip + self.error
    }
}

/// Counts for one level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LevelCounts {
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// The counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// Where a requirement comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SpecInfo {
    /// RFC number.
    pub rfc: u32,
    /// Section.
    pub section: String,
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// The RFC's sentence, when the case quotes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaseReport {
    /// `suite/id`.
    pub id: String,
    /// Suite.
    pub suite: String,
    /// Title.
    pub title: String,
    /// Requirement.
    pub spec: SpecInfo,
    /// pass, fail, warn, skip or error.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
    /// Wall time.
    pub duration_ms: u64,
    /// Tags (CVEs and the like).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Both directions.
    pub transcript: Vec<EventReport>,
    /// Attempts the target refused before this verdict, each with what happened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<String>,
    /// `server` when smtpspec played the server (client cases): `send` events are then
    /// the server's words. Absent: smtpspec was the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_role: Option<String>,
    /// What the case wanted and what the subject did, when the finding is a
    /// comparison (a reply code, a command, a delivery outcome); `reason` says the same
    /// in a sentence. Absent on passes and on findings told only in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatch: Option<Mismatch>,
    /// Relay cases: what the relay did with the smuggled end-of-data sequence
    /// (`refused`, `split`, `passed` as sent, `normalised`); `passed` is one half of a
    /// smuggling chain, the receivers' `eod:` cases the other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relayed: Option<String>,
}

/// Why a JSON report could not be read back.
#[derive(Debug)]
pub enum ReadError {
    /// Not JSON, or not this shape (with the line and column).
    Json(serde_json::Error),
    /// Another version of the schema.
    Version(u32),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Json(e) => write!(f, "{e}"),
            Self::Version(v) => write!(
                f,
                "schema_version {v} (this smtpspec reads {SCHEMA_VERSION})"
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// How a run was made, for the report.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The requirements index, when it could be read.
    pub requirements: Vec<crate::requirements::Requirement>,
    /// Settings.
    pub settings: Settings,
    /// Digest of the scenario files.
    pub suite_digest: String,
    /// Name of the target for matrices.
    pub target_name: String,
}

/// How the requirements of `index` stand after `cases`, for the roles the run tested:
/// those with a linked case that ran (not skipped). A server run counts server
/// requirements as before; a client run, client requirements.
fn requirement_counts(
    index: &[crate::requirements::Requirement],
    cases: &[CaseReport],
) -> Vec<RequirementCounts> {
    use crate::requirements::Role;
    if index.is_empty() {
        return Vec::new();
    }
    let ran = |id: &String| {
        cases
            .iter()
            .any(|c| &c.id == id && c.verdict != Verdict::Skip)
    };
    let mut roles: Vec<Role> = index
        .iter()
        .filter(|r| r.role != Role::None && r.cases.iter().any(ran))
        .map(|r| r.role)
        .collect();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        roles.push(Role::Server);
    }
    Level::ALL
        .into_iter()
        .map(|level| {
            let mut counts = RequirementCounts {
                level,
                verified: 0,
                violated: 0,
                untested: 0,
            };
            for r in index
                .iter()
                .filter(|r| roles.contains(&r.role) && r.testable() && r.level == level)
            {
                let verdicts: Vec<Verdict> = r
                    .cases
                    .iter()
                    .filter_map(|id| cases.iter().find(|c| &c.id == id))
                    .map(|c| c.verdict)
                    .collect();
                if verdicts.iter().any(|v| v.is_finding()) {
                    counts.violated += 1;
                } else if !verdicts.is_empty() && verdicts.iter().all(|v| *v == Verdict::Pass) {
                    counts.verified += 1;
                } else {
                    counts.untested += 1;
                }
            }
            counts
        })
        .collect()
}

/// The JSON Schema of the report, for the tools that read it (committed as
/// `reports/schema.json`; a test keeps it current).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Report);
    let mut text =
        serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

impl Report {
    /// The report of `run`.
    pub fn from_run(run: &Run, context: &Context) -> Self {
        let cases: Vec<CaseReport> = run
            .cases
            .iter()
            .map(|c| {
                let verdict = c.verdict;
                CaseReport {
                    id: c.id.clone(),
                    suite: c.suite.clone(),
                    title: c.title.clone(),
                    spec: SpecInfo {
                        rfc: c.spec.rfc,
                        section: c.spec.section.clone(),
                        level: c.spec.level,
                        quote: c.spec.quote.clone(),
                    },
                    verdict,
                    reason: c.reason.clone(),
                    duration_ms: u64::try_from(c.duration.as_millis()).unwrap_or(u64::MAX),
                    tags: c.tags.clone(),
                    transcript: c.transcript.iter().map(EventReport::from).collect(),
                    retries: c.retries.clone(),
                    harness_role: c.harness_serves.then(|| "server".to_owned()),
                    mismatch: c.mismatch.clone(),
                    relayed: c.relayed.map(|r| r.as_str().to_owned()),
                }
            })
            .collect();
        let t = &run.target;
        let mut report = Self {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "smtpspec".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                suite_digest: context.suite_digest.clone(),
            },
            target: TargetInfo {
                address: t.address.clone(),
                banner: escape(t.banner.as_bytes()),
                ehlo: t
                    .ehlo
                    .iter()
                    .map(|l| escape(l.to_string().as_bytes()))
                    .collect(),
                ehlo_after_tls: t.tls_ehlo.as_ref().map(|lines| {
                    lines
                        .iter()
                        .map(|l| escape(l.to_string().as_bytes()))
                        .collect()
                }),
                tls_problem: t.tls_problem.clone(),
                variables: t.variables.clone(),
                name: context.target_name.clone(),
            },
            started: rfc3339(run.started),
            finished: rfc3339(run.finished),
            settings: context.settings.clone(),
            pacing: (run.pacing.requested > 0).then_some(Pacing {
                requested: run.pacing.requested,
                initial: run.pacing.initial,
                lowest: run.pacing.lowest,
                last: run.pacing.last,
                refusals: run.pacing.refusals,
            }),
            summary: Summary::default(),
            by_level: Vec::new(),
            requirements: Vec::new(),
            cases,
        };
        if report.target.name.is_empty() {
            report.target.name = if report.of_a_client() {
                "client under test".to_owned()
            } else if report.target.address.is_empty() {
                "embedded reference server".to_owned()
            } else {
                report.target.address.clone()
            };
        }
        report.recount(&context.requirements);
        report
    }

    /// Every count made again from the cases: the summary, the counts per level and
    /// the requirements seen through them (after the cases changed, as in a merge).
    pub fn recount(&mut self, index: &[crate::requirements::Requirement]) {
        let mut summary = Counts::default();
        let mut by_level: Vec<LevelCounts> = Level::ALL
            .into_iter()
            .map(|level| LevelCounts {
                level,
                counts: Counts::default(),
            })
            .collect();
        for c in &self.cases {
            summary.add(c.verdict);
            if let Some(l) = by_level.iter_mut().find(|l| l.level == c.spec.level) {
                l.counts.add(c.verdict);
            }
        }
        self.summary.counts = summary;
        self.by_level = by_level;
        self.requirements = requirement_counts(index, &self.cases);
        self.summary.certification = Some(self.certification());
    }

    /// The report as JSON text, ending with a newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    }

    /// Read a JSON report; the error names what is wrong and where.
    pub fn from_json(text: &str) -> Result<Self, ReadError> {
        let report: Self = serde_json::from_str(text).map_err(ReadError::Json)?;
        if report.schema_version != SCHEMA_VERSION {
            return Err(ReadError::Version(report.schema_version));
        }
        Ok(report)
    }
}
