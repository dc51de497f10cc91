//! `smtpspec run`, `list` and `check`.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reference_server::Variant;
use smtp_protocol::server::Deviation;
use smtpspec::profile::Profile;
use smtpspec::profile::embedded;
use smtpspec::profile::launch;
use smtpspec::report::Run;
use smtpspec::report::model::{Context, Report, Settings};
use smtpspec::requirements;
use smtpspec::roles::client::ClientUnderTest;
use smtpspec::roles::sender::Sender;
use smtpspec::runner::{self, Options, Subjects, Verdict};
use smtpspec::scenario::load::{self, Case};
use smtpspec::scenario::{Level, parse_duration};
use smtpspec::wire::TlsSettings;

use crate::EXIT_USAGE;
use crate::cli::{ColorArg, FailOn, PathsArgs, RunArgs};
use crate::cmd::output;

/// Exit status 1: a failure at or above `--fail-on`.
const EXIT_NONCONFORMANT: u8 = 1;
/// Exit status 3: the target could not be tested.
const EXIT_UNTESTABLE: u8 = 3;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The paths given, or the shipped catalogue.
pub(crate) fn catalogue_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![embedded::catalogue()]
    } else {
        paths
    }
}

pub(crate) fn load_cases(paths: Vec<PathBuf>) -> Result<Vec<Case>, ExitCode> {
    let paths = catalogue_paths(paths);
    load::load(&paths).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!("smtpspec: {} error(s) in scenario files", errors.len());
        ExitCode::from(EXIT_USAGE)
    })
}

pub(crate) fn matches(case: &Case, expr: &str) -> bool {
    case.id.contains(expr)
        || case.spec.section.starts_with(expr)
        || case.tags.iter().any(|t| t == expr)
        || case.spec.level.as_str().eq_ignore_ascii_case(expr)
}

