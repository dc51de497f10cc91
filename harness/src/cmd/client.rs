//! `smtpspec client`: the client cases against an SMTP client under test.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use smtpspec::profile::client::ClientProfile;
use smtpspec::report::Run;
use smtpspec::roles::client::{ClientUnderTest, MESSAGE};
use smtpspec::roles::sender::Sender;
use smtpspec::runner::{self, Options, Subjects, Target};
use smtpspec::scenario::load;
use smtpspec::scenario::parse_duration;

use crate::EXIT_USAGE;
use crate::cli::ClientArgs;
use crate::cmd::run::{catalogue_paths, finish, load_cases, matches};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn main(args: ClientArgs) -> ExitCode {
    let usage = |e: String| {
        eprintln!("smtpspec client: {e}");
        ExitCode::from(EXIT_USAGE)
    };
    if args.run.target.is_some() || !args.run.deviate.is_empty() {
        return usage("--target and --deviate belong to smtpspec run".into());
    }
    let profile = match (&args.client, args.command.is_empty()) {
        (Some(p), _) => match ClientProfile::load(p) {
            Ok(p) => p,
            Err(e) => return usage(e),
        },
        (None, false) => ClientProfile::from_command(args.command.clone()),
        (None, true) => {
            return usage("give the client: --client PROFILE.yaml, or -- COMMAND ...".into());
        }
    };
    let Some(step_timeout) = parse_duration(&args.run.timeout) else {
        return usage(format!(
            "--timeout {:?} is not a duration like 5s",
            args.run.timeout
        ));
    };
    let mut paths = args.run.paths.clone();
    if paths.is_empty() {
        paths.push(catalogue_paths(Vec::new())[0].join("client"));
    }
    let mut cases = match load_cases(paths.clone()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let all = cases.len();
    cases.retain(|c| c.client.is_some());
    if cases.len() < all {
        eprintln!(
            "smtpspec client: {} case(s) that test servers or senders left out",
            all - cases.len()
        );
    }
    if let Some(expr) = &args.run.filter {
        cases.retain(|c| matches(c, expr));
    }
    let dir = match tempfile::Builder::new()
        .prefix("smtpspec-client-")
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => return usage(format!("temporary directory: {e}")),
    };
    let message = dir.path().join("message.eml");
    if let Err(e) = std::fs::write(&message, MESSAGE) {
        return usage(format!("{}: {e}", message.display()));
    }
    let commands: Vec<String> = profile
        .commands
        .iter()
        .map(|(mode, c)| format!("{}: {}", mode.as_str(), c.join(" ")))
        .collect();
    let name = profile.name.clone();
    let target = Target {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        banner: format!("client under test: {}", commands.join(" | ")),
        greeting_code: 220,
        ehlo: Vec::new(),
        vars: Default::default(),
        tls_ehlo: None,
        tls_problem: None,
        size_limit: None,
        mailbox: None,
        tls: Default::default(),
        catch_all: None,
    };
    let subjects = Subjects {
        server: target,
        test_ca: match smtpspec::test_ca::TestCa::generate() {
            Ok(ca) => Some(Arc::new(ca)),
            Err(e) => {
                eprintln!("smtpspec client: {e}");
                return ExitCode::from(3);
            }
        },
        sender: Sender::Absent("a delivery case tests a sender; run it with smtpspec run".into()),
        client: ClientUnderTest::Command(Arc::new(profile), message),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smtpspec client: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    // Clients are processes (Python, Node): a few at a time.
    let options = Options::new(args.run.jobs.min(4), step_timeout);
    let started = unix_now();
    let (results, pacing) = runtime.block_on(runner::run_paced(&cases, &subjects, options, None));
    let run = Run {
        target: subjects.server,
        started,
        finished: unix_now(),
        cases: results,
        pacing,
    };
    let files = load::collect_files(&paths).unwrap_or_default();
    finish(&run, &args.run, &files, step_timeout, name)
}
