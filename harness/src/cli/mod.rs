//! The command line (README.md, "Command line"): the contract other tools rely on.

mod cases;
mod examples;
mod tools;
mod values;

use clap::{Parser, Subcommand};

pub(crate) use cases::{
    CaseArgs, ClientArgs, ColorArg, CoverageArgs, CoverageFormat, Format, GivenArgs, ListArgs,
    PathsArgs, ReportArgs, RunArgs, SchemaArgs, TlsMode,
};
pub(crate) use tools::{
    CompletionsArgs, DnsArgs, FuzzArgs, SendArgs, SendFormat, ServeArgs, StoreArg, TlsArg,
};

/// Certify SMTP implementations against RFC 5321 and its extensions.
#[derive(Debug, Parser)]
#[command(
    name = "smtpspec",
    version,
    after_help = examples::TOP
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run scenario suites against a server (default: the embedded reference server).
    Run(RunArgs),
    /// Test an SMTP client: smtpspec plays the server, the client is started once per
    /// case (default suites: scenarios/client).
    Client(ClientArgs),
    /// Run the strict reference SMTP server.
    Serve(ServeArgs),
    /// Run the fake DNS server: zones from a YAML file over UDP and TCP, with faults.
    Dns(DnsArgs),
    /// Deliver one message with the reference client: MX lookup through a given
    /// resolver, preference order, fallback, retries (RFC 5321 §5.1).
    Send(SendArgs),
    /// Fuzz a live SMTP server over the network: inputs made of scenario steps,
    /// kept when the target does something new, findings written as suites.
    Fuzz(FuzzArgs),
    /// Render JSON reports again, or merge several into a matrix across
    /// implementations.
    Report(ReportArgs),
    /// List the cases of the catalogue (or of PATHS).
    List(ListArgs),
    /// Validate scenario files; exit 2 with located errors if any is wrong.
    Check(PathsArgs),
    /// Requirement coverage: which MUST/SHOULD requirements have cases, which not.
    Coverage(CoverageArgs),
    /// Print the JSON Schema of the scenario language (committed as
    /// scenarios/schema.json, for editors), or with --report of the JSON report.
    Schema(SchemaArgs),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
}

impl Command {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Run(_) => "run",
            Self::Client(_) => "client",
            Self::Serve(_) => "serve",
            Self::Dns(_) => "dns",
            Self::Send(_) => "send",
            Self::Fuzz(_) => "fuzz",
            Self::Report(_) => "report",
            Self::List(_) => "list",
            Self::Check(_) => "check",
            Self::Coverage(_) => "coverage",
            Self::Schema(_) => "schema",
            Self::Completions(_) => "completions",
        }
    }
}
