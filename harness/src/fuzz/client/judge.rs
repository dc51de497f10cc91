//! The oracles of client fuzzing: what a client under test must never do, whatever
//! the server says. Each names the rule it breaks.

use std::fmt::Write as _;

use super::serve::{Suspect, Trace};

/// A class of client finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// The client died by a signal, or printed a sanitizer report or a fatal error.
    Crash,
    /// The client was still running its whole run limit after the server closed the
    /// connection.
    Hang,
    /// It used a command, parameter or pipelining the server did not offer.
    Unadvertised,
    /// It sent message content after DATA was refused.
    DataAfterRefusal,
    /// It sent a bare CR or LF.
    BareLineEnd,
    /// It took replies injected before the TLS handshake as answers in TLS.
    Injection,
    /// Told to require TLS, it sent mail or credentials in the clear.
    Cleartext,
}

impl Class {
    /// As file names, stats and tags have it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crash => "crash",
            Self::Hang => "hang",
            Self::Unadvertised => "unadvertised",
            Self::DataAfterRefusal => "data-after-refusal",
            Self::BareLineEnd => "bare-line-end",
            Self::Injection => "injection",
            Self::Cleartext => "cleartext",
        }
    }

    /// The RFC and section of the rule.
    pub fn spec(self) -> (u16, &'static str) {
        match self {
            // A client must handle any reply by its first digit, codes it does not know
            // included (§4.2); dying or waiting forever on one handles nothing.
            Self::Crash => (5321, "4.2"),
            Self::Hang => (5321, "4.5.3.2"),
            Self::Unadvertised => (5321, "4.1.1.2"),
            Self::DataAfterRefusal => (5321, "3.3"),
            Self::BareLineEnd => (5321, "2.3.8"),
            // After the handshake the client must discard what it knew from before it.
            Self::Injection => (3207, "4.2"),
            Self::Cleartext => (3207, "4.1"),
        }
    }
}

/// What a client prints when it crashed rather than failed: sanitizers, native faults,
/// runtimes' fatal errors and errors nobody caught.
const CRASH_MARKS: [&str; 14] = [
    "AddressSanitizer",
    "UndefinedBehaviorSanitizer",
    "LeakSanitizer",
    "runtime error:",
    "panicked at",
    "Segmentation fault",
    "core dumped",
    "stack smashing",
    "double free",
    "FATAL ERROR",
    "Fatal Python error",
    "Traceback (most recent call last)",
    "Unhandled 'error' event",
    "UnhandledPromiseRejection",
];

/// One thing found in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The class.
    pub class: Class,
    /// Its identity: class and the detail that tells two findings apart.
    pub key: u64,
    /// In words.
    pub what: String,
}

fn seen(class: Class, detail: &str, what: String) -> Seen {
    let key = super::super::hash::hash(format!("{}\0{detail}", class.name()).as_bytes());
    Seen { class, key, what }
}

/// Every finding `trace` shows.
pub fn judge(trace: &Trace, limit: std::time::Duration) -> Vec<Seen> {
    let mut out = Vec::new();
    if trace.no_connection {
        return out;
    }
    match &trace.exit {
        None => out.push(seen(
            Class::Hang,
            &hang_detail(trace),
            format!(
                "the client was still running {} ms after smtpspec closed the connection ({})",
                limit.as_millis(),
                trace.plan.describe()
            ),
        )),
        Some(e) => {
            if e.code.is_none() {
                let name = signal_name(e.signal);
                out.push(seen(
                    Class::Crash,
                    &name,
                    format!("the client died by {name} ({})", trace.plan.describe()),
                ));
            }
            if let Some(mark) = CRASH_MARKS.iter().find(|m| e.output.contains(**m)) {
                let mut what = format!("the client printed {mark:?} ({})", trace.plan.describe());
                let at = e.output.find(mark).unwrap_or(0);
                let tail: String = e.output[at..].chars().take(160).collect();
                let _ = write!(what, ": {tail}");
                out.push(seen(Class::Crash, mark, what));
            }
        }
    }
    for s in &trace.suspects {
        out.push(match s {
            Suspect::BareLineEnd(place) => seen(
                Class::BareLineEnd,
                place,
                format!("the client sent a bare CR or LF in its {place} (RFC 5321 §2.3.8: CR and LF only as CRLF)"),
            ),
            Suspect::Unadvertised(what) => seen(
                Class::Unadvertised,
                &what.replace(|c: char| c.is_ascii_digit(), "#"),
                format!("the client sent {what} ({})", trace.plan.describe()),
            ),
            Suspect::DataAfterRefusal(line) => seen(
                Class::DataAfterRefusal,
                "content",
                format!(
                    "DATA was refused and the client sent {:?} anyway (RFC 5321 §3.3: message \
                     data MUST NOT be sent unless a 354 reply is received)",
                    String::from_utf8_lossy(&line[..line.len().min(60)])
                ),
            ),
            Suspect::Injection(what) => seen(Class::Injection, "tls", what.clone()),
            Suspect::Cleartext(verb) => seen(
                Class::Cleartext,
                verb.as_str(),
                format!(
                    "told to require TLS, the client sent {verb} before TLS was up ({})",
                    trace.plan.describe()
                ),
            ),
        });
    }
    out
}

