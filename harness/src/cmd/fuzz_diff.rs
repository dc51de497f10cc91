//! `smtpspec fuzz --target A --target B …` (or `--differential` with one target): a
//! differential campaign. The embedded reference server is started beside the
//! targets; every input goes to all of them; the disagreements are written as
//! reproducers that expect what the reference server answered, with every party's
//! view in their header, and counted in a matrix (`disagreements.md`, `.html`,
//! `stats.json`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use smtpspec::fuzz::compare::{self, Class, Matrix};
use smtpspec::fuzz::differ::{self, Found, Party};
use smtpspec::fuzz::exec::{End, Limits, Opening, Trace};
use smtpspec::fuzz::finding::{self, transcript_text};
use smtpspec::fuzz::input::Input;
use smtpspec::report::html::esc;

use super::fuzz::{Plan, banner, now_rfc3339, seeds, status, status_line, write_corpus};
use smtpspec::outcome::HarnessError;
use smtpspec::profile::embedded;
use smtpspec::scenario::template::Vars;

use super::target::{Started, start};
use smtpspec::outcome::Level;

use super::out::{out, outln};
use super::{CliError, CmdResult};
use crate::cli::FuzzArgs;

/// A party as started: its server (kept up until the end) and its greeting.
struct Up {
    name: String,
    started: Started,
    banner: String,
    /// Its EHLO offers CHUNKING.
    chunking: bool,
}

pub(crate) fn main(args: FuzzArgs) -> CmdResult {
    let plan = super::fuzz::plan(&args)?;
    let runtime = super::runtime()?;
    runtime.block_on(execute(&args, plan))
}

async fn execute(args: &FuzzArgs, plan: Plan) -> CmdResult {
    let untestable =
        |name: &str, e: String| CliError::untestable(format!("{name} could not be fuzzed: {e}"));
    let mut ups: Vec<Up> = Vec::new();
    for (name, target) in args.target.iter().zip(plan.targets()) {
        let started = start(target, &[], &[])
            .await
            .map_err(|e| untestable(name, e.to_string()))?;
        ups.push(up(name.clone(), started).await?);
    }
    // The reference takes the first target's recipients and credentials, so the
    // two are compared on how they read the octets, not on who has which mailbox.
    let reference = reference(&ups[0].started.vars)
        .await
        .map_err(|e| untestable("the reference server", e.to_string()))?;
    ups.insert(0, up("reference".into(), reference).await?);
    let parties = ups
        .iter()
        .map(|up| Party {
            name: up.name.clone(),
            addr: up.started.addr,
            limits: Limits {
                connect: Duration::from_secs(5),
                reply: plan.reply,
                chunking: up.chunking,
                whole: true,
                listen: Duration::ZERO,
                opening: Opening::of(&up.started.tls),
            }
            .listening(),
        })
        .collect();
    // The first target's variables make the inputs: its recipients are the ones
    // the catalogue's transactions use.
    let seeds = seeds(&ups[1].started.vars, args.corpus.as_deref())?;
    eprintln!(
        "smtpspec fuzz (differential): {}; seed {}, {} seed input(s), {} jobs",
        ups.iter()
            .map(|u| format!("{} ({})", u.name, u.banner.trim_end()))
            .collect::<Vec<_>>()
            .join(", "),
        plan.seed,
        seeds.len(),
        args.jobs
    );
    let options = differ::Options {
        parties,
        runs: args.runs,
        duration: plan.duration,
        seed: plan.seed,
        jobs: args.jobs,
        minimise_budget: 128,
        stop_on_finding: args.stop_on_finding,
    };
    let bar = status_line();
    let began = super::unix_now();
    let first = ups[1].started.addr;
    let outcome = differ::run(seeds, options, |s| bar.set_message(status(s))).await;
    bar.finish_and_clear();
    let header = Header {
        parties: ups
            .iter()
            .map(|u| (u.name.clone(), u.banner.trim_end().to_owned()))
            .collect(),
        seed: plan.seed,
        seen: now_rfc3339(),
    };
    for up in ups {
        if let Some(e) = up.started.embedded {
            let _ = e.server.stop().await;
        }
    }
    finish(args, &outcome, &header)?;
    report(args, &outcome, &header, first, began)?;
    Ok(super::fuzz::exit_of(&outcome.found))
}

