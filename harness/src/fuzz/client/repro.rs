//! A client finding as what the project already reads: a client suite whose one case
//! replays the session (`smtpspec client --client PROFILE FILE`). smtpspec's side is
//! replayed octet for octet (`reply_raw`), the client's side as the verbs it sent,
//! and the step where the client went wrong says what a conformant client does there
//! instead, so the case fails on the client and passes on a conformant one.

use std::fmt::Write as _;

use smtp_protocol::Verb;

use super::judge::{Class, Seen};
use super::serve::{Step, Suspect, Trace};
use crate::fuzz::input::yaml_escape;

/// One finding of a client campaign.
#[derive(Debug, Clone)]
pub struct ClientFinding {
    /// What was found.
    pub seen: Seen,
    /// The session that showed it (after minimisation).
    pub trace: Trace,
    /// Faults in the plan before minimisation.
    pub original_faults: usize,
    /// Times it showed again when the plan was replayed, of the replays tried.
    pub confirmed: (usize, usize),
}

impl ClientFinding {
    /// The file stem: `<class>-<key>`.
    pub fn stem(&self) -> String {
        format!("{}-{:016x}", self.seen.class.name(), self.seen.key)
    }
}

/// The step a finding points at, and what a conformant client sends there instead.
struct Oracle {
    at: usize,
    step: String,
}

fn all_verbs_but(skip: &[Verb]) -> String {
    let v: Vec<&str> = Verb::ALL
        .iter()
        .filter(|v| !skip.contains(v))
        .map(|v| v.as_str())
        .collect();
    v.join(", ")
}

