//! The oracles: what in a [`Trace`] is a finding, what is the target protecting
//! itself (throttling, never a finding), and what is nothing. Each finding class has
//! its rule and the RFC sentence it rests on here and in the README's fuzzing section.

use super::exec::{CLOSING, End, READY, SHUTTING_DOWN, Sync, Trace};
use super::hash::hash;
use super::input::Input;

/// A class of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Oracle {
    /// The target stopped accepting connections after it had accepted them: it died,
    /// or hangs (RFC 5321 §4.5.3.2 gives servers timeouts, not a right to stop).
    TargetDeath,
    /// The target stopped answering and kept the connection open: after every step
    /// was sent, octets with one reading and a pipelined RSET and QUIT got no reply
    /// within [`Limits::hang`](super::exec::Limits::hang) (RFC 5321 §4.2: "Every
    /// command MUST generate exactly one reply").
    Hang,
    /// The connection closed or reset after a complete command line, with no reply
    /// to it, no QUIT before and no 421 (RFC 5321 §3.8: a server closes only after
    /// QUIT, or when it must, with a 421 first).
    SilentClose,
    /// More replies than commands: after octets with one reading, every reply
    /// foreseen read in time, the pipelined RSET and QUIT got more than their two
    /// replies before the close (RFC 5321 §4.2: "exactly one reply"). A client reading
    /// such a server takes each later reply for the answer to the wrong command.
    Desync,
    /// A reply RFC 5321 §4.2 does not allow: a bad code, mixed codes in one
    /// multiline reply, a line without CRLF, an over-long reply line; or, inside a
    /// TLS session, octets that are no TLS record (a reply written in the clear,
    /// RFC 3207 §4).
    ReplyGrammar,
    /// The target's log (launched, or named with `--watch-log`) got a line with a
    /// crash's mark (`panicked at`, `SIGSEGV`, `AddressSanitizer`, …) that one input
    /// sent alone brings back: a session died inside a server that lived on.
    Log,
    /// The target's process group (launched, or named with `--watch-pid`) grew after
    /// the warm-up — resident memory per process doubled and the group's by 64 MiB
    /// or more, or descriptors per process doubled and the group's by 1000 or more —
    /// and one input sent 200 times, with the same processes, adds 4 KiB (or half a
    /// descriptor) a session: a leak that outlives the sessions, a slow death.
    ResourceGrowth,
    /// The canary, an ordinary transaction run before the campaign and every 10 s
    /// during it, gets other codes than at the start (not a 421), or takes ten times as
    /// long (and 500 ms more), and still does after a second with the campaign paused:
    /// the fuzzed sessions left a mark on the state sessions share.
    StateRegression,
    /// The target's store (readable: the embedded server's Maildir, a profile's
    /// `maildir`, `mbox` or `files`) holds more messages than the sessions saw
    /// acknowledged, and one input sent alone, every reply read, makes it gain more
    /// than its sessions acknowledged: two messages out of one DATA, one stored
    /// without a 250 (RFC 5321 §4.1.1.4, §6.1: the 250 is the server taking
    /// responsibility for the message it got, and for nothing else).
    AcceptedButWrong,
    /// A reply took ten times the 99th percentile of its command's replies (and
    /// 50 ms or more), and did again both times the input was sent again: work that
    /// grows with the input, a denial of service (RFC 5321 §4.5.3.2 gives clients
    /// minutes per command; a server that needs them for one input is a target).
    LatencyOutlier,
    /// The target did what its profile's `policy` says it must refuse, and did again
    /// when the input was sent again: AUTH succeeded in the clear where AUTH requires
    /// TLS (RFC 4954 §4), or a RCPT for a foreign domain was accepted without AUTH
    /// (an open relay, RFC 5321 §7.9).
    Policy,
}

impl Oracle {
    /// Every class, in order of severity.
    pub const ALL: [Self; 11] = [
        Self::TargetDeath,
        Self::AcceptedButWrong,
        Self::Policy,
        Self::Log,
        Self::Hang,
        Self::SilentClose,
        Self::Desync,
        Self::ReplyGrammar,
        Self::ResourceGrowth,
        Self::StateRegression,
        Self::LatencyOutlier,
    ];

