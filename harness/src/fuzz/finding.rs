//! Findings, written as what the project already reads: a suite file whose one case
//! replays the minimised input (`smtpspec run --target … FILE` fails on the target
//! and passes on a conformant server), and the raw transcript next to it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::exec::{CLOSING, End, READY, Sync, Trace, sync};
use super::input::yaml_escape;
use super::input::{Input, Step};
use super::oracle::Oracle;
use crate::outcome::HarnessError;
use crate::wire::{Dir, escape};

/// How long a reproducer listens after the TLS handshake for replies to lines that
/// were pipelined before it: a server that runs them answers at once; the margin is
/// for a loaded machine.
const INJECTION_SILENCE: &str = "500ms";

/// How long a reproducer listens after the last reply it owes (the 221 to QUIT):
/// a reply too many comes with the others or right after them.
const AFTER_CLOSING: &str = "300ms";

/// One finding, minimised.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The class.
    pub oracle: Oracle,
    /// Its identity (class, verb, what the target said last).
    pub key: u64,
    /// The input that shows it, minimised.
    pub input: Input,
    /// What the target did with it.
    pub trace: Trace,
    /// In words.
    pub what: String,
    /// Steps before minimisation.
    pub original_steps: usize,
    /// What the input got when the campaign started (the canary of a state
    /// regression): the reproducer expects it.
    pub baseline: Option<Trace>,
    /// The RFC and section whose rule it breaks: RFC 5321 and the class's section,
    /// unless the judge knew better (a policy finding may break RFC 4954 or 3207).
    pub spec: (u16, &'static str),
}

impl Finding {
    /// `oracle` as `input` shows it; `original_steps` is the length of the input the
    /// campaign first saw it with (more than `input`'s after minimisation).
    pub fn shown(
        (oracle, key): (Oracle, u64),
        original_steps: usize,
        input: Input,
        trace: Trace,
        what: String,
    ) -> Self {
        Self {
            oracle,
            key,
            input,
            trace,
            what,
            original_steps,
            baseline: None,
            spec: (5321, oracle.section()),
        }
    }

    /// The file stem: `<class>-<key>`.
    pub fn stem(&self) -> String {
        format!("{}-{:016x}", self.oracle.name(), self.key)
    }
}

/// Who was fuzzed and how, for the header of every reproducer.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// The target as given.
    pub target: String,
    /// Its greeting.
    pub banner: String,
    /// The campaign's seed.
    pub seed: u64,
    /// When it was first seen (RFC 3339, UTC).
    pub seen: String,
}

/// The reproducer suite of `f`.
pub fn suite_yaml(f: &Finding, p: &Provenance) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Found by smtpspec fuzz (seed {}) on {}.",
        p.seed, p.seen
    );
    let _ = writeln!(out, "# Target: {} — {}", p.target, p.banner.trim_end());
    let _ = writeln!(out, "# {}", f.what);
    if f.oracle.off_the_wire() {
        let _ = writeln!(
            out,
            "# The evidence is in the target's process or store, not on the wire: \
             replay this case and watch its log, its memory, its exit, or count the \
             messages it stored."
        );
    }
    let _ = writeln!(
        out,
        "# Minimised from {} step(s) to {}. Replay: smtpspec run --target HOST:PORT THIS_FILE",
        f.original_steps,
        f.input.steps.len()
    );
    let _ = writeln!(out, "suite: fuzz.findings");
    let _ = writeln!(
        out,
        "description: A reproducer written by smtpspec fuzz; the last step is the oracle."
    );
    let _ = writeln!(out, "cases:");
    let _ = writeln!(out, "  - id: {}", f.stem());
    let _ = writeln!(out, "    title: \"{}\"", f.what.replace(['"', '\\'], "'"));
    let _ = writeln!(
        out,
        "    spec: {{ rfc: {}, section: \"{}\", level: MUST }}",
        f.spec.0, f.spec.1
    );
    let _ = writeln!(out, "    tags: [fuzz, {}]", f.oracle.name());
    let _ = writeln!(out, "    steps:");
    let _ = writeln!(out, "      - expect: {READY}");
    if let Some(base) = &f.baseline {
        out.push_str(&as_base(&f.input, base));
        return out;
    }
    // Every reply the target gave is read where the fuzzer read it, except at the
    // step the finding follows: there the oracle step stands for the missing answer.
    let mut answered = f.trace.answered.clone();
    let at = match &f.trace.end {
        End::Closed { step: Some(n), .. } | End::Malformed { step: Some(n), .. } => Some(*n),
        _ => None,
    };
    if let Some(n) = at {
        answered.truncate(n + 1);
    }
    let steps = Input {
        steps: f.input.steps[..at.map_or(f.input.steps.len(), |n| n + 1)].to_vec(),
    };
    let any: Vec<Vec<Option<u16>>> = answered.iter().map(|&k| vec![None; k]).collect();
    out.push_str(&steps.to_steps_yaml("      ", &any, Some(f.trace.tls_at)));
    match f.oracle {
        // Commands injected before the TLS handshake: nothing may come over TLS
        // before the client speaks.
        Oracle::Policy if !f.trace.injected.is_empty() => {
            let _ = writeln!(out, "      - expect_silence: \"{INJECTION_SILENCE}\"");
        }
        // The reply that broke the profile's policy must be a refusal.
        Oracle::Policy => {
            let _ = writeln!(out, "      - expect: {{ class: [4xx, 5xx] }}");
        }
        // The sync suffix, read as a conformant server answers it: one reply to RSET,
        // 221 to QUIT, and nothing after. A reply too many shifts the 221 off its
        // place or follows it.
        Oracle::Desync => {
            let _ = writeln!(out, "      - send_raw: \"{}\"", yaml_escape(sync()));
            let _ = writeln!(out, "      - expect_answer");
            let _ = writeln!(out, "      - expect: {CLOSING}");
            let _ = writeln!(out, "      - expect_silence: \"{AFTER_CLOSING}\"");
        }
        // The input and the replies the target gave it; where it closed, an answer
        // owed; where the sync suffix went out, its two replies. A server that only
        // logs or leaks passes on the wire: its process is the evidence.
        o if o.off_the_wire() && at.is_none() => {
            if matches!(&f.trace.sync, Sync::Replies(c) if !c.is_empty()) {
                let _ = writeln!(out, "      - send_raw: \"{}\"", yaml_escape(sync()));
                let _ = writeln!(out, "      - expect_answer");
                let _ = writeln!(out, "      - expect: {CLOSING}");
            }
        }
        // The sync suffix must get an answer at all.
        Oracle::Hang => {
            let _ = writeln!(out, "      - send_raw: \"{}\"", yaml_escape(sync()));
            let _ = writeln!(out, "      - expect_answer");
        }
        _ => {
            let _ = writeln!(out, "      - expect_answer");
        }
    }
    out
}

