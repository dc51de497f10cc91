//! The command line (README.md, "Command line"): the contract other tools rely on.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Certify SMTP implementations against RFC 5321 and its extensions.
#[derive(Debug, Parser)]
#[command(
    name = "smtpspec",
    version,
    after_help = "Exit status: 0 conformant · 1 non-conformant (a fail at or above --fail-on) · \
                  2 usage, configuration or scenario-file error · 3 the target could not be tested."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

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
    List(PathsArgs),
    /// Validate scenario files; exit 2 with located errors if any is wrong.
    Check(PathsArgs),
    /// Requirement coverage: which MUST/SHOULD requirements have cases, which not.
    Coverage(CoverageArgs),
    /// Print the JSON Schema of the scenario language (committed as
    /// scenarios/schema.json, for editors), or with --report of the JSON report.
    Schema(SchemaArgs),
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
        }
    }
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 no finding · 1 findings (written under --output-dir) · 2 usage \
                  error · 3 the target could not be fuzzed (no connection, no 220 greeting)."
)]
pub(crate) struct FuzzArgs {
    /// The server: HOST:PORT or a target profile (.yaml) [default: the embedded
    /// reference server]. Only loopback unless --allow-remote. Repeat it for a
    /// differential campaign: every input to every target and to the reference
    /// server, their disagreements ranked (smuggling first) and counted in a matrix.
    #[arg(long, value_name = "HOST:PORT|PROFILE")]
    pub(crate) target: Vec<String>,
    /// Compare one --target with the reference server (two or more --target always
    /// do): the disagreements are the findings.
    #[arg(long)]
    pub(crate) differential: bool,
    /// Stop after this long.
    #[arg(long, default_value = "60s")]
    pub(crate) duration: String,
    /// Stop after this many sessions (whichever comes first with --duration).
    #[arg(long, value_name = "N")]
    pub(crate) runs: Option<u64>,
    /// The generator's seed: the same seed sends the same inputs in the same order
    /// [default: from the clock, printed].
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Sessions at once.
    #[arg(long, default_value_t = 16)]
    pub(crate) jobs: usize,
    /// How long the replies to one step may take.
    #[arg(long, default_value = "200ms")]
    pub(crate) timeout: String,
    /// Seed suites added to the catalogue's server cases; the inputs kept are written
    /// back here as suites, for the next campaign.
    #[arg(long, value_name = "DIR")]
    pub(crate) corpus: Option<PathBuf>,
    /// Where findings/, corpus/ and stats.json go.
    #[arg(long, value_name = "DIR", default_value = "fuzz-out")]
    pub(crate) output_dir: PathBuf,
    /// Run the reproducers under DIR (findings/ of an earlier campaign) again and say
    /// which still reproduce; no fuzzing.
    #[arg(long, value_name = "DIR")]
    pub(crate) replay: Option<PathBuf>,
    /// A deviation of the embedded reference server (see serve --list-deviations).
    #[arg(long = "deviate", value_name = "NAME")]
    pub(crate) deviate: Vec<String>,
    /// Allow a target outside loopback; it is then fuzzed at --rate at most.
    #[arg(long)]
    pub(crate) allow_remote: bool,
    /// Most sessions per second [default: no cap on loopback, 10 elsewhere].
    #[arg(long)]
    pub(crate) rate: Option<u32>,
    /// End the campaign at the first finding (a CI gate, a bisection).
    #[arg(long)]
    pub(crate) stop_on_finding: bool,
    /// Run shard I of N (1-based): every Nth seed input, and a generator of its own,
    /// so N jobs of a CI matrix fuzz apart; merge their outputs with --merge. The same
    /// --seed and --shard send the same inputs.
    #[arg(long, value_name = "I/N")]
    pub(crate) shard: Option<String>,
    /// Merge the output directories of earlier campaigns (shards) into --output-dir:
    /// findings and corpus united, stats summed; no fuzzing.
    #[arg(long, value_name = "DIR", num_args = 1.., conflicts_with_all = ["replay", "target", "shard"])]
    pub(crate) merge: Vec<PathBuf>,
    /// Watch the server's process group: a pid or a pid file (Postfix:
    /// /var/spool/postfix/pid/master.pid). Its end is `target-death` with how it
    /// ended; its growth is `resource-growth` [default: the launched process of a
    /// profile, or the profile's watch.pid_file].
    #[arg(long, value_name = "PID|FILE")]
    pub(crate) watch_pid: Option<String>,
    /// Follow a log of the server for crash marks (panicked at, SIGSEGV,
    /// AddressSanitizer, Traceback, killed by signal, …): `log` findings. Repeatable;
    /// added to the profile's launch log and watch.logs.
    #[arg(long, value_name = "FILE")]
    pub(crate) watch_log: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DnsArgs {
    /// The zones (YAML; see scenarios/dns/README.md for the format).
    #[arg(long, value_name = "FILE")]
    pub(crate) zone: PathBuf,
    /// Address for both UDP and TCP; port 0 picks a free one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5300")]
    pub(crate) listen: String,
    /// Print every question on stderr.
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 delivered to every recipient · 1 a recipient bounced \
                        (5xx, NXDOMAIN, null MX) · 2 usage error · 3 a recipient is still deferred."
)]
pub(crate) struct SendArgs {
    /// The envelope sender (MAIL FROM); empty for the null reverse-path <>.
    #[arg(
        long,
        value_name = "ADDRESS",
        required_unless_present_any = ["list_deviations", "list_variants"]
    )]
    pub(crate) from: Option<String>,
    /// A recipient (RCPT TO); repeatable, recipients of several domains are routed
    /// separately.
    #[arg(
        long,
        value_name = "ADDRESS",
        required_unless_present_any = ["list_deviations", "list_variants"]
    )]
    pub(crate) to: Vec<String>,
    /// The DNS server to ask (the fake DNS), e.g. 127.0.0.1:5300 [default: the
    /// system resolver].
    #[arg(long, value_name = "ADDR")]
    pub(crate) dns: Option<String>,
    /// Skip DNS and deliver to this server (HOST:PORT).
    #[arg(long, value_name = "ADDR", conflicts_with = "dns")]
    pub(crate) server: Option<String>,
    /// The port of MX hosts.
    #[arg(long, default_value_t = 25)]
    pub(crate) port: u16,
    /// The message (header and body; LF line ends are fine), or - for stdin
    /// [default: a short generated message].
    #[arg(long, value_name = "FILE")]
    pub(crate) message: Option<PathBuf>,
    /// The EHLO name, also the name the self-MX rule looks for.
    #[arg(long, value_name = "NAME", default_value = "client.smtpspec.test")]
    pub(crate) helo: String,
    /// When to use STARTTLS.
    #[arg(long, value_enum, default_value = "opportunistic")]
    pub(crate) tls: TlsArg,
    /// Log in with AUTH PLAIN or LOGIN (only over TLS unless --auth-without-tls).
    #[arg(long, value_name = "USER", requires = "password")]
    pub(crate) user: Option<String>,
    /// The password for --user.
    #[arg(long, value_name = "PASSWORD")]
    pub(crate) password: Option<String>,
    /// Allow AUTH on a connection without TLS.
    #[arg(long)]
    pub(crate) auth_without_tls: bool,
    /// Send the content with BDAT when the server offers CHUNKING.
    #[arg(long)]
    pub(crate) chunking: bool,
    /// Never pipeline, even when offered.
    #[arg(long)]
    pub(crate) no_pipelining: bool,
    /// Multiply the RFC 5321 §4.5.3.2 timeouts (5 min greeting, 10 min after the
    /// final dot, ...) by this factor; 0.01 makes them seconds.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub(crate) timeout_scale: f64,
    /// How long a TCP connection may take.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) connect_timeout: String,
    /// How long one DNS question may take.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub(crate) dns_timeout: String,
    /// Rounds over all hosts before giving up on deferred recipients.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) rounds: u32,
    /// The wait between rounds.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub(crate) retry_delay: String,
    /// Seed of the shuffle of equal MX preferences [default: from the clock].
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<u64>,
    /// text (attempts for people) or json (the whole delivery, with transcripts).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: SendFormat,
    /// Misbehave in one named way (repeatable); see --list-deviations.
    #[arg(long = "deviate", value_name = "NAME")]
    pub(crate) deviate: Vec<String>,
    /// Print every sender deviation, one per line (name, then description), and exit.
    #[arg(long)]
    pub(crate) list_deviations: bool,
    /// Behave in one permitted way (repeatable): HELO only, no pipelining, ...; see
    /// --list-variants.
    #[arg(long = "variant", value_name = "NAME")]
    pub(crate) variant: Vec<String>,
    /// Print every client variant, one per line (name, what it does, the RFC text that
    /// allows it), and exit.
    #[arg(long)]
    pub(crate) list_variants: bool,
    /// Certificates (PEM) to verify servers against (client-verify-ca); without it any
    /// certificate is accepted.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
}