    /// The name in file names, stats and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::TargetDeath => "target-death",
            Self::Hang => "hang",
            Self::SilentClose => "silent-close",
            Self::Desync => "reply-desync",
            Self::ReplyGrammar => "reply-grammar",
            Self::Log => "log",
            Self::ResourceGrowth => "resource-growth",
            Self::StateRegression => "state-regression",
            Self::AcceptedButWrong => "accepted-but-wrong",
            Self::LatencyOutlier => "latency-outlier",
            Self::Policy => "policy",
        }
    }

    /// The requirement a reproducer of this class tests.
    pub fn section(self) -> &'static str {
        match self {
            Self::TargetDeath | Self::SilentClose | Self::Log | Self::ResourceGrowth => "3.8",
            Self::ReplyGrammar | Self::Hang | Self::Desync => "4.2",
            Self::StateRegression => "3.3",
            Self::AcceptedButWrong => "4.1.1.4",
            Self::LatencyOutlier => "4.5.3.2",
            Self::Policy => "7.9",
        }
    }

    /// Its evidence is in the target's process (log, memory, exit), its store or its
    /// timing, not in what the replies say: a reproducer replays the input and the
    /// reader watches the process, counts the store or times the replies.
    pub fn off_the_wire(self) -> bool {
        matches!(
            self,
            Self::Log
                | Self::ResourceGrowth
                | Self::TargetDeath
                | Self::AcceptedButWrong
                | Self::LatencyOutlier
        )
    }
}

/// What one session shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    /// Nothing to report.
    Clean,
    /// The target refused service (a 421, a greeting other than 220, no greeting in
    /// time): its protection at work, counted apart.
    Throttled,
    /// The target could not be reached: a death when it is confirmed.
    Unreachable,
    /// The target refused the command before (4xx or 5xx) and then closed: it said
    /// why, as servers do against input they take for an attack (RFC 5321 §7.8); not
    /// a silent close, counted apart.
    ClosedAfterRefusal,
    /// A finding of `oracle`, deduplicated by `key`, at `step`.
    Finding {
        /// The class.
        oracle: Oracle,
        /// The step after which it showed (`None`: the greeting).
        step: Option<usize>,
        /// The command left unanswered, or answered wrongly.
        verb: String,
        /// What the target did, in words.
        what: String,
    },
}

/// The words of a silent close: how the connection ended and the command it left
/// unanswered (part of the finding's identity, so every caller words it here).
pub fn silent_close_what(reset: bool, verb: &str) -> String {
    let how = if reset { "reset" } else { "closed" };
    format!("the connection was {how} with no reply to {verb}")
}

/// Judge one session.
pub fn judge(input: &Input, trace: &Trace) -> Judged {
    let sync_codes = match &trace.sync {
        Sync::Replies(codes) | Sync::Tail(codes) => codes.as_slice(),
        _ => &[],
    };
    if trace
        .answers
        .iter()
        .map(|a| a.code)
        .chain(sync_codes.iter().copied())
        .any(|c| c == SHUTTING_DOWN)
    {
        return Judged::Throttled;
    }
    if trace.end == End::Finished
        && let Some(found) = after_sync(input, trace)
    {
        return found;
    }
    if tls_boundary(trace) {
        return Judged::Clean;
    }
    match &trace.end {
        End::Finished | End::Tls(..) => Judged::Clean,
        End::Unreachable(_) => Judged::Unreachable,
        End::NotServing(_) => Judged::Throttled,
        End::Malformed { step, verb, why } => Judged::Finding {
            oracle: Oracle::ReplyGrammar,
            step: *step,
            verb: verb.clone().unwrap_or_else(|| "?".into()),
            what: format!(
                "malformed reply to {}: {why}",
                verb.as_deref().unwrap_or("a command")
            ),
        },
        End::Closed {
            step: Some(n),
            unanswered,
            verb,
            reset,
        } if *unanswered > 0
            && !quit_before(input, *n)
            && !closing_code(trace)
            && !refused_last(trace) =>
        {
            let verb = verb.clone().unwrap_or_else(|| input.steps[*n].verb());
            Judged::Finding {
                oracle: Oracle::SilentClose,
                step: Some(*n),
                what: silent_close_what(*reset, &verb),
                verb,
            }
        }
        End::Closed { unanswered, .. } if *unanswered > 0 && refused_last(trace) => {
            Judged::ClosedAfterRefusal
        }
        End::Closed { .. } => Judged::Clean,
    }
}

