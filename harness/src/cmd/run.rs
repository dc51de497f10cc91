//! `smtpspec run`: the catalogue against a server (the embedded reference server by
//! default, `--target HOST:PORT` or a profile), or against a sender (`--sender`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reference_server::Variant;
use smtp_protocol::server::Deviation;
use smtpspec::outcome::HarnessError;
use smtpspec::profile::sender::SenderProfile;
use smtpspec::profile::vars;
use smtpspec::report::{Run, Tested};
use smtpspec::roles::CaseResult;
use smtpspec::roles::client::{Client, ClientUnderTest};
use smtpspec::roles::sender::Sender;
use smtpspec::runner::{self, Options, PacerStats, Subjects};
use smtpspec::scenario::load::CaseKind;
use smtpspec::send::{ClientVariant, SenderDeviation};
use smtpspec::test_ca::TestCa;

use super::catalogue::Catalogue;
use super::finish::{ReferenceNames, finish};
use super::given::Given;
use super::target::{TargetArg, start, target_arg};
use super::{CliError, CmdResult, Exit, unix_now};
use crate::cli::RunArgs;

/// The message a sender under test is asked to deliver in delivery cases.
const SENDER_MESSAGE: &str =
    "From: <root@localhost>\nTo: <user@example.test>\nSubject: smtpspec delivery case\n\nHello.\n";

pub(crate) fn main(args: RunArgs) -> CmdResult {
    let plan = plan(&args)?;
    let run = match execute(&args, &plan) {
        Ok(run) => run,
        // A CI job uploads the reports it asked for whatever happened: every case
        // `error` with the reason, and exit 3 all the same.
        Err(e) if e.exit == Exit::Untestable && args.cases.reports_requested() => {
            eprintln!("smtpspec run: {}", e.message);
            untested(&plan, &e.message)
        }
        Err(e) => return Err(e),
    };
    let name = match &plan.sender {
        Some(p) => format!("{} (sender)", p.name),
        None => target_name(
            &plan.target,
            args.target.as_deref(),
            &run.target.banner,
            (&args.deviate, &args.variant),
        ),
    };
    let names = ReferenceNames {
        deviations: args.deviate.clone(),
        variants: args.variant.clone(),
        no_mail: plan.given.no_mail,
    };
    finish(&run, &args.cases, &plan.catalogue.files, name, &names)
}

/// A run in which no case could run: the reason on every case and in the place of
/// the banner.
fn untested(plan: &Plan, reason: &str) -> Run {
    let address = match &plan.target {
        TargetArg::Embedded => String::new(),
        TargetArg::Profile(p) => p.addr().map(|a| a.to_string()).unwrap_or_default(),
        TargetArg::Address(a) => a.to_string(),
    };
    let now = unix_now();
    Run {
        target: Tested::unreached(&address, reason),
        started: now,
        finished: now,
        cases: plan
            .catalogue
            .cases
            .iter()
            .map(|c| CaseResult::untested(c, reason))
            .collect(),
        pacing: PacerStats::default(),
    }
}

/// What the embedded server and the reference client run as (`--deviate`,
/// `--variant`): each name belongs to the server or to the client.
#[derive(Default)]
struct Reference {
    deviations: Vec<Deviation>,
    variants: Vec<Variant>,
    sender_deviations: Vec<SenderDeviation>,
    client_variants: Vec<ClientVariant>,
}

impl Reference {
    fn is_empty(&self) -> bool {
        self.deviations.is_empty()
            && self.variants.is_empty()
            && self.sender_deviations.is_empty()
            && self.client_variants.is_empty()
    }
}

/// Everything the arguments decide, checked before anything starts.
struct Plan {
    step_timeout: Duration,
    reference: Reference,
    catalogue: Catalogue,
    target: TargetArg,
    /// What the command line says of the server.
    given: Given,
    sender: Option<Arc<SenderProfile>>,
    /// Holds the sender's message file for the run.
    _message_dir: tempfile::TempDir,
    message: PathBuf,
}

