//! `smtpspec fuzz`: the network fuzzer against a live server (the embedded reference
//! server by default). plan (arguments, seeds) → execute (the campaign, or a replay)
//! → finish (findings, corpus and stats.json written, a summary, the exit status).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use smtp_protocol::server::Deviation;
use smtp_protocol::{Extension, ReplyCode};
use smtpspec::fuzz::exec::{self, End, Limits, Opening};
use smtpspec::fuzz::finding::{self, Provenance};
use smtpspec::fuzz::input::Input;
use smtpspec::fuzz::logwatch::LogSpec;
use smtpspec::fuzz::oracle::{self, Judged};
use smtpspec::fuzz::process::{Group, Life};
use smtpspec::fuzz::watch::{Relaunch, WatchSpec};
use smtpspec::fuzz::{self, Options, Stats};
use smtpspec::profile::{PolicyOptions, embedded};
use smtpspec::roles::server::discover;
use smtpspec::scenario::load::{self, CaseKind};
use smtpspec::scenario::template::Vars;
use smtpspec::wire::TlsSettings;

use super::catalogue::Catalogue;
use super::out::outln;
use super::target::{Started, TargetArg, start, target_arg};
use super::{CliError, CmdResult, Exit};
use crate::cli::FuzzArgs;

/// What the arguments come to.
pub(super) struct Plan {
    /// The first --target (the embedded server without one).
    target: TargetArg,
    /// Every --target after the first (a differential campaign).
    pub(super) others: Vec<TargetArg>,
    deviations: Vec<Deviation>,
    pub(super) duration: Duration,
    pub(super) reply: Duration,
    pub(super) seed: u64,
    /// This shard and the number of shards (`1/1` without --shard).
    shard: (usize, usize),
}

impl Plan {
    /// Every target given, in order.
    pub(super) fn targets(&self) -> impl Iterator<Item = &TargetArg> {
        std::iter::once(&self.target).chain(&self.others)
    }
}

pub(crate) fn main(args: FuzzArgs) -> CmdResult {
    if !args.merge.is_empty() {
        return super::fuzz_merge::merge(&args.merge, &args.output_dir);
    }
    let plan = plan(&args)?;
    let runtime = super::runtime()?;
    runtime.block_on(execute(&args, plan))
}

/// The seed given, or one from the clock (printed, so the campaign can be repeated).
pub(super) fn seed_or_clock(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    })
}