/// Where the oracle step goes in the script, for the classes a step can show.
fn oracle(f: &ClientFinding) -> Option<Oracle> {
    let lines = || {
        f.trace
            .steps
            .iter()
            .enumerate()
            .filter_map(|(k, s)| match s {
                Step::Line(l) => Some((k, l.as_slice())),
                _ => None,
            })
    };
    let suspect = f
        .trace
        .suspects
        .iter()
        .find(|s| same_class(s, f.seen.class))?;
    match suspect {
        Suspect::DataAfterRefusal(_) => {
            let (at, _) = lines().next_back()?;
            Some(Oracle {
                at,
                step: format!(
                    "- expect: {{ verbs: [{}], required: false }}",
                    all_verbs_but(&[])
                ),
            })
        }
        Suspect::Cleartext(verb) => {
            let tls = f.trace.steps.iter().position(|s| *s == Step::Tls);
            let (at, _) = lines()
                .find(|(k, l)| Verb::of_line(l) == Some(*verb) && tls.is_none_or(|t| *k < t))?;
            Some(Oracle {
                at,
                step: format!(
                    "- expect: {{ verbs: [{}], required: false }}",
                    all_verbs_but(&[Verb::Mail, Verb::Rcpt, Verb::Data, Verb::Auth, Verb::Bdat])
                ),
            })
        }
        Suspect::Unadvertised(what) => {
            let word = what.split_whitespace().next().unwrap_or_default();
            let verb = Verb::from_bytes(word.as_bytes())?;
            let (at, _) = lines().find(|(_, l)| Verb::of_line(l) == Some(verb))?;
            let param = what
                .split("parameter ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next());
            let step = match param {
                Some(key) => format!("- expect: {{ verbs: [{verb}], lacks: \"(?i) {key}\" }}"),
                None if what.contains("PIPELINING") => return None,
                None => format!(
                    "- expect: {{ verbs: [{}], required: false }}",
                    all_verbs_but(&[verb])
                ),
            };
            Some(Oracle { at, step })
        }
        Suspect::Injection(_) => {
            let tls = f.trace.steps.iter().position(|s| *s == Step::Tls)?;
            let (at, _) = lines().find(|(k, _)| *k > tls)?;
            Some(Oracle {
                at: at + 1,
                step: "- silence: 300ms".into(),
            })
        }
        Suspect::BareLineEnd(_) => None,
    }
}

fn same_class(s: &Suspect, c: Class) -> bool {
    matches!(
        (s, c),
        (Suspect::DataAfterRefusal(_), Class::DataAfterRefusal)
            | (Suspect::Cleartext(_), Class::Cleartext)
            | (Suspect::Unadvertised(_), Class::Unadvertised)
            | (Suspect::Injection(_), Class::Injection)
            | (Suspect::BareLineEnd(_), Class::BareLineEnd)
    )
}

/// The script lines of `step`.
fn script_step(step: &Step) -> String {
    match step {
        Step::Reply(b) => format!("- reply_raw: \"{}\"", yaml_escape(b)),
        Step::Line(l) => match Verb::of_line(l) {
            Some(v) => format!("- expect: {v}"),
            // A SASL response, or a line that is no command.
            None => "- expect: { matches: \"^\" }".into(),
        },
        Step::Content => "- expect_data: { crlf_only: true }".into(),
        // A client may refuse what came with the 220 (injected replies) and close:
        // that is right, and ends the replay without fault.
        Step::Tls => "- starttls_or_close".into(),
    }
}

/// The reproducer suite of `f`; `client` names the client and `seed` the campaign.
pub fn suite_yaml(f: &ClientFinding, client: &str, seed: u64) -> String {
    let mut out = String::new();
    let (rfc, section) = f.seen.class.spec();
    let _ = writeln!(
        out,
        "# Found by smtpspec fuzz --client (seed {seed}) on {client}."
    );
    let _ = writeln!(out, "# {}", f.seen.what.replace('\n', " "));
    let _ = writeln!(
        out,
        "# Faults: {} (minimised from {}); shown again in {} of {} replays.",
        f.trace.plan.describe(),
        f.original_faults,
        f.confirmed.0,
        f.confirmed.1
    );
    let _ = writeln!(
        out,
        "# Replay: smtpspec client --client PROFILE THIS_FILE{}",
        match f.seen.class {
            Class::Crash => " (the evidence is the client's exit and output)",
            Class::Hang => " (the client must exit once the script ends)",
            _ => "",
        }
    );
    let _ = writeln!(out, "suite: fuzz.client");
    let _ = writeln!(
        out,
        "description: A reproducer written by smtpspec fuzz --client; smtpspec's replies as sent."
    );
    let _ = writeln!(out, "cases:");
    let _ = writeln!(out, "  - id: {}", f.stem());
    let _ = writeln!(out, "    title: \"{}\"", title(&f.seen.what));
    let _ = writeln!(
        out,
        "    spec: {{ rfc: {rfc}, section: \"{section}\", level: MUST }}"
    );
    let _ = writeln!(out, "    tags: [fuzz, client, {}]", f.seen.class.name());
    let _ = writeln!(out, "    client:");
    let _ = writeln!(out, "      mode: {}", f.trace.plan.mode.as_str());
    let _ = writeln!(out, "      script:");
    let oracle = oracle(f);
    for (k, step) in f.trace.steps.iter().enumerate() {
        if let Some(o) = oracle.as_ref().filter(|o| o.at == k) {
            let _ = writeln!(out, "        {}", o.step);
            break;
        }
        let _ = writeln!(out, "        {}", script_step(step));
    }
    if let Some(o) = oracle.as_ref().filter(|o| o.at >= f.trace.steps.len()) {
        let _ = writeln!(out, "        {}", o.step);
    }
    out
}

fn title(what: &str) -> String {
    let t: String = what.chars().take(150).collect();
    t.replace(['"', '\\'], "'")
}

/// The transcript beside the reproducer.
pub fn transcript_text(f: &ClientFinding) -> String {
    let mut out = format!("{}\n{}\n\n", f.seen.what, f.trace.plan.describe());
    out.push_str(&crate::fuzz::finding::events_text(
        &f.trace.transcript,
        ["S:", "C:"],
    ));
    if let Some(e) = &f.trace.exit {
        let _ = writeln!(
            out,
            "\nclient exit: {}; output: {}",
            e.code
                .map_or_else(|| "by a signal".into(), |c| format!("status {c}")),
            e.output
        );
    } else {
        out.push_str("\nthe client did not exit; it was killed\n");
    }
    out
}

/// Write `f` under `dir` (`<stem>.yaml` and `<stem>.transcript.txt`); the suite path.
pub fn write(
    dir: &std::path::Path,
    f: &ClientFinding,
    client: &str,
    seed: u64,
) -> Result<std::path::PathBuf, crate::outcome::HarnessError> {
    use crate::outcome::HarnessError;
    std::fs::create_dir_all(dir)
        .map_err(|e| HarnessError::during(&dir.display().to_string(), e))?;
    let suite = dir.join(format!("{}.yaml", f.stem()));
    std::fs::write(&suite, suite_yaml(f, client, seed))
        .map_err(|e| HarnessError::during(&suite.display().to_string(), e))?;
    let text = dir.join(format!("{}.transcript.txt", f.stem()));
    std::fs::write(&text, transcript_text(f))
        .map_err(|e| HarnessError::during(&text.display().to_string(), e))?;
    Ok(suite)
}