fn plan(args: &RunArgs) -> Result<Plan, CliError> {
    let step_timeout = args.cases.timeout;
    let given = Given::from_args(&args.given)?;
    let reference = reference(args)?;
    if args.target.is_some() && !reference.is_empty() {
        return Err(CliError::usage(
            "--deviate and --variant apply to the embedded server and the reference client, \
             not to --target",
        ));
    }
    let filter = args.cases.filter.as_deref();
    let mut catalogue = Catalogue::load(args.cases.paths.clone(), &args.cases.scenarios)?;
    catalogue.filter(filter);
    catalogue.require_cases(filter, "")?;
    catalogue.shard(args.cases.shard);
    let sender = match &args.sender {
        Some(p) => {
            let profile = SenderProfile::load(p)?;
            // Only delivery cases test a sender; they share the MTA, its resolver
            // address and its SMTP port, so they run one at a time.
            catalogue.cases.retain(|c| c.delivery().is_some());
            catalogue.require_cases(filter, "delivery ")?;
            Some(Arc::new(profile))
        }
        None => None,
    };
    let message_dir = tempfile::Builder::new()
        .prefix("smtpspec-sender-")
        .tempdir()
        .map_err(|e| CliError::usage(format!("temporary directory: {e}")))?;
    let message = message_dir.path().join("message.eml");
    std::fs::write(&message, SENDER_MESSAGE)
        .map_err(|e| CliError::usage(format!("{}: {e}", message.display())))?;
    let target = target_arg(args.target.as_deref(), given.default_port())?;
    if !matches!(target, TargetArg::Embedded) {
        // A server under test: the cases that test senders (scenarios/dns) and clients
        // (scenarios/client) have nothing to run against; they are left out, not
        // skipped, so that a server's totals count server cases only.
        let all = catalogue.cases.len();
        catalogue
            .cases
            .retain(|c| matches!(c.kind, CaseKind::Server(_)));
        if catalogue.cases.len() < all {
            eprintln!(
                "smtpspec run: {} sender and client case(s) left out: they do not test a server",
                all - catalogue.cases.len()
            );
        }
        catalogue.require_cases(filter, "server ")?;
    }
    Ok(Plan {
        step_timeout,
        reference,
        catalogue,
        target,
        given,
        sender,
        _message_dir: message_dir,
        message,
    })
}

/// Sort `--deviate` and `--variant` names between the server and the client.
fn reference(args: &RunArgs) -> Result<Reference, CliError> {
    let mut r = Reference::default();
    for name in &args.deviate {
        match (Deviation::from_name(name), SenderDeviation::from_name(name)) {
            (Some(d), _) => r.deviations.push(d),
            (None, Some(d)) => r.sender_deviations.push(d),
            (None, None) => {
                return Err(CliError::usage(format!(
                    "deviation {name:?} does not exist (see serve --list-deviations and send \
                     --list-deviations)"
                )));
            }
        }
    }
    for name in &args.variant {
        match (Variant::from_name(name), ClientVariant::from_name(name)) {
            (Some(v), _) => r.variants.push(v),
            (None, Some(v)) => r.client_variants.push(v),
            (None, None) => {
                return Err(CliError::usage(format!(
                    "variant {name:?} does not exist (see serve --list-variants and send \
                     --list-variants)"
                )));
            }
        }
    }
    Ok(r)
}

fn execute(args: &RunArgs, plan: &Plan) -> Result<Run, CliError> {
    let runtime = super::runtime()?;
    let untestable =
        |e: HarnessError| CliError::untestable(format!("the target could not be tested: {e}"));
    runtime
        .block_on(async {
            let started = start(
                &plan.target,
                &plan.reference.deviations,
                &plan.reference.variants,
            )
            .await?;
            let step_timeout = plan.step_timeout;
            let jobs = if plan.sender.is_some() {
                1
            } else {
                args.cases.jobs
            };
            let mut options = Options::new(jobs, step_timeout);
            let begun = unix_now();
            let mut vars = started.vars.clone();
            plan.given.vars.apply(&mut vars);
            let mut tls = started.tls.clone();
            plan.given.tls(&mut tls);
            tls.prelude = prelude(&plan.target.policy(), &tls, &vars)?;
            let mut target = runner::discover(
                started.addr,
                vars,
                started.mailbox.clone(),
                tls,
                step_timeout,
            )
            .await?;
            // Without a profile, the greeting names the server's domain.
            let banner =
                matches!(plan.target, TargetArg::Address(_)).then(|| target.banner.clone());
            plan.given.settle(&mut target.vars, banner.as_deref());
            target.restraint = plan.given.restraint();
            target.policy = plan.target.policy();
            if plan.sender.is_none() {
                options.initial_jobs =
                    Some(runner::survey(&mut target, options.jobs, step_timeout).await);
            }
            let tested = Tested::from(&target);
            let subjects = subjects(plan, target)?;
            let (bar, on_done) = progress(plan.catalogue.cases.len());
            let (results, pacing) =
                runner::run_paced(&plan.catalogue.cases, &subjects, options, Some(on_done)).await;
            bar.finish_and_clear();
            if let Some(e) = started.embedded {
                let _ = e.server.stop().await;
            }
            Ok::<_, HarnessError>(Run {
                target: tested,
                started: begun,
                finished: unix_now(),
                cases: results,
                pacing,
            })
        })
        .map_err(untestable)
}

