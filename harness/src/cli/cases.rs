//! The arguments of the commands that run or read suites: run, client, report, list,
//! check, coverage, schema.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::examples;
use super::values::{jobs, positive_duration, shard};

/// Which failures make the exit status 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FailOn {
    /// A broken MUST.
    Must,
    /// Also an unmet SHOULD.
    Should,
    /// Also an unmet MAY (`info` is an older name of it).
    #[value(alias = "info")]
    May,
}

/// When to colour the terminal report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorArg {
    /// On a terminal, unless NO_COLOR is set (https://no-color.org).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// For people, on a terminal.
    Text,
    /// The JSON report of README.md (schema_version 1).
    Json,
    /// JUnit XML: one testsuite per RFC section.
    Junit,
    /// Markdown for a CI job summary.
    Markdown,
    /// One self-contained HTML file.
    Html,
    /// An SVG badge of the certification grades, for a README.
    Badge,
}

impl Format {
    /// File name in `--output-dir`.
    pub(crate) fn file_name(self) -> &'static str {
        match self {
            Self::Text => "report.txt",
            Self::Json => "report.json",
            Self::Junit => "junit.xml",
            Self::Markdown => "report.md",
            Self::Html => "report.html",
            Self::Badge => "badge.svg",
        }
    }
}

/// `smtpspec client`
#[derive(Debug, Args)]
#[command(after_help = examples::CLIENT)]
pub(crate) struct ClientArgs {
    #[command(flatten)]
    pub(crate) cases: CaseArgs,
    /// A client profile: one command per mode (plain, tls-required, auth), see
    /// scenarios/targets/clients/.
    #[arg(long, value_name = "PROFILE", conflicts_with = "command")]
    pub(crate) client: Option<PathBuf>,
    /// The client command (plain mode only), after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

/// `smtpspec run`
#[derive(Debug, Args)]
#[command(after_help = examples::RUN)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) cases: CaseArgs,
    /// HOST[:PORT] or PROFILE.yaml of the server under test (port 25 when none is
    /// given) [default: the embedded reference server].
    #[arg(long, value_name = "HOST:PORT|PROFILE")]
    pub(crate) target: Option<String>,
    /// Run the embedded server with a deviation (repeatable): the catalogue's own
    /// mutation test.
    #[arg(long = "deviate", value_name = "NAME")]
    pub(crate) deviate: Vec<String>,
    /// Run the embedded server (or, for `client-*` names, the reference client) in a
    /// permitted variant (repeatable): the catalogue must not fail it.
    #[arg(long = "variant", value_name = "NAME")]
    pub(crate) variant: Vec<String>,
    /// A real MTA as the sender of the delivery cases (a sender profile, see
    /// scripts/peers/postfix-mx.sh); only delivery cases run, one at a time.
    #[arg(long, value_name = "PROFILE", conflicts_with = "target")]
    pub(crate) sender: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) given: GivenArgs,
}

