//! `smtpspec client`: the client cases against an SMTP client under test, smtpspec
//! playing the server.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use smtpspec::profile::client::ClientProfile;
use smtpspec::report::{Run, Tested};
use smtpspec::roles::client::{Client, ClientUnderTest, MESSAGE};
use smtpspec::roles::sender::Sender;
use smtpspec::runner::{self, Options, Subjects};
use smtpspec::test_ca::TestCa;

use super::catalogue::{self, Catalogue};
use super::finish::{ReferenceNames, finish};
use super::{CliError, CmdResult, unix_now};
use crate::cli::ClientArgs;

pub(crate) fn main(args: ClientArgs) -> CmdResult {
    let plan = plan(&args)?;
    let name = plan.profile.name.clone();
    let run = execute(
        &args,
        plan.profile,
        plan.message.clone(),
        &plan.catalogue,
        plan.step_timeout,
    )?;
    finish(
        &run,
        &args.cases,
        &plan.catalogue.files,
        name,
        &ReferenceNames::default(),
    )
}

/// Everything the arguments decide.
struct Plan {
    profile: ClientProfile,
    step_timeout: Duration,
    catalogue: Catalogue,
    /// Holds the message file the client sends.
    _dir: tempfile::TempDir,
    message: PathBuf,
}

fn plan(args: &ClientArgs) -> Result<Plan, CliError> {
    let profile = match (&args.client, args.command.is_empty()) {
        (Some(p), _) => ClientProfile::load(p)?,
        (None, false) => ClientProfile::from_command(args.command.clone()),
        (None, true) => {
            return Err(CliError::usage(
                "give the client: --client PROFILE.yaml, or -- COMMAND ...",
            ));
        }
    };
    let step_timeout = args.cases.timeout;
    let mut paths = args.cases.paths.clone();
    if paths.is_empty() {
        paths.push(catalogue::paths(Vec::new())[0].join("client"));
    }
    let mut catalogue = Catalogue::load(paths, &args.cases.scenarios)?;
    let all = catalogue.cases.len();
    catalogue.cases.retain(|c| c.client().is_some());
    if catalogue.cases.len() < all {
        eprintln!(
            "smtpspec client: {} case(s) that test servers or senders left out",
            all - catalogue.cases.len()
        );
    }
    catalogue.filter(args.cases.filter.as_deref());
    catalogue.require_cases(args.cases.filter.as_deref(), "client ")?;
    catalogue.shard(args.cases.shard);
    let (dir, message) = message_file()?;
    Ok(Plan {
        profile,
        step_timeout,
        catalogue,
        _dir: dir,
        message,
    })
}

/// The message a client under test is given, in a directory that lives as long as
/// the first value.
pub(super) fn message_file() -> Result<(tempfile::TempDir, PathBuf), CliError> {
    let dir = tempfile::Builder::new()
        .prefix("smtpspec-client-")
        .tempdir()
        .map_err(|e| CliError::usage(format!("temporary directory: {e}")))?;
    let message = dir.path().join("message.eml");
    std::fs::write(&message, MESSAGE)
        .map_err(|e| CliError::usage(format!("{}: {e}", message.display())))?;
    Ok((dir, message))
}

fn execute(
    args: &ClientArgs,
    profile: ClientProfile,
    message: PathBuf,
    catalogue: &Catalogue,
    step_timeout: Duration,
) -> Result<Run, CliError> {
    let commands: Vec<String> = profile
        .commands
        .iter()
        .map(|(mode, c)| format!("{}: {}", mode.as_str(), c.join(" ")))
        .collect();
    let test_ca = TestCa::generate()?;
    let subjects = Subjects {
        server: None,
        sender: Sender::Absent("a delivery case tests a sender; run it with smtpspec run".into()),
        client: Client {
            under_test: ClientUnderTest::Command(Arc::new(profile), message),
            ca: Some(Arc::new(test_ca)),
        },
    };
    let runtime = super::runtime()?;
    // Clients are processes (Python, Node): a few at a time.
    let options = Options::new(args.cases.jobs.min(4), step_timeout);
    let started = unix_now();
    let (results, pacing) = runtime.block_on(runner::run_paced(
        &catalogue.cases,
        &subjects,
        options,
        None,
    ));
    Ok(Run {
        // The report's header describes the client in the place of a server.
        target: Tested::client(&commands.join(" | ")),
        started,
        finished: unix_now(),
        cases: results,
        pacing,
    })
}