/// The disagreements in the report model (`report.json`, `report.html`).
fn report(
    args: &FuzzArgs,
    outcome: &differ::Outcome,
    header: &Header,
    first: SocketAddr,
    began: u64,
) -> Result<(), CliError> {
    let entries = outcome
        .found
        .iter()
        .map(|f| {
            let d = &f.disagreement;
            // The session of the first party that stands apart.
            let apart = d.apart.iter().position(|a| *a).unwrap_or(0);
            super::fuzz_report::Entry {
                stem: format!("{}-{:016x}", d.class.name(), d.key),
                suite: "fuzz.disagreements",
                what: format!("{} [{}]: {}", d.class.name(), d.class.severity(), d.what),
                spec: (5321, d.class.section()),
                level: level(d.class),
                tags: vec!["fuzz".into(), "differential".into(), d.class.name().into()],
                transcript: f.traces[apart].transcript.clone(),
            }
        })
        .collect();
    let tested = smtpspec::report::Tested {
        address: first.to_string(),
        banner: header
            .parties
            .iter()
            .map(|(n, b)| format!("{n}: {b}"))
            .collect::<Vec<_>>()
            .join(" | "),
        ehlo: Vec::new(),
        tls_ehlo: None,
        tls_problem: None,
        variables: Default::default(),
    };
    let name = args.target.join(" vs ");
    super::fuzz_report::write(&args.output_dir, tested, &name, header.seed, began, entries)
}

/// How a disagreement of `class` is weighed: boundaries and grammar are the RFC's
/// MUSTs; who takes which sender or command is policy.
fn level(class: Class) -> Level {
    match class {
        Class::MessageCount | Class::ReplyGrammar => Level::Must,
        Class::Envelope | Class::AcceptRefuse => Level::May,
    }
}

/// `started`, greeted (its banner and CHUNKING read) and on loopback.
async fn up(name: String, started: Started) -> Result<Up, CliError> {
    if !started.addr.ip().is_loopback() {
        return Err(CliError::usage(format!(
            "{name} ({}) is not a loopback address: a differential campaign sends every input \
             to every target at full speed, so it runs on loopback only",
            started.addr
        )));
    }
    let (text, chunking) = banner(started.addr, &started.vars, &started.tls)
        .await
        .map_err(|e| CliError::untestable(format!("{name} could not be fuzzed: {e}")))?;
    Ok(Up {
        name,
        started,
        banner: text,
        chunking,
    })
}

/// The reference server, its mailboxes and credentials those of `vars` (a target's).
async fn reference(vars: &Vars) -> Result<Started, HarnessError> {
    let rcpt = vars.get("target.rcpt").cloned();
    let user = vars.get("target.user").cloned();
    let password = vars.get("target.password").cloned();
    let e = embedded::start_configured(&[], |f| {
        if let Some(r) = rcpt {
            f.recipients = Some(vec![r]);
        }
        // AUTH offered only where the target has credentials to use (a server
        // without them refuses AUTH and the AUTH= parameter of MAIL).
        f.users.clear();
        if let (Some(u), Some(p)) = (user, password) {
            f.users.insert(u, p);
        }
    })
    .await?;
    Ok(Started::embedded(e))
}

/// Who was compared, for every reproducer and the matrix.
struct Header {
    /// Name and greeting, the reference first.
    parties: Vec<(String, String)>,
    seed: u64,
    seen: String,
}