/// The steps of `input`, each followed by the codes `base` got (at the start of the
/// campaign, or from the reference server), then the sync suffix and its codes: a
/// server that answers otherwise fails, one that answers as `base` did passes.
pub fn as_base(input: &Input, base: &Trace) -> String {
    let mut out = input.to_steps_yaml("      ", &codes_by_step(input, base), Some(base.tls_at));
    if let Sync::Replies(codes) | Sync::Tail(codes) = &base.sync {
        let _ = writeln!(out, "      - send_raw: \"{}\"", yaml_escape(sync()));
        for c in codes {
            let _ = writeln!(out, "      - expect: {c}");
        }
        // Nothing more: a server that reads the octets otherwise answers commands
        // the base took for message content.
        let _ = writeln!(out, "      - expect_silence: \"{AFTER_CLOSING}\"");
    }
    out
}

/// The codes of `trace`'s replies, by the step they came after (the greeting left
/// out); a STARTTLS step's 220 is read by the step itself.
fn codes_by_step(input: &Input, trace: &Trace) -> Vec<Vec<Option<u16>>> {
    let mut out = vec![Vec::new(); input.steps.len()];
    for a in &trace.answers {
        if let Some(n) = a.step.filter(|&n| n < out.len()) {
            if matches!(input.steps[n], Step::Starttls) && a.code == READY && out[n].is_empty() {
                continue;
            }
            out[n].push(Some(a.code));
        }
    }
    out
}

/// The transcript as text: one line per event, octets escaped.
pub fn transcript_text(trace: &Trace) -> String {
    events_text(&trace.transcript, ["C:", "S:"])
}

/// Events as text, one line each, octets escaped; `labels` name what smtpspec sent
/// and what it received (`C:`, `S:` when smtpspec is the client).
pub fn events_text(events: &[crate::wire::Event], labels: [&str; 2]) -> String {
    let mut out = String::new();
    for e in events {
        let dir = match e.dir {
            Dir::Send => labels[0],
            Dir::Recv => labels[1],
            Dir::Tls => "--",
            Dir::Note => "##",
        };
        let _ = writeln!(out, "{dir} {}", escape(&e.data).replace('\n', "\\n"));
    }
    out
}

/// Write `f` under `dir` (`<stem>.yaml` and `<stem>.transcript.txt`); the suite path.
pub fn write(dir: &Path, f: &Finding, p: &Provenance) -> Result<PathBuf, HarnessError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| HarnessError::during(&dir.display().to_string(), e))?;
    let suite = dir.join(format!("{}.yaml", f.stem()));
    std::fs::write(&suite, suite_yaml(f, p))
        .map_err(|e| HarnessError::during(&suite.display().to_string(), e))?;
    let text = dir.join(format!("{}.transcript.txt", f.stem()));
    std::fs::write(&text, transcript_text(&f.trace))
        .map_err(|e| HarnessError::during(&text.display().to_string(), e))?;
    Ok(suite)
}

/// A corpus input as a suite: its sends only, for `--corpus` to read back. Not a test:
/// it expects nothing.
pub fn corpus_yaml(input: &Input) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# A fuzz corpus input kept by smtpspec fuzz: sends only, not a test."
    );
    let _ = writeln!(out, "suite: fuzz.corpus");
    let _ = writeln!(out, "cases:");
    let _ = writeln!(
        out,
        "  - id: input-{:016x}",
        super::signature::hash(format!("{input:?}").as_bytes())
    );
    let _ = writeln!(out, "    title: fuzz corpus input");
    let _ = writeln!(
        out,
        "    spec: {{ rfc: 5321, section: \"4.1\", level: MAY }}"
    );
    let _ = writeln!(out, "    tags: [fuzz-corpus]");
    let _ = writeln!(out, "    steps:");
    let _ = writeln!(out, "      - expect: {READY}");
    out.push_str(&input.to_steps_yaml("      ", &[], None));
    out
}