/// Who plays each role: the server discovered; the reference client as sender and as
/// client under test when the embedded server is the target, or the sender profile;
/// against another server, the other roles are absent and their cases skipped.
fn subjects(plan: &Plan, server: runner::Target) -> Result<Subjects, HarnessError> {
    let r = &plan.reference;
    let mut subjects = Subjects {
        server: Some(server),
        client: Client {
            under_test: ClientUnderTest::Reference(r.client_variants.clone()),
            ca: Some(Arc::new(TestCa::generate()?)),
        },
        sender: match &plan.sender {
            Some(profile) => Sender::Mta(Arc::clone(profile), plan.message.clone()),
            None => Sender::Reference(r.sender_deviations.clone()),
        },
    };
    if !matches!(plan.target, TargetArg::Embedded) {
        subjects.client.under_test = ClientUnderTest::Absent(
            "a client case tests an SMTP client; run it with smtpspec client".into(),
        );
        // The cases of scenarios/dns test a sender; this run tests a server.
        subjects.sender = Sender::Absent(
            "a delivery case tests a sender; this run tests the server given by --target".into(),
        );
    }
    Ok(subjects)
}

/// What a target is called in reports and matrices: the profile's name, the
/// embedded server (with its deviations), or the host its greeting names with the
/// address.
fn target_name(
    target: &TargetArg,
    given: Option<&str>,
    banner: &str,
    (deviations, variants): (&[String], &[String]),
) -> String {
    match (target, given) {
        (TargetArg::Address(address), _) => match vars::domain_in_banner(banner) {
            Some(host) => format!("{host} ({address})"),
            None => address.clone(),
        },
        (TargetArg::Profile(p), _) if p.name.as_ref().is_some_and(|n| !n.trim().is_empty()) => {
            p.name.clone().unwrap_or_default()
        }
        (_, Some(t)) => Path::new(t)
            .file_stem()
            .map_or_else(|| t.to_owned(), |s| s.to_string_lossy().into_owned()),
        _ if deviations.is_empty() && variants.is_empty() => "smtpspec reference server".into(),
        _ => {
            let mut name = "reference server".to_owned();
            if !deviations.is_empty() {
                name.push_str(&format!(" --deviate {}", deviations.join(",")));
            }
            if !variants.is_empty() {
                name.push_str(&format!(" --variant {}", variants.join(",")));
            }
            name
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
        if !shown.is_finished() && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
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

/// The prelude of every session on a port whose profile says it requires TLS or AUTH
/// before mail (the cases about those requirements run without it).
fn prelude(
    policy: &smtpspec::profile::PolicyOptions,
    tls: &smtpspec::wire::TlsSettings,
    vars: &smtpspec::scenario::template::Vars,
) -> Result<Option<smtpspec::wire::Prelude>, HarnessError> {
    let starttls = policy.tls_required && !tls.implicit;
    let auth_plain = if policy.auth_required {
        Some(vars.get("target.auth_plain").cloned().ok_or_else(|| {
            smtpspec::harness_error!(
                "the profile's policy says auth_required, but it gives no user and password \
                 to log in with"
            )
        })?)
    } else {
        None
    };
    Ok(
        (starttls || auth_plain.is_some()).then(|| smtpspec::wire::Prelude {
            ehlo: smtpspec::runner::ehlo_name(vars),
            starttls,
            auth_plain,
        }),
    )
}