fn finish(args: &FuzzArgs, outcome: &differ::Outcome, h: &Header) -> Result<(), CliError> {
    let out = &args.output_dir;
    let io = |path: &Path, e: std::io::Error| CliError::usage(format!("{}: {e}", path.display()));
    let dir = out.join("findings");
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let mut written = Vec::new();
    for f in &outcome.found {
        let stem = format!(
            "{}-{:016x}",
            f.disagreement.class.name(),
            f.disagreement.key
        );
        let suite = dir.join(format!("{stem}.yaml"));
        std::fs::write(&suite, suite_yaml(&stem, f, h)).map_err(|e| io(&suite, e))?;
        let text = dir.join(format!("{stem}.transcript.txt"));
        std::fs::write(&text, transcripts(f, h)).map_err(|e| io(&text, e))?;
        written.push((f, suite));
    }
    let mut corpus_dirs = vec![out.join("corpus")];
    corpus_dirs.extend(args.corpus.clone());
    for d in &corpus_dirs {
        write_corpus(d, &outcome.corpus).map_err(|e| io(d, e))?;
    }
    let s = &outcome.stats;
    let stats = out.join("stats.json");
    let json = serde_json::to_string_pretty(s).unwrap_or_default();
    std::fs::write(&stats, json + "\n").map_err(|e| io(&stats, e))?;
    let matrix = s.differential.clone().unwrap_or_default();
    let md = out.join("disagreements.md");
    std::fs::write(&md, markdown(&matrix, &written, h)).map_err(|e| io(&md, e))?;
    let html = out.join("disagreements.html");
    std::fs::write(&html, html_page(&matrix, &written, h)).map_err(|e| io(&html, e))?;
    outln!(
        "{} sessions in {:.1} s ({:.0}/s over {} parties), {} distinct states, corpus {}, {} \
         input(s) not comparable (a party refused service), {} unconfirmed",
        s.sessions,
        s.elapsed_s,
        s.sessions_per_s,
        h.parties.len(),
        s.signature_bits,
        s.corpus,
        s.throttled,
        s.unconfirmed
    );
    super::fuzz::say_unchecked(s.unchecked);
    super::fuzz::say_why_refused(s);
    for (f, path) in &written {
        outln!(
            "{} [{}]: {} ({} → {} steps) {}",
            f.disagreement.class.name(),
            f.disagreement.class.severity(),
            f.disagreement.what,
            f.original_steps,
            f.input.steps.len(),
            path.display()
        );
    }
    out!("{}", matrix.markdown());
    outln!("matrix: {} and {}", md.display(), html.display());
    outln!("stats: {}", stats.display());
    outln!(
        "report: {} and {}",
        out.join("report.json").display(),
        out.join("report.html").display()
    );
    Ok(())
}

/// The reproducer: the input, read as the reference server answered it (its codes,
/// then the suffix's), so it passes there and fails on a server that stands apart.
fn suite_yaml(stem: &str, f: &Found, h: &Header) -> String {
    let d = &f.disagreement;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Found by smtpspec fuzz, differential (seed {}) on {}.",
        h.seed, h.seen
    );
    for ((name, banner), (trace, apart)) in h.parties.iter().zip(f.traces.iter().zip(&d.apart)) {
        let _ = writeln!(
            out,
            "# {name}{}: {banner} — codes {}",
            if *apart { " (stands apart)" } else { "" },
            codes(trace)
        );
    }
    let _ = writeln!(
        out,
        "# {} [{}]: {}",
        d.class.name(),
        d.class.severity(),
        d.what
    );
    let _ = writeln!(
        out,
        "# Minimised from {} step(s) to {}. The case expects the reference server's \
         codes. Replay: smtpspec run --target HOST:PORT THIS_FILE",
        f.original_steps,
        f.input.steps.len()
    );
    let _ = writeln!(out, "suite: fuzz.disagreements");
    let _ = writeln!(
        out,
        "description: A disagreement found by smtpspec fuzz; the steps expect what the \
         reference server answered."
    );
    let _ = writeln!(out, "cases:");
    let _ = writeln!(out, "  - id: {stem}");
    let _ = writeln!(out, "    title: \"{}\"", d.what.replace(['"', '\\'], "'"));
    let _ = writeln!(
        out,
        "    spec: {{ rfc: 5321, section: \"{}\", level: {} }}",
        d.class.section(),
        level(d.class)
    );
    let _ = writeln!(out, "    tags: [fuzz, differential, {}]", d.class.name());
    let _ = writeln!(out, "    steps:");
    let _ = writeln!(out, "      - expect: 220");
    let reference = &f.traces[0];
    // Where the reference closed, the steps after are not sent.
    let input = match reference.end {
        End::Closed { step: Some(n), .. } | End::Malformed { step: Some(n), .. } => Input {
            steps: f.input.steps[..=n.min(f.input.steps.len().saturating_sub(1))].to_vec(),
        },
        _ => f.input.clone(),
    };
    out.push_str(&finding::as_base(&input, reference));
    out
}