/// The variables of the cases and how to reach the server, given on the command line
/// over the profile's (or, without one, over what the greeting says).
#[derive(Debug, Args)]
pub(crate) struct GivenArgs {
    /// Set a variable of the cases (repeatable): client.helo, client.from,
    /// target.domain, target.rcpt, target.bad_rcpt, target.user, target.password.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub(crate) vars: Vec<String>,
    /// The envelope sender of the cases (client.from).
    #[arg(long, value_name = "ADDRESS")]
    pub(crate) from: Option<String>,
    /// A recipient the server takes (target.rcpt) [default: postmaster@DOMAIN].
    #[arg(long, value_name = "ADDRESS")]
    pub(crate) rcpt: Option<String>,
    /// A recipient the server refuses (target.bad_rcpt) [default: an unlikely local
    /// part @DOMAIN].
    #[arg(long, value_name = "ADDRESS")]
    pub(crate) bad_rcpt: Option<String>,
    /// The server's domain (target.domain) [default: the profile's, else the name in
    /// its greeting, else localhost].
    #[arg(long, value_name = "DOMAIN")]
    pub(crate) domain: Option<String>,
    /// The name smtpspec gives in EHLO and HELO (client.helo).
    #[arg(long, value_name = "NAME")]
    pub(crate) helo: Option<String>,
    /// A user for the AUTH cases (target.user); they are skipped without one.
    #[arg(long, value_name = "USER", requires = "password")]
    pub(crate) user: Option<String>,
    /// The password of --user (target.password; never shown in reports).
    #[arg(long, value_name = "PASSWORD", requires = "user")]
    pub(crate) password: Option<String>,
    /// How to speak TLS to the server: STARTTLS when offered (the default), TLS from
    /// the first octet (port 465 when --target gives no port), or never (the cases
    /// that start TLS are skipped).
    #[arg(long, value_enum, value_name = "MODE")]
    pub(crate) tls: Option<TlsMode>,
    /// The server name sent in TLS (SNI) [default: the profile's, else smtpspec.target].
    #[arg(long, value_name = "NAME")]
    pub(crate) tls_name: Option<String>,
    /// Certify without delivering: the cases that send a message (DATA or BDAT) are
    /// skipped, and the report says so; nothing reaches a real mailbox.
    #[arg(long)]
    pub(crate) no_mail: bool,
}

/// `--tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TlsMode {
    /// STARTTLS where the cases use it.
    Starttls,
    /// TLS from the first octet (RFC 8314).
    Implicit,
    /// No TLS at all.
    None,
}

/// What `run` and `client` share: which cases, how they run, how they are reported
/// and judged.
#[derive(Debug, Args)]
pub(crate) struct CaseArgs {
    /// Scenario files or directories [default: the catalogue].
    pub(crate) paths: Vec<PathBuf>,
    /// More suites (a file or directory, repeatable): added to the catalogue, and a
    /// suite with the name of a shipped one (`suite:`) replaces it.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub(crate) scenarios: Vec<PathBuf>,
    /// Only cases whose id contains EXPR, whose section is EXPR or below it, with that
    /// tag, or of that level (see below).
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
    /// Run shard I of N (from 1): a stable part of the selected cases, balanced by how
    /// long they wait, for the jobs of a CI matrix; `report --merge` makes one report
    /// of the shards' JSON reports.
    #[arg(long, value_name = "I/N", value_parser = shard)]
    pub(crate) shard: Option<(usize, usize)>,
    /// Cases run at once, each on its own connection (1 to 4096).
    #[arg(long, default_value_t = 32, value_parser = jobs)]
    pub(crate) jobs: usize,
    /// Longest wait for one step (e.g. 5s, 800ms).
    #[arg(long, default_value = "5s", value_parser = positive_duration)]
    pub(crate) timeout: Duration,
    /// Lowest level whose failure makes the exit status 1.
    #[arg(long, value_enum, default_value_t = FailOn::Must)]
    pub(crate) fail_on: FailOn,
    /// Report format (repeatable) [default: text].
    #[arg(long = "format", value_enum)]
    pub(crate) formats: Vec<Format>,
    /// Write the report here instead of standard output (one format).
    #[arg(long, value_name = "FILE", conflicts_with = "output_dir")]
    pub(crate) output: Option<PathBuf>,
    /// Write every --format into this directory (report.json, junit.xml, report.md,
    /// report.html, report.txt, badge.svg); all formats when none is given.
    #[arg(long, value_name = "DIR")]
    pub(crate) output_dir: Option<PathBuf>,
    /// A JSON report of an earlier run: exit 1 only for regressions (pass → fail or
    /// error), and list what passes now.
    #[arg(long, value_name = "REPORT.json")]
    pub(crate) baseline: Option<PathBuf>,
    /// Known failures (YAML: `known_failures: [{id, reason}]`): they do not make the
    /// exit status 1; a known failure that now passes is reported.
    #[arg(long, value_name = "FILE")]
    pub(crate) expect_fail: Option<PathBuf>,
    /// Show transcripts of failures.
    #[arg(short, long)]
    pub(crate) verbose: bool,
    /// Colour in the text report: auto = on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub(crate) color: ColorArg,
}

