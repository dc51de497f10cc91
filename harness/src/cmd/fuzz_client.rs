//! `smtpspec fuzz --client`: arguments → the client and its modes → the campaign →
//! findings (client suites and transcripts), stats.json, report.json and report.html,
//! a summary, the exit status.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use smtpspec::fuzz::client::repro::{self, ClientFinding};
use smtpspec::fuzz::client::serve::Limits;
use smtpspec::fuzz::client::{self, Options, Outcome};
use smtpspec::profile::client::ClientProfile;
use smtpspec::roles::client::ClientUnderTest;
use smtpspec::scenario::client::ClientMode;
use smtpspec::test_ca::TestCa;

use super::fuzz::{exit_of, status_line};
use super::out::outln;
use super::{CliError, CmdResult};
use crate::cli::FuzzArgs;

/// Clients are processes (Python, Node): a few at a time, whatever --jobs says.
const MAX_JOBS: usize = 4;

/// How long smtpspec waits for the client's next line.
const IDLE: Duration = Duration::from_secs(2);

/// The client as the arguments name it: its name, who runs, its modes, its run limit.
struct Chosen {
    name: String,
    under_test: ClientUnderTest,
    modes: Vec<ClientMode>,
    limit: Duration,
    /// Holds the message file a profile's client sends.
    _dir: Option<tempfile::TempDir>,
}

fn choose(args: &FuzzArgs) -> Result<Chosen, CliError> {
    let profile = match args.client.as_deref() {
        Some("reference") => None,
        Some(path) => Some(ClientProfile::load(Path::new(path))?),
        None => Some(ClientProfile::from_command(args.command.clone())),
    };
    let offered: Vec<ClientMode> = match &profile {
        Some(p) => p.commands.keys().copied().collect(),
        None => ClientMode::ALL.to_vec(),
    };
    let mut modes = Vec::new();
    for m in &args.client_mode {
        let mode = ClientMode::from_name(m).ok_or_else(|| {
            let names: Vec<&str> = ClientMode::ALL.iter().map(|m| m.as_str()).collect();
            CliError::usage(format!("--client-mode {m:?}: one of {}", names.join(", ")))
        })?;
        if !offered.contains(&mode) {
            return Err(CliError::usage(format!(
                "--client-mode {m}: the client's profile gives no command for it"
            )));
        }
        modes.push(mode);
    }
    if modes.is_empty() {
        modes = offered;
    }
    let Some(profile) = profile else {
        return Ok(Chosen {
            name: "reference client".into(),
            under_test: ClientUnderTest::Reference(Vec::new()),
            modes,
            limit: Duration::from_secs(10),
            _dir: None,
        });
    };
    let (dir, message) = super::client::message_file()?;
    Ok(Chosen {
        name: profile.name.clone(),
        limit: profile.timeout,
        under_test: ClientUnderTest::Command(Arc::new(profile), message),
        modes,
        _dir: Some(dir),
    })
}

pub(crate) fn main(args: &FuzzArgs) -> CmdResult {
    let chosen = choose(args)?;
    let seed = super::fuzz::seed_or_clock(args.seed);
    let ca = Arc::new(TestCa::generate()?);
    let jobs = args.jobs.min(MAX_JOBS);
    let options = Options {
        client: chosen.under_test.clone(),
        modes: chosen.modes.clone(),
        duration: args.duration,
        runs: args.runs,
        seed,
        jobs,
        limits: Limits {
            client: chosen.limit,
            idle: IDLE,
        },
        stop_on_finding: args.stop_on_finding,
    };
    eprintln!(
        "smtpspec fuzz --client: {} (modes {}), seed {seed}, {jobs} client(s) at once",
        chosen.name,
        chosen
            .modes
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let runtime = super::runtime()?;
    let bar = status_line();
    let began = super::unix_now();
    let outcome = runtime
        .block_on(client::run(options, ca, |s| {
            bar.set_message(format!(
                "{} sessions, {:.1}/s, corpus {}, {} bits, {} finding(s)",
                s.sessions,
                s.sessions_per_s,
                s.corpus,
                s.signature_bits,
                s.findings.values().sum::<usize>()
            ));
        }))
        .map_err(|e| CliError::untestable(format!("the client could not be fuzzed: {e}")))?;
    bar.finish_and_clear();
    finish(args, &outcome, &chosen.name, seed)?;
    report(args, &outcome, &chosen.name, seed, began)?;
    Ok(exit_of(&outcome.findings))
}

/// Write findings and stats; print the summary.
fn finish(args: &FuzzArgs, outcome: &Outcome, name: &str, seed: u64) -> Result<(), CliError> {
    let out = &args.output_dir;
    let io = |path: &Path, e: std::io::Error| CliError::usage(format!("{}: {e}", path.display()));
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let mut written = Vec::new();
    for f in &outcome.findings {
        let path = repro::write(&out.join("findings"), f, name, seed)
            .map_err(|e| CliError::usage(e.to_string()))?;
        written.push((f, path));
    }
    let stats = out.join("stats.json");
    let json = serde_json::to_string_pretty(&outcome.stats).unwrap_or_default();
    std::fs::write(&stats, json + "\n").map_err(|e| io(&stats, e))?;
    let s = &outcome.stats;
    let exits: Vec<String> = s.exits.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    outln!(
        "{} sessions in {:.1} s ({:.1}/s), {} distinct behaviours, corpus {}; exits {}; {} \
         sessions minimising and confirming",
        s.sessions,
        s.elapsed_s,
        s.sessions_per_s,
        s.signature_bits,
        s.corpus,
        exits.join(", "),
        s.minimise_sessions
    );
    if s.unconfirmed > 0 {
        outln!(
            "{} finding(s) did not show again when replayed: counted, not written",
            s.unconfirmed
        );
    }
    if s.errors > 0 {
        outln!("{} session(s) could not start the client", s.errors);
    }
    for (class, n) in &s.findings {
        let shown = written
            .iter()
            .filter(|(f, _)| f.seen.class.name() == class)
            .count();
        if *n > shown {
            outln!("{class}: {n} distinct, {shown} written");
        }
    }
    for (f, path) in &written {
        outln!(
            "{}: {} (confirmed {}/{}) {}",
            f.seen.class.name(),
            f.seen.what,
            f.confirmed.0,
            f.confirmed.1,
            path.display()
        );
    }
    if written.is_empty() {
        outln!("no finding");
    }
    outln!("stats: {}", stats.display());
    Ok(())
}

/// The findings in the report model (`report.json`, `report.html`).
fn report(
    args: &FuzzArgs,
    outcome: &Outcome,
    name: &str,
    seed: u64,
    began: u64,
) -> Result<(), CliError> {
    let entries = outcome
        .findings
        .iter()
        .map(|f: &ClientFinding| super::fuzz_report::Entry {
            stem: f.stem(),
            suite: "fuzz.client",
            what: f.seen.what.clone(),
            spec: f.seen.class.spec(),
            level: smtpspec::outcome::Level::Must,
            tags: vec!["fuzz".into(), "client".into(), f.seen.class.name().into()],
            transcript: f.trace.transcript.clone(),
        })
        .collect();
    let tested = smtpspec::report::Tested {
        address: "client".into(),
        banner: name.to_owned(),
        ehlo: Vec::new(),
        tls_ehlo: None,
        tls_problem: None,
        variables: Default::default(),
    };
    super::fuzz_report::write(&args.output_dir, tested, name, seed, began, entries)?;
    outln!(
        "report: {} and {}",
        args.output_dir.join("report.json").display(),
        args.output_dir.join("report.html").display()
    );
    Ok(())
}