fn codes(t: &Trace) -> String {
    let v = compare::view(&Input::default(), t);
    if v.codes.is_empty() {
        "none".into()
    } else {
        v.codes
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn transcripts(f: &Found, h: &Header) -> String {
    let mut out = String::new();
    for ((name, _), t) in h.parties.iter().zip(&f.traces) {
        let _ = writeln!(out, "== {name}");
        out.push_str(&transcript_text(t));
    }
    out
}

fn markdown(m: &Matrix, written: &[(&Found, PathBuf)], h: &Header) -> String {
    let mut out =
        String::from("# Differential fuzzing: disagreements with the reference server\n\n");
    for (name, banner) in &h.parties {
        let _ = writeln!(out, "- **{name}**: {banner}");
    }
    let _ = writeln!(
        out,
        "\nSeed {}, {}. A cell counts the distinct disagreements of a class in which \
         the target stood apart from the reference server.\n",
        h.seed, h.seen
    );
    out.push_str(&m.markdown());
    out.push_str("\n| class | severity | what | reproducer |\n| --- | --- | --- | --- |\n");
    for (f, path) in written {
        let d = &f.disagreement;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            d.class.name(),
            d.class.severity(),
            d.what.replace('|', "\\|"),
            path.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned())
        );
    }
    out
}

fn html_page(m: &Matrix, written: &[(&Found, PathBuf)], h: &Header) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>smtpspec fuzz: \
         disagreements</title><style>body{font:14px/1.45 system-ui,sans-serif;margin:2em}\
         table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;\
         padding:.25em .6em;text-align:left}th{background:#f3f3f3}.n{text-align:right}\
         .hot{background:#ffccd5}</style><h1>Differential fuzzing: disagreements with the \
         reference server</h1><ul>",
    );
    for (name, banner) in &h.parties {
        let _ = write!(out, "<li><b>{}</b>: {}</li>", esc(name), esc(banner));
    }
    let _ = write!(
        out,
        "</ul><p>Seed {}, {}. A cell counts the distinct disagreements of a class in which \
         the target stood apart from the reference server.</p><table><tr><th>target</th>",
        h.seed,
        esc(&h.seen)
    );
    for c in &m.classes {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr>");
    for (t, row) in m.targets.iter().zip(&m.cells) {
        let _ = write!(out, "<tr><td>{}</td>", esc(t));
        for n in row {
            let hot = if *n > 0 { " hot" } else { "" };
            let _ = write!(out, "<td class=\"n{hot}\">{n}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str(
        "</table><h2>Disagreements</h2><table><tr><th>class</th><th>severity</th>\
         <th>what</th><th>reproducer</th></tr>",
    );
    for (f, path) in written {
        let d = &f.disagreement;
        let file = path
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"findings/{}\">{}</a></td></tr>",
            esc(d.class.name()),
            esc(d.class.severity()),
            esc(&d.what),
            esc(&file),
            esc(&file)
        );
    }
    out.push_str("</table></html>\n");
    out
}
