//! Why a target refused service: the wording of its 421 (or of a greeting other than
//! 220), and of the refusal it closed after. Throttling is no finding, but a campaign
//! that spent two thirds of its sessions on "421 Too many concurrent SMTP
//! connections" must say so, with the setting that lifts it, or its figures mislead.

use std::collections::BTreeMap;

use super::exec::{End, Trace};
use crate::wire::Dir;

/// Most distinct wordings kept per count; the rest are counted under [`OTHER`].
const KEPT: usize = 16;
/// The key of wordings past [`KEPT`].
pub const OTHER: &str = "(other replies)";

/// The reply that refused service in a throttled session: the greeting when it was no
/// 220, else the first 421.
pub fn throttled(trace: &Trace) -> String {
    if let End::Unreachable(why) = &trace.end {
        return format!("not reached: {why}");
    }
    let lines = reply_lines(trace);
    let first = if matches!(trace.end, End::NotServing(_)) {
        lines.first()
    } else {
        lines.iter().find(|l| l.starts_with("421"))
    };
    first.map_or_else(|| "(no reply read)".to_owned(), |l| wording(l))
}

/// The last refusal (4xx or 5xx) before the target closed the connection.
pub fn refused_before_close(trace: &Trace) -> String {
    reply_lines(trace)
        .iter()
        .rev()
        .find(|l| l.starts_with('4') || l.starts_with('5'))
        .map_or_else(|| "(no refusal read)".to_owned(), |l| wording(l))
}

/// Count one more session under `why`, keeping at most [`KEPT`] wordings.
pub fn count(by: &mut BTreeMap<String, u64>, why: String) {
    if by.len() >= KEPT && !by.contains_key(&why) {
        *by.entry(OTHER.to_owned()).or_default() += 1;
    } else {
        *by.entry(why).or_default() += 1;
    }
}

/// What to change when the wording says the target limits connections.
pub fn advice(why: &str) -> Option<&'static str> {
    let w = why.to_ascii_lowercase();
    (w.contains("too many") && w.contains("connection")).then_some(
        "the target limits connections at once or per client: raise that limit (Exim \
         smtp_accept_max, Postfix smtpd_client_connection_count_limit and \
         smtpd_client_connection_rate_limit) or give fewer --jobs",
    )
}

/// The final lines of the replies read, as text.
fn reply_lines(trace: &Trace) -> Vec<String> {
    let received: Vec<u8> = trace
        .transcript
        .iter()
        .filter(|e| e.dir == Dir::Recv)
        .flat_map(|e| e.data.iter().copied())
        .collect();
    String::from_utf8_lossy(&received)
        .split("\r\n")
        .filter(|l| l.len() >= 3 && l.as_bytes()[..3].iter().all(u8::is_ascii_digit))
        .filter(|l| l.as_bytes().get(3) != Some(&b'-'))
        .map(str::to_owned)
        .collect()
}

/// A reply line as a key: digits after the code as `#` (dates, counts, addresses),
/// at most 100 characters.
fn wording(line: &str) -> String {
    let (code, text) = line.split_at(3);
    let text: String = text
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .filter(|c| !c.is_control())
        .take(97)
        .collect();
    format!("{code}{text}")
}

#[cfg(test)]
mod tests {
    use super::{End, OTHER, Trace, advice, count, refused_before_close, throttled};
    use crate::wire::{Dir, Event};

    fn trace(end: End, received: &[&str]) -> Trace {
        let mut t = Trace::unreachable("");
        t.end = end;
        t.transcript = received
            .iter()
            .map(|r| Event {
                dir: Dir::Recv,
                data: r.as_bytes().to_vec(),
            })
            .collect();
        t
    }

    #[test]
    fn a_refused_greeting_is_its_own_reason() {
        let t = trace(
            End::NotServing(421),
            &["421 mx.test Too many concurrent SMTP connections; try again at 10:42\r\n"],
        );
        let why = throttled(&t);
        assert_eq!(
            why,
            "421 mx.test Too many concurrent SMTP connections; try again at ##:##"
        );
        assert!(advice(&why).is_some_and(|a| a.contains("smtp_accept_max")));
    }

    #[test]
    fn a_421_in_the_session_is_found_behind_the_others() {
        let t = trace(
            End::Finished,
            &[
                "220-mx.test\r\n220 ESMTP\r\n250 ok\r\n",
                "500 5.5.2 what?\r\n421 4.7.0 mx.test Error: too many errors\r\n",
            ],
        );
        assert_eq!(throttled(&t), "421 #.#.# mx.test Error: too many errors");
        assert_eq!(advice(&throttled(&t)), None);
        assert_eq!(
            refused_before_close(&t),
            "421 #.#.# mx.test Error: too many errors"
        );
    }

    #[test]
    fn wordings_past_sixteen_are_counted_together() {
        let mut by = Default::default();
        for i in 0..20 {
            count(&mut by, format!("421 reason {}", "x".repeat(i)));
        }
        count(&mut by, "421 reason ".into());
        assert_eq!(by.len(), 17);
        assert_eq!(by[OTHER], 4);
        assert_eq!(by["421 reason "], 2);
    }
}
