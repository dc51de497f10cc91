//! Evidence before a finding: the input that showed it is sent again, and it must show
//! again. A silent close is sent again one command line per write, and only an
//! orderly close counts: a server that closes with input unread resets the
//! connection, and the reset throws away what it sent just before (Postfix's 221 to a
//! non-SMTP command was seen lost so), so a reset shows no silence.

use std::net::SocketAddr;

use super::exec::{self, End, Limits, Sync, Trace};
use super::input::Input;
use super::oracle::{self, Judged, Oracle};

/// What confirmed a finding: the input that shows it, its trace, the wording and the
/// identity (a silent close confirmed unpipelined has its own).
pub type Confirmed = (Input, Trace, String, u64);

/// The finding of class `oracle` and identity `key` that `input` showed, shown again.
pub async fn confirm(
    target: SocketAddr,
    limits: Limits,
    input: &Input,
    oracle: Oracle,
    key: u64,
) -> Option<Confirmed> {
    if oracle == Oracle::SilentClose {
        return silent_close(target, limits, input).await;
    }
    let limits = if oracle == Oracle::Hang {
        limits.patient()
    } else {
        limits
    };
    let again = exec::run(target, input, limits).await;
    match oracle::judge(input, &again) {
        Judged::Finding { what, .. } if oracle::shows(input, &again, oracle, key) => {
            Some((input.clone(), again, what, key))
        }
        _ => None,
    }
}

async fn silent_close(target: SocketAddr, limits: Limits, input: &Input) -> Option<Confirmed> {
    let slow = input.unpipelined();
    let t = exec::run(target, &slow, limits).await;
    let End::Closed {
        step: Some(n),
        reset: false,
        unanswered: 1..,
        verb,
    } = &t.end
    else {
        return None;
    };
    let (n, verb) = (*n, verb.clone().unwrap_or_else(|| slow.steps[*n].verb()));
    match oracle::judge(&slow, &t) {
        Judged::Finding {
            oracle: Oracle::SilentClose,
            verb,
            what,
            ..
        } => {
            let key = oracle::key(Oracle::SilentClose, &verb, &what);
            Some((slow, t, what, key))
        }
        // The last reply refused an earlier line: the server may have closed for that
        // refusal (it said why, RFC 5321 §7.8) or for this line. The lines before it,
        // alone, tell: a server that stays open after them and answers the sync
        // suffix closed for this line.
        Judged::ClosedAfterRefusal if t.answers.last().and_then(|a| a.step) < Some(n) => {
            let before = Input {
                steps: slow.steps[..n].to_vec(),
            };
            let probe = exec::run(target, &before, limits).await;
            let stayed = probe.end == End::Finished
                && matches!(&probe.sync, Sync::Replies(codes) if !codes.is_empty());
            if !stayed {
                return None;
            }
            let what = oracle::silent_close_what(false, &verb);
            let key = oracle::key(Oracle::SilentClose, &verb, &what);
            Some((slow, t, what, key))
        }
        _ => None,
    }
}