/// A signal as people know it (SIGPIPE: the client wrote to the connection smtpspec
/// had closed and did not handle it; SIGSEGV, SIGABRT: memory or an assertion).
fn signal_name(signal: Option<i32>) -> String {
    let name = match signal {
        Some(4) => "SIGILL",
        Some(6) => "SIGABRT",
        Some(7) => "SIGBUS",
        Some(8) => "SIGFPE",
        Some(9) => "SIGKILL",
        Some(11) => "SIGSEGV",
        Some(13) => "SIGPIPE",
        Some(15) => "SIGTERM",
        _ => "",
    };
    match signal {
        Some(n) if !name.is_empty() => format!("{name} ({n})"),
        Some(n) => format!("signal {n}"),
        None => "a signal".into(),
    }
}

/// A hang's identity: the faults of its session, by kind and place.
fn hang_detail(trace: &Trace) -> String {
    let mut d: Vec<String> = trace
        .plan
        .faults
        .iter()
        .map(|f| format!("{:?}", f.at))
        .collect();
    d.sort();
    d.join(",")
}

#[cfg(test)]
mod tests {
    use super::super::plan::Plan;
    use super::super::serve::Ended;
    use super::*;
    use crate::scenario::client::ClientMode;

    fn trace(exit: Option<Ended>, suspects: Vec<Suspect>) -> Trace {
        Trace {
            plan: Plan {
                mode: ClientMode::Plain,
                faults: Vec::new(),
            },
            steps: Vec::new(),
            suspects,
            verbs: Vec::new(),
            exit,
            no_connection: false,
            transcript: Vec::new(),
        }
    }

    fn classes(t: &Trace) -> Vec<Class> {
        judge(t, std::time::Duration::from_secs(1))
            .into_iter()
            .map(|s| s.class)
            .collect()
    }

    #[test]
    fn a_clean_exit_with_nothing_suspect_is_no_finding() {
        let ok = Ended {
            code: Some(1),
            signal: None,
            output: "smtp error: 554 refused".into(),
        };
        assert!(classes(&trace(Some(ok), Vec::new())).is_empty());
    }

    #[test]
    fn signals_marks_and_hangs_are_findings() {
        let signal = Ended {
            code: None,
            signal: Some(11),
            output: String::new(),
        };
        assert_eq!(classes(&trace(Some(signal), Vec::new())), [Class::Crash]);
        let asan = Ended {
            code: Some(1),
            signal: None,
            output: "==1==ERROR: AddressSanitizer: heap-buffer-overflow".into(),
        };
        assert_eq!(classes(&trace(Some(asan), Vec::new())), [Class::Crash]);
        assert_eq!(classes(&trace(None, Vec::new())), [Class::Hang]);
        let bare = trace(
            Some(Ended {
                code: Some(0),
                signal: None,
                output: String::new(),
            }),
            vec![Suspect::BareLineEnd("content")],
        );
        assert_eq!(classes(&bare), [Class::BareLineEnd]);
    }
}