/// The client's STARTTLS policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TlsArg {
    /// Never.
    Never,
    /// When offered.
    Opportunistic,
    /// Always; a host without TLS is skipped.
    Required,
}

/// Output of `smtpspec send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SendFormat {
    /// For people.
    Text,
    /// For programs.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StoreArg {
    /// A Maildir (fsync before 250).
    Maildir,
    /// Accept and forget (benchmarks).
    Discard,
}

/// `smtpspec serve`
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:2525, or the config file's].
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// Store messages in this Maildir (created if missing).
    #[arg(long, value_name = "DIR")]
    pub(crate) maildir: Option<PathBuf>,
    /// Where messages go [default: maildir, in a temporary directory unless --maildir].
    #[arg(long, value_enum)]
    pub(crate) store: Option<StoreArg>,
    /// YAML configuration file (see the reference-server crate's settings module).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The server's name in the greeting, EHLO reply and Received lines.
    #[arg(long, value_name = "NAME")]
    pub(crate) hostname: Option<String>,
    /// Misbehave in one named way (repeatable); see --list-deviations.
    #[arg(long = "deviate", value_name = "NAME")]
    pub(crate) deviate: Vec<String>,
    /// Worker threads [default: one per core]; 1 runs everything on one thread, like
    /// an event-loop server.
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Print every deviation, one per line (name, then description), and exit.
    #[arg(long)]
    pub(crate) list_deviations: bool,
    /// Behave in one permitted way (repeatable): a connection limit, a slow greeting,
    /// another refusal code, ...; see --list-variants.
    #[arg(long = "variant", value_name = "NAME")]
    pub(crate) variant: Vec<String>,
    /// Print every variant, one per line (name, what it does, the RFC text that allows
    /// it), and exit.
    #[arg(long)]
    pub(crate) list_variants: bool,
}