impl CaseArgs {
    /// Whether a report was asked for by name (a format, a file, a directory), rather
    /// than the text on the terminal by default.
    pub(crate) fn reports_requested(&self) -> bool {
        !self.formats.is_empty() || self.output.is_some() || self.output_dir.is_some()
    }
}

/// `smtpspec coverage`
#[derive(Debug, Args)]
#[command(after_help = examples::COVERAGE)]
pub(crate) struct CoverageArgs {
    /// Scenario files or directories [default: the catalogue].
    pub(crate) paths: Vec<PathBuf>,
    /// More suites (a file or directory, repeatable): added to the catalogue, and a
    /// suite with the name of a shipped one (`suite:`) replaces it.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub(crate) scenarios: Vec<PathBuf>,
    /// The requirements index [default: requirements/ of the source tree].
    #[arg(long, value_name = "DIR")]
    pub(crate) requirements: Option<PathBuf>,
    /// Only requirements whose id or section starts with this (e.g. 5321-4.1, 3207).
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
    /// Also list the requirements no black-box test can observe, with the reason, and
    /// the uncovered MAYs.
    #[arg(long)]
    pub(crate) all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CoverageFormat::Text)]
    pub(crate) format: CoverageFormat,
}

/// Formats of `smtpspec coverage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CoverageFormat {
    /// Tables for people.
    Text,
    /// Tallies, uncovered ids and the whole index.
    Json,
}

/// `smtpspec schema`
#[derive(Debug, Args)]
#[command(after_help = examples::SCHEMA)]
pub(crate) struct SchemaArgs {
    /// The schema of the JSON report (committed as reports/schema.json) instead of the
    /// scenario language's.
    #[arg(long)]
    pub(crate) report: bool,
}

/// `smtpspec report`
#[derive(Debug, Args)]
#[command(after_help = examples::REPORT)]
pub(crate) struct ReportArgs {
    /// JSON reports (one: rendered again; several: a matrix, or with --merge one
    /// report).
    #[arg(required = true)]
    pub(crate) reports: Vec<PathBuf>,
    /// The reports are shards of one run (`run --shard I/N`): merge them into one
    /// report (JSON unless --format says otherwise).
    #[arg(long)]
    pub(crate) merge: bool,
    /// The smuggling-chain matrix instead: relays (sender-mode reports with the
    /// `relay.smuggling` cases) × receivers (server reports), each cell the
    /// end-of-data sequences the relay passes on as sent and the receiver ends DATA
    /// at (markdown unless --format says html or json).
    #[arg(long, conflicts_with = "merge")]
    pub(crate) chains: bool,
    /// Output format [default: html; json with --merge; markdown with --chains].
    #[arg(long, value_enum)]
    pub(crate) format: Option<Format>,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// `smtpspec check`
#[derive(Debug, Args)]
#[command(after_help = examples::CHECK)]
pub(crate) struct PathsArgs {
    /// Scenario files or directories [default: the catalogue].
    pub(crate) paths: Vec<PathBuf>,
    /// More suites (a file or directory, repeatable): added to the catalogue, and a
    /// suite with the name of a shipped one (`suite:`) replaces it.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub(crate) scenarios: Vec<PathBuf>,
}

/// `smtpspec list`
#[derive(Debug, Args)]
#[command(after_help = examples::LIST)]
pub(crate) struct ListArgs {
    /// Scenario files or directories [default: the catalogue].
    pub(crate) paths: Vec<PathBuf>,
    /// More suites (a file or directory, repeatable): added to the catalogue, and a
    /// suite with the name of a shipped one (`suite:`) replaces it.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub(crate) scenarios: Vec<PathBuf>,
    /// Only cases whose id contains EXPR, whose section is EXPR or below it, with that
    /// tag, or of that level (as `run --filter`).
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
}