pub(super) fn plan(args: &FuzzArgs) -> Result<Plan, CliError> {
    let deviations = args
        .deviate
        .iter()
        .map(|n| {
            Deviation::from_name(n).ok_or_else(|| {
                CliError::usage(format!(
                    "deviation {n:?} does not exist (see serve --list-deviations)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !args.target.is_empty() && !deviations.is_empty() {
        return Err(CliError::usage(
            "--deviate applies to the embedded server, not to --target",
        ));
    }
    if args.jobs == 0 {
        return Err(CliError::usage("--jobs must be at least 1"));
    }
    let seed = seed_or_clock(args.seed);
    let shard = args.shard.unwrap_or((1, 1));
    if args.differential && args.target.is_empty() {
        return Err(CliError::usage(
            "--differential compares a --target with the reference server: name one",
        ));
    }
    if (args.differential || args.target.len() > 1) && (args.replay.is_some() || shard != (1, 1)) {
        return Err(CliError::usage(
            "a differential campaign (--differential, or several --target) takes neither \
             --replay nor --shard",
        ));
    }
    let others = args
        .target
        .iter()
        .skip(1)
        .map(|t| target_arg(Some(t), smtp_protocol::limits::SMTP_PORT))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Plan {
        shard,
        target: target_arg(
            args.target.first().map(String::as_str),
            smtp_protocol::limits::SMTP_PORT,
        )?,
        others,
        deviations,
        duration: args.duration,
        reply: args.timeout,
        seed,
    })
}

/// The target started. The fuzzer empties the embedded server's store as it goes:
/// kept in memory where the system has a memory file system.
async fn start_fuzzed(plan: &Plan) -> Result<Started, smtpspec::outcome::HarnessError> {
    match plan.target {
        TargetArg::Embedded => {
            let shm = Path::new("/dev/shm");
            let base = shm.is_dir().then_some(shm);
            embedded::start_in(base, &plan.deviations, |_| {})
                .await
                .map(Started::embedded)
        }
        _ => start(&plan.target, &plan.deviations, &[]).await,
    }
}

async fn execute(args: &FuzzArgs, plan: Plan) -> CmdResult {
    let untestable =
        |e: String| CliError::untestable(format!("the target could not be fuzzed: {e}"));
    let mut started = start_fuzzed(&plan)
        .await
        .map_err(|e| untestable(e.to_string()))?;
    let remote = !started.addr.ip().is_loopback();
    if remote && !args.allow_remote {
        return Err(CliError::usage(format!(
            "{} is not a loopback address: fuzzing someone else's server is your decision; \
             say so with --allow-remote (then at most --rate sessions/s, 10 by default)",
            started.addr
        )));
    }
    let (banner, chunking) = banner(started.addr, &started.vars, &started.tls)
        .await
        .map_err(untestable)?;
    let limits = Limits {
        connect: Duration::from_secs(5),
        reply: plan.reply,
        chunking,
        whole: false,
        listen: Duration::ZERO,
        opening: Opening::of(&started.tls),
    };
    let policy = plan.target.policy();
    if let Some(dir) = &args.replay {
        return replay(dir, &started, limits, &policy).await;
    }
    let (shard, shards) = plan.shard;
    let mut all = seeds(&started.vars, args.corpus.as_deref())?;
    all.extend(fuzz::policy::seeds(&policy, &started.vars));
    let seeds = of_shard(all, plan.shard);
    let options = Options {
        target: started.addr,
        runs: args.runs,
        duration: plan.duration,
        // Each shard its own generator; shard 1 of 1 is the campaign without --shard.
        seed: plan.seed ^ ((shard as u64 - 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        jobs: args.jobs,
        limits,
        rate: args.rate.or(remote.then_some(10)),
        minimise_budget: 256,
        stop_on_finding: args.stop_on_finding,
        watch: watch_spec(args, &plan.target, &mut started)?,
        canary: smtpspec::fuzz::canary::input(&started.vars),
        store: started.mailbox.clone(),
        store_disposable: started.embedded.is_some(),
        store_per_recipient: started.embedded.is_none(),
        policy,
    };
    let watching = match (&options.watch.group, options.watch.logs.len()) {
        (None, 0) => String::new(),
        (g, logs) => format!(
            ", watching {}{logs} log(s)",
            g.map(|g| format!("process {} and its children and ", g.leader))
                .unwrap_or_default()
        ),
    };
    eprintln!(
        "smtpspec fuzz: {} ({}), seed {}{}, {} seed input(s), {} jobs{watching}",
        args.target
            .first()
            .map_or("the embedded reference server", String::as_str),
        banner.trim_end(),
        plan.seed,
        if shards > 1 {
            format!(", shard {shard}/{shards}")
        } else {
            String::new()
        },
        seeds.len(),
        args.jobs
    );
    let bar = status_line();
    let began = super::unix_now();
    let addr = options.target;
    let outcome = fuzz::run(seeds, options, |s| bar.set_message(status(s))).await;
    bar.finish_and_clear();
    if let Some(e) = started.embedded {
        let _ = e.server.stop().await;
    }
    let provenance = Provenance {
        target: args
            .target
            .first()
            .cloned()
            .unwrap_or_else(|| "embedded".into()),
        banner,
        seed: plan.seed,
        seen: now_rfc3339(),
    };
    finish(args, &outcome, &provenance)?;
    report(args, &outcome, &provenance, addr, plan.seed, began)?;
    Ok(exit_of(&outcome.findings))
}

/// The inputs of shard `shard` of `shards` (from 1): every `shards`-th, so that the
/// shards of one campaign share out the catalogue.
fn of_shard(all: Vec<Input>, (shard, shards): (usize, usize)) -> Vec<Input> {
    all.into_iter()
        .enumerate()
        .filter(|(k, _)| k % shards == shard - 1)
        .map(|(_, s)| s)
        .collect()
}

/// The findings in the report model (`report.json`, `report.html`).
fn report(
    args: &FuzzArgs,
    outcome: &fuzz::Outcome,
    provenance: &Provenance,
    addr: SocketAddr,
    seed: u64,
    began: u64,
) -> Result<(), CliError> {
    let entries = outcome
        .findings
        .iter()
        .map(|f| super::fuzz_report::Entry {
            stem: f.stem(),
            suite: "fuzz.findings",
            what: f.what.clone(),
            spec: f.spec,
            level: smtpspec::outcome::Level::Must,
            tags: vec!["fuzz".into(), f.oracle.name().into()],
            transcript: f.trace.transcript.clone(),
        })
        .collect();
    let tested = smtpspec::report::Tested {
        address: addr.to_string(),
        banner: provenance.banner.clone(),
        ehlo: Vec::new(),
        tls_ehlo: None,
        tls_problem: None,
        variables: Default::default(),
    };
    super::fuzz_report::write(
        &args.output_dir,
        tested,
        &provenance.target,
        seed,
        began,
        entries,
    )?;
    // Named once written: a failed write is the error above, not a path to nothing.
    outln!(
        "report: {} and {}",
        args.output_dir.join("report.json").display(),
        args.output_dir.join("report.html").display()
    );
    Ok(())
}

/// 1 when anything was found.
pub(super) fn exit_of<T>(found: &[T]) -> Exit {
    if found.is_empty() {
        Exit::Conformant
    } else {
        Exit::NonConformant
    }
}

/// What the off-the-wire oracles watch: the flags, else the launched process and the
/// profile's watch section; the launch log always.
fn watch_spec(
    args: &FuzzArgs,
    target: &TargetArg,
    started: &mut Started,
) -> Result<WatchSpec, CliError> {
    let profile = match target {
        TargetArg::Profile(p) => Some(p.as_ref()),
        _ => None,
    };
    let group = match (&args.watch_pid, &started.launched) {
        (Some(text), _) => Some(match text.parse::<i32>() {
            Ok(leader) => Group { leader },
            Err(_) => Group::from_pid_file(Path::new(text))
                .map_err(|e| CliError::usage(format!("--watch-pid: {e}")))?,
        }),
        (None, Some(l)) => i32::try_from(l.pid()).ok().map(|leader| Group { leader }),
        (None, None) => match profile.and_then(|p| p.watch.pid_file.as_deref()) {
            Some(file) => Some(
                Group::from_pid_file(file)
                    .map_err(|e| CliError::usage(format!("watch.pid_file: {e}")))?,
            ),
            None => None,
        },
    };
    if let Some(g) = group
        && g.life() != Life::Running
    {
        return Err(CliError::usage(format!(
            "process {} does not run: nothing to watch",
            g.leader
        )));
    }
    let mut logs: Vec<LogSpec> = started
        .launched
        .iter()
        .map(|l| LogSpec::with_defaults(l.log.clone()))
        .collect();
    for log in profile.map(|p| p.watch.logs.as_slice()).unwrap_or_default() {
        let mut spec = LogSpec::with_defaults(log.path.clone());
        if let Some(patterns) = &log.patterns {
            spec.patterns = patterns.clone();
        }
        spec.ignore = log.ignore.clone();
        logs.push(spec);
    }
    logs.extend(args.watch_log.iter().cloned().map(LogSpec::with_defaults));
    // A launched target (and watched as launched): the campaign may start it again.
    let relaunch = match (profile.and_then(|p| p.launch.clone()), &args.watch_pid) {
        (Some(launch), None) if started.launched.is_some() => Some(Relaunch {
            launch,
            addr: started.addr,
            running: Arc::new(tokio::sync::Mutex::new(started.launched.take())),
        }),
        _ => None,
    };
    Ok(WatchSpec {
        group,
        logs,
        relaunch,
    })
}

/// The target's greeting, and whether its EHLO reply advertises CHUNKING (read once,
/// as `run` reads it); an error when it does not greet with 220.
pub(super) async fn banner(
    addr: SocketAddr,
    vars: &Vars,
    tls: &TlsSettings,
) -> Result<(String, bool), String> {
    let limit = Duration::from_secs(5);
    let opening = TlsSettings {
        prelude: None,
        ..tls.clone()
    };
    let target = discover(addr, vars.clone(), None, opening, limit)
        .await
        .map_err(|e| e.to_string())?;
    if target.greeting_code != ReplyCode::SERVICE_READY.get() {
        return Err(format!("it greets with {}", target.banner));
    }
    let chunking = target.ehlo.iter().any(|l| {
        l.keyword
            .eq_ignore_ascii_case(Extension::Chunking.keyword())
    });
    Ok((target.banner, chunking))
}

/// The catalogue's server cases as inputs, then the suites of `corpus`.
pub(super) fn seeds(vars: &Vars, corpus: Option<&Path>) -> Result<Vec<Input>, CliError> {
    let catalogue = Catalogue::load(Vec::new(), &[])?;
    let mut out: Vec<Input> = catalogue
        .cases
        .iter()
        .filter(|c| matches!(c.kind, CaseKind::Server(_)))
        .filter_map(|c| Input::from_case(c, vars))
        .collect();
    if let Some(dir) = corpus.filter(|d| d.is_dir()) {
        let cases = load::load(&[dir.to_path_buf()]).map_err(|errors| {
            for e in &errors {
                eprintln!("{e}");
            }
            CliError::usage(format!("{} error(s) in the corpus", errors.len()))
        })?;
        out.extend(cases.iter().filter_map(|c| Input::from_case(c, vars)));
    }
    Ok(out)
}

/// Run the reproducers under `dir` again: which findings still show.
async fn replay(
    dir: &Path,
    started: &Started,
    limits: Limits,
    policy: &PolicyOptions,
) -> CmdResult {
    let cases = load::load(&[dir.to_path_buf()]).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        CliError::usage(format!("{} error(s) in {}", errors.len(), dir.display()))
    })?;
    let mut still = 0;
    for case in &cases {
        let Some(input) = Input::from_case(case, &started.vars) else {
            continue;
        };
        // One session each: listening after a handshake costs nothing here, and
        // shows an injection as one.
        let trace = exec::run(started.addr, &input, limits.listening()).await;
        let verdict = match oracle::judge(&input, &trace) {
            Judged::Finding { oracle, what, .. } => {
                still += 1;
                format!("reproduces ({}: {what})", oracle.name())
            }
            Judged::Throttled => "throttled (the target refused service)".into(),
            Judged::ClosedAfterRefusal => "gone (the target refused a command and closed)".into(),
            Judged::Unreachable => "the target could not be reached".into(),
            Judged::Clean if let Some(b) = fuzz::policy::judge(policy, &input, &trace) => {
                still += 1;
                format!("reproduces (policy: {})", b.what)
            }
            Judged::Clean if matches!(trace.end, End::Finished) => "gone".into(),
            Judged::Clean => "gone (the session ended otherwise)".into(),
        };
        outln!("{}: {verdict}", case.meta.id);
    }
    outln!("{still} of {} reproducer(s) still reproduce", cases.len());
    Ok(if still > 0 {
        Exit::NonConformant
    } else {
        Exit::Conformant
    })
}

pub(super) fn status_line() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

pub(super) fn status(s: &Stats) -> String {
    format!(
        "{} sessions, {:.0}/s, corpus {}, {} bits, {} finding(s), {} throttled",
        s.sessions,
        s.sessions_per_s,
        s.corpus,
        s.signature_bits,
        s.findings.values().sum::<usize>(),
        s.throttled
    )
}

/// Write findings, corpus and stats; print the summary.
fn finish(args: &FuzzArgs, outcome: &fuzz::Outcome, p: &Provenance) -> Result<(), CliError> {
    let out = &args.output_dir;
    let io = |path: &Path, e: std::io::Error| CliError::usage(format!("{}: {e}", path.display()));
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let mut written = Vec::new();
    for f in &outcome.findings {
        let path = finding::write(&out.join("findings"), f, p)
            .map_err(|e| CliError::usage(e.to_string()))?;
        written.push((f, path));
    }
    let mut corpus_dirs = vec![out.join("corpus")];
    corpus_dirs.extend(args.corpus.clone());
    for dir in &corpus_dirs {
        write_corpus(dir, &outcome.corpus).map_err(|e| io(dir, e))?;
    }
    let stats = out.join("stats.json");
    let json = serde_json::to_string_pretty(&outcome.stats).unwrap_or_default();
    std::fs::write(&stats, json + "\n").map_err(|e| io(&stats, e))?;
    let s = &outcome.stats;
    outln!(
        "{} sessions in {:.1} s ({:.0}/s), {} distinct states, corpus {}, {} throttled, {} \
         closed after a refusal, {} unconfirmed",
        s.sessions,
        s.elapsed_s,
        s.sessions_per_s,
        s.signature_bits,
        s.corpus,
        s.throttled,
        s.closed_after_refusal,
        s.unconfirmed
    );
    say_unchecked(s.unchecked);
    say_why_refused(s);
    for (f, path) in &written {
        outln!(
            "{}: {} ({} → {} steps) {}",
            f.oracle.name(),
            f.what,
            f.original_steps,
            f.input.steps.len(),
            path.display()
        );
    }
    if let Some(t) = &s.target {
        outln!(
            "target processes: resident {} MiB at most ({}), {} open descriptors at most \
             ({}), started again {} time(s)",
            t.rss_peak_kib / 1024,
            if t.rss_start_kib > 0 {
                format!("{} MiB after the warm-up", t.rss_start_kib / 1024)
            } else {
                "no process lived through the warm-up".into()
            },
            t.fds_peak,
            if t.fds_start > 0 {
                format!("{} after the warm-up", t.fds_start)
            } else {
                "no process lived through the warm-up".into()
            },
            t.restarts
        );
    }
    if outcome.died {
        outln!("the target stopped accepting connections; the campaign stopped");
    }
    outln!("stats: {}", stats.display());
    Ok(())
}

/// The inputs kept, one suite each, named by their content.
pub(super) fn write_corpus(dir: &PathBuf, corpus: &[Input]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for input in corpus {
        let text = finding::corpus_yaml(input);
        let name = format!(
            "{:016x}.yaml",
            smtpspec::fuzz::signature::hash(text.as_bytes())
        );
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

pub(super) fn now_rfc3339() -> String {
    smtp_protocol::server::received::rfc3339(super::unix_now())
}

/// Suspicions a campaign never checked (met while every checking slot was taken, and
/// still waiting at its end): said, so a clean run is not read as a checked one.
/// The commonest reply behind the throttled sessions and the closes after a
/// refusal, and the setting that lifts a connection limit.
pub(super) fn say_why_refused(s: &Stats) {
    let commonest = |by: &std::collections::BTreeMap<String, u64>| {
        by.iter()
            .max_by_key(|(_, n)| **n)
            .map(|(why, n)| (why.clone(), *n))
    };
    if let Some((why, n)) = commonest(&s.throttled_by) {
        outln!("throttled most often by: {why} ({n} sessions)");
        if let Some(advice) = fuzz::throttle::advice(&why) {
            outln!("  {advice}");
        }
    }
    if let Some((why, n)) = commonest(&s.closed_after_refusal_by) {
        outln!("closed after a refusal most often after: {why} ({n} sessions)");
    }
}

pub(super) fn say_unchecked(unchecked: u64) {
    if unchecked > 0 {
        outln!(
            "{unchecked} suspicion(s) never checked: met while every checking slot was \
             taken, still waiting at the end, or a store excess met when bisecting the \
             store had taken a tenth of the run (a longer run checks more)"
        );
    }
}