/// Which failures make the exit status 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FailOn {
    /// A broken MUST.
    Must,
    /// Also an unmet SHOULD.
    Should,
    /// Also an unmet MAY.
    Info,
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
        }
    }
}

/// `smtpspec client`
#[derive(Debug, Args)]
#[command(
    after_help = "Placeholders in the command and profile: {host} {port} {from} {to} \
                        {message} {user} {password} {helo}; the same in the environment as \
                        SMTPSPEC_HOST, SMTPSPEC_PORT, ... Exit status as for run."
)]
pub(crate) struct ClientArgs {
    #[command(flatten)]
    pub(crate) run: RunArgs,
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
pub(crate) struct RunArgs {
    /// Scenario files or directories [default: the catalogue].
    pub(crate) paths: Vec<PathBuf>,
    /// HOST:PORT or PROFILE.yaml of the server under test [default: the embedded
    /// reference server].
    #[arg(long, value_name = "HOST:PORT|PROFILE")]
    pub(crate) target: Option<String>,
    /// Only cases whose id contains EXPR, whose section starts with it, or with that tag
    /// or level.
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
    /// Cases run at once (each on its own connection).
    #[arg(long, default_value_t = 32)]
    pub(crate) jobs: usize,
    /// Longest wait for one step (e.g. 5s, 800ms).
    #[arg(long, default_value = "5s")]
    pub(crate) timeout: String,
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
    /// report.html, report.txt); all formats when none is given.
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
}

/// `smtpspec coverage`
#[derive(Debug, Args)]
pub(crate) struct CoverageArgs {
    /// Scenario files or directories [default: the catalogue].
    pub(crate) paths: Vec<PathBuf>,
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
pub(crate) struct SchemaArgs {
    /// The schema of the JSON report (committed as reports/schema.json) instead of the
    /// scenario language's.
    #[arg(long)]
    pub(crate) report: bool,
}

/// `smtpspec report`
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// JSON reports (one: rendered again; several: a matrix).
    #[arg(required = true)]
    pub(crate) reports: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Html)]
    pub(crate) format: Format,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// `smtpspec list` and `smtpspec check`
#[derive(Debug, Args)]
pub(crate) struct PathsArgs {
    /// Scenario files or directories [default: the catalogue].
    pub(crate) paths: Vec<PathBuf>,
}

/// One line of `--list-variants`, the same for servers and clients, so a script can cut
/// the name off the first column either way.
pub(crate) fn print_variant(name: &str, description: &str, allowed_by: &str) {
    println!("{name:<26} {description}; allowed by {allowed_by}");
}