/// What the sync suffix shows of a session whose steps all went out.
fn after_sync(input: &Input, trace: &Trace) -> Option<Judged> {
    let last = input.steps.len().checked_sub(1);
    let verb_at = |n: Option<usize>| n.map_or_else(|| "RSET".into(), |n| input.steps[n].verb());
    match &trace.sync {
        Sync::Hung => {
            // The command it stopped at: the first left without its reply.
            let verb = verb_at(trace.first_short);
            Some(Judged::Finding {
                oracle: Oracle::Hang,
                step: trace.first_short.or(last),
                what: format!(
                    "the target stopped answering at {verb}: no reply, and no close, to a \
                     pipelined RSET and QUIT"
                ),
                verb,
            })
        }
        // Replies foreseen and not read in time may arrive now: no count is owed.
        Sync::Replies(_) if trace.short > 0 => None,
        Sync::Replies(codes) if codes.len() > 2 => {
            let verb = verb_at(last);
            Some(Judged::Finding {
                oracle: Oracle::Desync,
                step: last,
                what: format!(
                    "more replies than commands: a pipelined RSET and QUIT after {verb} got \
                     {} replies ({}), not 2",
                    codes.len(),
                    codes
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                verb,
            })
        }
        _ => None,
    }
}

/// A hang's input without what followed the step the target stopped at, when nothing
/// after that step was answered: the target was silent from it on, so the steps after
/// it showed nothing. Confirming and minimising a hang wait out a reply deadline per
/// step and a hang per session, patiently (seconds each); sent whole, a planted hang
/// took 25 s to confirm and the 30 s of minimisation to come down from 7 steps to 5.
pub fn hang_cut(input: &Input, trace: &Trace) -> Option<Input> {
    let k = trace.first_short?;
    let later = trace.answered.get(k + 1..)?;
    (later.iter().all(|n| *n == 0) && k + 1 < input.steps.len()).then(|| Input {
        steps: input.steps[..=k].to_vec(),
    })
}

/// `trace` shows the finding of class `oracle` and identity `key`.
pub fn shows(input: &Input, trace: &Trace, oracle: Oracle, key: u64) -> bool {
    matches!(
        judge(input, trace),
        Judged::Finding { oracle: o, verb, what, .. } if o == oracle && self::key(o, &verb, &what) == key
    )
}

/// A finding's identity: its class, the command it answered (or left unanswered)
/// and the wording of what went wrong with numbers dropped, so one bug is one finding
/// however many inputs reach it.
///
/// A word that is no SMTP verb is one identity, whatever its letters: a server that
/// closes after its third unknown command, or answers one late, does so for `STAR`,
/// `?` and `AAAA` alike (an Exim campaign reported 37 silent closes, one per mutated
/// verb, for one limit). The log, resource and canary oracles name no command.
pub fn key(oracle: Oracle, verb: &str, what: &str) -> u64 {
    let folded = match oracle {
        Oracle::Log | Oracle::ResourceGrowth | Oracle::StateRegression => verb,
        _ => command_identity(verb),
    };
    let what: String = if folded == verb {
        what.to_owned()
    } else {
        what.split(' ')
            .map(|w| if w == verb { folded } else { w })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let shape = super::hash::shape(&what);
    hash(format!("{}/{folded}/{shape:x}", oracle.name()).as_bytes())
}

/// `verb` when it is an SMTP verb or one of the fuzzer's own names for a step
/// (`DATA-CONTENT`, `PAUSE`, none); `UNKNOWN` otherwise.
pub fn command_identity(verb: &str) -> &str {
    let known = verb.is_empty()
        || verb.contains('-')
        || verb == "PAUSE"
        || smtp_protocol::Verb::from_bytes(verb.as_bytes()).is_some();
    if known { verb } else { "UNKNOWN" }
}

/// A QUIT was sent at or before step `n` (any spelling, inside raw octets too).
fn quit_before(input: &Input, n: usize) -> bool {
    input.steps[..=n.min(input.steps.len().saturating_sub(1))]
        .iter()
        .any(|s| {
            s.writes()
                .concat()
                .windows(4)
                .any(|w| w.eq_ignore_ascii_case(b"QUIT"))
        })
}

/// A 220 to STARTTLS came and no TLS session followed it: the server then reads a
/// handshake, and what the fuzzer sent in plaintext after STARTTLS (RFC 3207 §4 wants
/// it last in a pipeline) ends the session on the TLS layer, not the SMTP one. Also
/// a second 220 inside TLS (a server that takes STARTTLS again, as aiosmtpd 1.4 does):
/// the fuzzer runs one handshake per session.
fn tls_boundary(trace: &Trace) -> bool {
    let readies = trace
        .answers
        .iter()
        .filter(|a| a.step.is_some() && a.code == READY)
        .count();
    readies > usize::from(trace.tls_up) && !matches!(trace.end, End::Finished)
}

/// The last reply before the close was a refusal (4xx or 5xx).
fn refused_last(trace: &Trace) -> bool {
    trace.last_code().is_some_and(|c| c >= 400)
}

/// The last reply announced the close: 221 (after QUIT) or 421.
fn closing_code(trace: &Trace) -> bool {
    matches!(trace.last_code(), Some(CLOSING | SHUTTING_DOWN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_that_are_no_verb_are_one_identity_and_verbs_keep_theirs() {
        let close = |verb: &str| key(Oracle::SilentClose, verb, &silent_close_what(false, verb));
        assert_eq!(close("STAR"), close("AAAAAAAAAAAA"));
        assert_eq!(close("?"), close("ST"));
        assert_ne!(close("STAR"), close("STARTTLS"));
        assert_ne!(close("NOOP"), close("QUIT"));
        // The log oracle's "verb" is its pattern: not folded.
        assert_ne!(
            key(Oracle::Log, "SIGSEGV", "x"),
            key(Oracle::Log, "panic", "x")
        );
    }
}