pub(crate) fn list(args: PathsArgs) -> ExitCode {
    match load_cases(args.paths) {
        Ok(cases) => {
            for c in &cases {
                println!(
                    "{:<56} RFC {} §{} {:<6} {}",
                    c.id,
                    c.spec.rfc,
                    c.spec.section,
                    c.spec.level.as_str(),
                    c.title
                );
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

pub(crate) fn check(args: PathsArgs) -> ExitCode {
    match load_cases(args.paths) {
        Ok(cases) => {
            // RFC 5321 §4.3.2: every expected code set as wide as the RFC allows, or
            // the sentence that narrows it.
            let problems: Vec<_> = cases.iter().flat_map(load::replies::lint).collect();
            for p in &problems {
                eprintln!("{p}");
            }
            if !problems.is_empty() {
                eprintln!(
                    "smtpspec check: {} expectation(s) narrower than RFC 5321 §4.3.2",
                    problems.len()
                );
                return ExitCode::from(EXIT_USAGE);
            }
            println!("{} cases, no errors", cases.len());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

pub(crate) fn main(args: RunArgs) -> ExitCode {
    let Some(step_timeout) = parse_duration(&args.timeout) else {
        eprintln!(
            "smtpspec run: --timeout {:?} is not a duration like 5s",
            args.timeout
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let mut deviations = Vec::new();
    let mut sender_deviations = Vec::new();
    for name in &args.deviate {
        match (
            Deviation::from_name(name),
            smtpspec::send::SenderDeviation::from_name(name),
        ) {
            (Some(d), _) => deviations.push(d),
            (None, Some(d)) => sender_deviations.push(d),
            (None, None) => {
                eprintln!(
                    "smtpspec run: deviation {name:?} does not exist (see serve --list-deviations \
                     and send --list-deviations)"
                );
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    let mut variants = Vec::new();
    let mut client_variants = Vec::new();
    for name in &args.variant {
        match (
            Variant::from_name(name),
            smtpspec::send::ClientVariant::from_name(name),
        ) {
            (Some(v), _) => variants.push(v),
            (None, Some(v)) => client_variants.push(v),
            (None, None) => {
                eprintln!(
                    "smtpspec run: variant {name:?} does not exist (see serve --list-variants \
                     and send --list-variants)"
                );
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    if args.target.is_some()
        && !(deviations.is_empty()
            && sender_deviations.is_empty()
            && variants.is_empty()
            && client_variants.is_empty())
    {
        eprintln!(
            "smtpspec run: --deviate and --variant apply to the embedded server and the \
             reference client, not to --target"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let mut cases = match load_cases(args.paths.clone()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let files = load::collect_files(&catalogue_paths(args.paths.clone())).unwrap_or_default();
    if let Some(expr) = &args.filter {
        cases.retain(|c| matches(c, expr));
    }
    let sender = match &args.sender {
        Some(p) => match smtpspec::profile::sender::SenderProfile::load(p) {
            Ok(profile) => {
                // Only delivery cases test a sender; they share the MTA, its resolver
                // address and its SMTP port, so they run one at a time.
                cases.retain(|c| c.delivery.is_some());
                Some(Arc::new(profile))
            }
            Err(e) => {
                eprintln!("smtpspec run: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        None => None,
    };
    let message_dir = match tempfile::Builder::new()
        .prefix("smtpspec-sender-")
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("smtpspec run: temporary directory: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let message = message_dir.path().join("message.eml");
    if let Err(e) = std::fs::write(
        &message,
        "From: <root@localhost>\nTo: <user@example.test>\nSubject: smtpspec delivery case\n\nHello.\n",
    ) {
        eprintln!("smtpspec run: {}: {e}", message.display());
        return ExitCode::from(EXIT_USAGE);
    }
    if args.target.is_some() {
        // A server under test: the cases that test senders (scenarios/dns) and clients
        // (scenarios/client) have nothing to run against; they are left out, not
        // skipped, so that a server's totals count server cases only.
        let all = cases.len();
        cases.retain(|c| c.delivery.is_none() && c.client.is_none());
        if cases.len() < all {
            eprintln!(
                "smtpspec run: {} sender and client case(s) left out: they do not test a server",
                all - cases.len()
            );
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smtpspec run: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_UNTESTABLE);
        }
    };
    let mut options = Options::new(if sender.is_some() { 1 } else { args.jobs }, step_timeout);
    // A profile that cannot be read is a configuration error (2), not an untestable
    // target (3).
    let profile = match &args.target {
        Some(t) if t.ends_with(".yaml") || t.ends_with(".yml") => {
            match Profile::load(std::path::Path::new(t)) {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("smtpspec run: {e}");
                    return ExitCode::from(EXIT_USAGE);
                }
            }
        }
        _ => None,
    };
    let outcome = runtime.block_on(async {
        let mut launched = None;
        let (server, addr, vars, mailbox) = match (&args.target, &profile) {
            (None, _) => {
                let e = embedded::start_with(&deviations, &variants).await?;
                let (addr, vars) = (e.server.addr(), e.vars.clone());
                let mailbox = e.store();
                (Some(e), addr, vars, Some(mailbox))
            }
            (Some(_), Some(profile)) => {
                let addr = profile.addr()?;
                if let Some(l) = &profile.launch {
                    let up = launch::start(l, addr).await?;
                    eprintln!(
                        "smtpspec run: launched {} ({} ms to accept connections; log {})",
                        l.command.join(" "),
                        up.ready_after.as_millis(),
                        up.log.display()
                    );
                    launched = Some(up);
                }
                (None, addr, profile.vars(), profile.store())
            }
            (Some(t), None) => {
                let addr: SocketAddr = t
                    .to_socket_addrs()
                    .map_err(|e| format!("--target {t}: {e}"))?
                    .next()
                    .ok_or_else(|| format!("--target {t}: no address"))?;
                let domain = "localhost";
                let vars = embedded::vars(
                    domain,
                    &format!("postmaster@{domain}"),
                    &format!("smtpspec-no-such-user-{}@{domain}", unix_now()),
                    None,
                );
                (None, addr, vars, None)
            }
        };
        let started = unix_now();
        let tls = profile
            .as_ref()
            .map_or_else(TlsSettings::default, |p| TlsSettings {
                implicit: p.tls.implicit,
                server_name: p.tls.server_name.clone(),
            });
        let mut target = runner::discover(addr, vars, mailbox, tls, step_timeout).await?;
        if sender.is_none() {
            options.initial_jobs =
                Some(runner::survey(&mut target, options.jobs, step_timeout).await);
        }
        let mut subjects = Subjects {
            server: target,
            client: ClientUnderTest::Reference(client_variants.clone()),
            test_ca: Some(Arc::new(smtpspec::test_ca::TestCa::generate()?)),
            sender: match &sender {
                Some(profile) => Sender::Mta(Arc::clone(profile), message.clone()),
                None => Sender::Reference(sender_deviations),
            },
        };
        if args.target.is_some() {
            subjects.client = ClientUnderTest::Absent(
                "a client case tests an SMTP client; run it with smtpspec client".into(),
            );
            // The cases of scenarios/dns test a sender; this run tests a server.
            subjects.sender = Sender::Absent(
                "a delivery case tests a sender; this run tests the server given by --target"
                    .into(),
            );
        }
        let (bar, on_done) = progress(cases.len());
        let (results, pacing) = runner::run_paced(&cases, &subjects, options, Some(on_done)).await;
        let target = subjects.server;
        bar.finish_and_clear();
        if let Some(e) = server {
            let _ = e.server.stop().await;
        }
        drop(launched);
        Ok::<_, String>(Run {
            target,
            started,
            finished: unix_now(),
            cases: results,
            pacing,
        })
    });
    let run = match outcome {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smtpspec run: the target could not be tested: {e}");
            return ExitCode::from(EXIT_UNTESTABLE);
        }
    };
    let name = match &sender {
        Some(p) => format!("{} (sender)", p.name),
        None => target_name(args.target.as_deref(), &args.deviate, &args.variant),
    };
    finish(&run, &args, &files, step_timeout, name)
}

/// Report a finished run as the arguments ask and pick the exit status (shared by
/// `run` and `client`).
pub(crate) fn finish(
    run: &Run,
    args: &RunArgs,
    files: &[PathBuf],
    step_timeout: Duration,
    target_name: String,
) -> ExitCode {
    let context = Context {
        // The index is optional here: without it the report just has no requirement
        // counts.
        requirements: requirements::read(&requirements::default_dir()).unwrap_or_default(),
        settings: Settings {
            filter: args.filter.clone(),
            fail_on: format!("{:?}", args.fail_on).to_lowercase(),
            jobs: args.jobs,
            timeout_ms: u64::try_from(step_timeout.as_millis()).unwrap_or(u64::MAX),
            deviations: args.deviate.clone(),
            variants: args.variant.clone(),
            seed: None,
        },
        suite_digest: output::suite_digest(files),
        target_name,
    };
    let report = Report::from_run(run, &context);
    if let Err(e) = output::write(run, &report, args, use_color(args)) {
        eprintln!("smtpspec: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let judged = match output::judge(&report, args) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("smtpspec: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // A scenario found wrong while running says nothing about the target: the run is
    // a usage error, whatever the verdicts.
    let faults: Vec<&str> = run
        .cases
        .iter()
        .filter(|c| c.scenario_error)
        .map(|c| c.reason.as_str())
        .collect();
    if !faults.is_empty() {
        for f in &faults {
            eprintln!("smtpspec: {f}");
        }
        eprintln!(
            "smtpspec: {} case(s) stopped on a fault of the scenario itself, not of the target",
            faults.len()
        );
        return ExitCode::from(EXIT_USAGE);
    }
    match (exit_status(run, args.fail_on), judged) {
        (code, _) if code == ExitCode::from(EXIT_UNTESTABLE) => code,
        (_, Some(true)) => ExitCode::from(EXIT_NONCONFORMANT),
        (_, Some(false)) => ExitCode::SUCCESS,
        (code, None) => code,
    }
}

/// What a target is called in reports and matrices: the profile's name, the
/// embedded server (with its deviations), or the address.
fn target_name(target: Option<&str>, deviations: &[String], variants: &[String]) -> String {
    match target {
        None if deviations.is_empty() && variants.is_empty() => "smtpspec reference server".into(),
        None => {
            let mut name = "reference server".to_owned();
            if !deviations.is_empty() {
                name.push_str(&format!(" --deviate {}", deviations.join(",")));
            }
            if !variants.is_empty() {
                name.push_str(&format!(" --variant {}", variants.join(",")));
            }
            name
        }
        Some(t) if t.ends_with(".yaml") || t.ends_with(".yml") => std::path::Path::new(t)
            .file_stem()
            .map_or_else(|| t.to_owned(), |s| s.to_string_lossy().into_owned()),
        Some(t) => t.to_owned(),
    }
}

/// Colour for the text report: never into a file, and `auto` follows the terminal and
/// NO_COLOR (set and not empty turns it off).
fn use_color(args: &RunArgs) -> bool {
    match args.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            args.output.is_none()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// A progress bar on standard error, drawn only on a terminal and only once the run
/// has taken a second, so quick runs and CI logs stay clean.
fn progress(total: usize) -> (ProgressBar, runner::OnDone) {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} cases  {elapsed}  {wide_msg}")
    {
        bar.set_style(style);
    }
    let shown = bar.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        if !shown.is_finished() && std::io::stderr().is_terminal() {
            shown.set_draw_target(ProgressDrawTarget::stderr());
        }
    });
    let tick = bar.clone();
    let on_done: runner::OnDone = Arc::new(move |r: &runner::CaseResult| {
        tick.set_message(r.id.clone());
        tick.inc(1);
    });
    (bar, on_done)
}

fn exit_status(run: &Run, fail_on: FailOn) -> ExitCode {
    // Skipped cases were never tried: if every case that was tried ended in error,
    // nothing about the target is known.
    let mut tried = run.cases.iter().filter(|c| c.verdict != Verdict::Skip);
    if tried.clone().next().is_some() && tried.all(|c| c.verdict == Verdict::Error) {
        return ExitCode::from(EXIT_UNTESTABLE);
    }
    let counts = run.cases.iter().any(|c| match c.verdict {
        Verdict::Fail => true,
        Verdict::Warn => match fail_on {
            FailOn::Must => false,
            FailOn::Should => c.level() == Level::Should,
            FailOn::Info => true,
        },
        _ => false,
    });
    if counts {
        ExitCode::from(EXIT_NONCONFORMANT)
    } else {
        ExitCode::SUCCESS
    }
}
