//! The arguments of the commands that run something other than a suite: the fuzzer,
//! the fake DNS, the reference client and the reference server.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::examples;
use super::values::{
    at_least_one, campaign, duration, jobs, positive_duration, positive_factor, shard,
};

#[derive(Debug, Args)]
#[command(
    after_help = examples::FUZZ
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
    #[arg(long, default_value = "60s", value_parser = campaign)]
    pub(crate) duration: Duration,
    /// Stop after this many sessions (whichever comes first with --duration).
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub(crate) runs: Option<u64>,
    /// The generator's seed: the same seed sends the same inputs in the same order
    /// [default: from the clock, printed].
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Sessions at once (1 to 4096).
    #[arg(long, default_value_t = 16, value_parser = jobs)]
    pub(crate) jobs: usize,
    /// How long the replies to one step may take.
    #[arg(long, default_value = "200ms", value_parser = positive_duration)]
    pub(crate) timeout: Duration,
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
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) rate: Option<u32>,
    /// End the campaign at the first finding (a CI gate, a bisection).
    #[arg(long)]
    pub(crate) stop_on_finding: bool,
    /// Run shard I of N (1-based): every Nth seed input, and a generator of its own,
    /// so N jobs of a CI matrix fuzz apart; merge their outputs with --merge. The same
    /// --seed and --shard send the same inputs.
    #[arg(long, value_name = "I/N", value_parser = shard)]
    pub(crate) shard: Option<(usize, usize)>,
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
    /// Fuzz an SMTP client instead: smtpspec plays the server, breaks its replies, and
    /// starts the client once per session, from a client profile (as `smtpspec client`
    /// takes) or `reference` (smtpspec's own client). Findings are client suites.
    #[arg(
        long,
        value_name = "PROFILE|reference",
        conflicts_with_all = ["target", "differential", "replay", "merge", "deviate", "shard", "command"]
    )]
    pub(crate) client: Option<String>,
    /// A mode of the client's profile to run it in (repeatable): plain, tls-required,
    /// auth, auth-tls [default: every mode the profile gives].
    #[arg(long = "client-mode", value_name = "MODE")]
    pub(crate) client_mode: Vec<String>,
    /// Fuzz this client command (plain mode), after `--`, as with --client.
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

#[derive(Debug, Args)]
#[command(after_help = examples::DNS)]
pub(crate) struct DnsArgs {
    /// The zones (YAML; the format is shown below).
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
    after_help = examples::SEND
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
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..))]
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
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = positive_factor)]
    pub(crate) timeout_scale: f64,
    /// How long a TCP connection may take.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub(crate) connect_timeout: Duration,
    /// How long one DNS question may take.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = positive_duration)]
    pub(crate) dns_timeout: Duration,
    /// Rounds over all hosts before giving up on deferred recipients (1 to 100).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) rounds: u32,
    /// The wait between rounds.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    pub(crate) retry_delay: Duration,
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
    /// certificate is accepted. They are also the roots of MTA-STS (RFC 8461): with
    /// them the client fetches recipient domains' policies and enforces them.
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
#[command(after_help = examples::SERVE)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:2525, or the config file's].
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// Store messages in this Maildir (created if missing).
    #[arg(long, value_name = "DIR")]
    pub(crate) maildir: Option<PathBuf>,
    /// How a round of stored messages is made durable: fdatasync each file, or one
    /// syncfs for a Maildir on a file system of its own [default: files].
    #[arg(long, value_name = "HOW", value_parser = ["files", "file-system"])]
    pub(crate) maildir_sync: Option<String>,
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
    /// Worker threads [default: one per core, and 1 on two cores or fewer]; 1 runs
    /// everything on one thread, like an event-loop server.
    #[arg(long, value_name = "N", value_parser = jobs)]
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

/// `smtpspec completions`
#[derive(Debug, Args)]
#[command(after_help = examples::COMPLETIONS)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    pub(crate) shell: clap_complete::Shell,
}
