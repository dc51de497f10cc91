//! The judge of a relay case (`expect: { relayed: { sequence } }`): a content that
//! carries a smuggling sequence was handed to the sender, and the scripted MX shows
//! what the sender passed on.
//!
//! A relay may refuse the message, or pass on exactly one message with CRLF line ends
//! only (RFC 5321 §2.3.8: a client MUST NOT send a bare CR or LF). Two messages, or
//! replies to the smuggled commands, mean the relay ended DATA at the sequence itself
//! (§4.1.1.4). What happened to the sequence is kept as a fact beside the verdict:
//! a relay that passes it on as sent, paired with a receiver that ends DATA at it, is
//! a smuggling chain (`smtpspec report --chains`).

use smtp_protocol::Verb;
use smtp_protocol::reply::ReplyCode;

use super::judge::Observation;
use super::note;
use super::submit::Handover;
use crate::outcome::{Outcome, Unmet};
use crate::scenario::sender::RelayedExpect;
use crate::wire::{Event, escape};

/// Octets of each message shown in the transcript.
const SHOWN: usize = 2048;

/// What a relay did with the smuggled sequence; in the JSON report as `relayed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relayed {
    /// Refused the message.
    Refused,
    /// Ended DATA at the sequence: the smuggled commands were obeyed.
    Split,
    /// One message, with the sequence in it as it was sent.
    Passed,
    /// One message, the sequence not in it as sent (line ends repaired, dot-stuffed).
    Normalised,
}

impl Relayed {
    /// As the report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::Split => "split",
            Self::Passed => "passed",
            Self::Normalised => "normalised",
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// No verdict when the relay refused the envelope (at MAIL, RCPT or DATA): it never
/// saw the content, so its refusal says nothing about the sequence (a relay that
/// refuses to relay, or a broken policy service behind it).
fn unseen(handover: Option<&Handover>, name: &str) -> Option<Outcome> {
    let h = handover.filter(|h| h.envelope_refused)?;
    Some(Outcome::Inconclusive(format!(
        "the relay refused the envelope before the content was sent ({}): nothing shows \
         what it does with {name}",
        h.refusal().unwrap_or_default()
    )))
}

/// The verdict over what the scripted servers took, and what became of the sequence
/// (none when nothing shows it).
pub(super) fn judge(
    rule: &RelayedExpect,
    seen: &Observation,
    transcript: &mut Vec<Event>,
) -> (Outcome, Option<Relayed>) {
    let Some(end) = rule.end() else {
        return (
            Outcome::Inconclusive(format!("no such end of data: {}", rule.sequence)),
            None,
        );
    };
    let seq = end.bytes();
    let name = format!("{} ({})", end.name(), end.escaped());
    for (ip, m) in &seen.received {
        let cut = m.raw.len().min(SHOWN);
        transcript.push(note(format!(
            "message taken at {ip}: {} octets, {} bare CR, {} bare LF, as it came: {}{}",
            m.raw.len(),
            m.bare_cr,
            m.bare_lf,
            escape(&m.raw[..cut]),
            if cut < m.raw.len() { " …" } else { "" }
        )));
    }
    let handover = seen.runs.iter().find_map(|r| r.handover.as_ref());
    if let Some(outcome) = unseen(handover, &name) {
        return (outcome, None);
    }
    let refused = handover.and_then(Handover::refusal);
    if let Some(unmet) = split(handover, seen.received.len(), &name) {
        return (Outcome::Unmet(unmet), Some(Relayed::Split));
    }
    let Some((ip, m)) = seen.received.first() else {
        return match refused {
            Some(r) => (
                Outcome::Pass(format!(
                    "the relay refused the message carrying {name}: {r}"
                )),
                Some(Relayed::Refused),
            ),
            None => (
                Outcome::Inconclusive(format!(
                    "no message reached the MX and the relay did not refuse it: nothing shows \
                     what it does with {name}"
                )),
                None,
            ),
        };
    };
    // The final `.` CRLF is the real end of data, not the content: the sequences
    // `\n.\r` and `\r\n.\r` would otherwise be found in it.
    let content = m.raw.strip_suffix(b".\r\n").unwrap_or(&m.raw);
    let verbatim = contains(content, seq);
    let fact = if verbatim {
        Relayed::Passed
    } else {
        Relayed::Normalised
    };
    let chain = if verbatim {
        format!(
            "; {name} arrived as it was sent, so a receiver that ends DATA at it would take \
             what follows as a second message"
        )
    } else {
        String::new()
    };
    if m.bare_cr + m.bare_lf > 0 {
        let got = if verbatim {
            format!("{name} passed through")
        } else {
            "bare line ends".to_owned()
        };
        let unmet = Unmet::wanted("CRLF line ends only", &got).said(format!(
            "wanted CRLF line ends only, got {got}: the relay sent {} bare CR and {} bare LF \
             to {ip} (RFC 5321 §2.3.8: CR and LF only together, as CRLF){chain}",
            m.bare_cr, m.bare_lf
        ));
        return (Outcome::Unmet(unmet), Some(fact));
    }
    let smuggled = smuggled_command(&m.raw);
    let why = if verbatim {
        format!("one message at {ip}, CRLF line ends only{chain}")
    } else {
        format!("one message at {ip}, CRLF line ends only; {name} did not arrive as sent")
    };
    let why = match smuggled {
        Some(verb) => format!("{why} (the smuggled {verb} stayed content)"),
        None => why,
    };
    (Outcome::Pass(why), Some(fact))
}

/// The relay ended DATA at the sequence itself: more than one reply to the end of
/// data, more than one message at the MX, or a message after a refusal.
fn split(handover: Option<&Handover>, taken: usize, name: &str) -> Option<Unmet> {
    let refused = handover.is_some_and(|h| h.refused.is_some());
    // A 421 may come unasked when a server shuts the session down (RFC 5321 §3.8): it
    // answers nothing the relay read.
    let replies = handover.map_or(0, |h| {
        h.after_content
            .iter()
            .filter(|&&code| code != ReplyCode::SERVICE_NOT_AVAILABLE.get())
            .count()
    });
    if taken <= 1 && replies <= 1 && !(refused && taken > 0) {
        return None;
    }
    let why = if replies > 1 {
        format!(
            "the relay answered {replies} replies to one end of data ({}): it ended DATA \
             at {name} and obeyed the commands after it (RFC 5321 §4.1.1.4); \
             {taken} message(s) reached the MX",
            handover.map_or_else(String::new, |h| h
                .after_content
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", "))
        )
    } else {
        format!(
            "{taken} message(s) reached the MX for one handed over{}: the relay ended DATA \
             at {name} and made a message of the commands after it (RFC 5321 §4.1.1.4)",
            if refused { " and refused" } else { "" }
        )
    };
    let got = format!("DATA ended at {name}");
    Some(Unmet::wanted("one message", &got).said(format!("wanted one message, got {got}: {why}")))
}

/// The first smuggled command line kept inside the message, if any: the evidence that
/// the relay carried the commands on as content.
fn smuggled_command(raw: &[u8]) -> Option<&'static str> {
    raw.split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b' ' || b == b':').next())
        .filter_map(Verb::from_bytes)
        .find(|v| *v == Verb::Mail)
        .map(|_| "MAIL")
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_protocol::reply::Reply;

    fn handover(refused: Option<&str>, codes: &[u16]) -> Handover {
        Handover {
            refused: refused.map(|l| Reply::parse(format!("{l}\r\n").as_bytes()).unwrap().reply),
            after_content: codes.to_vec(),
            ..Handover::default()
        }
    }

    #[test]
    fn a_split_is_more_than_one_answer_or_message() {
        let one = handover(None, &[250]);
        assert!(split(Some(&one), 1, "x").is_none());
        assert!(split(None, 1, "x").is_none());
        // The smuggled commands answered, or a second message at the MX.
        let five = handover(None, &[250, 250, 250, 354, 250]);
        assert!(split(Some(&five), 2, "x").is_some());
        assert!(split(Some(&one), 2, "x").is_some());
        assert!(split(None, 2, "x").is_some());
        // Refused, and still something reached the MX: the part after the sequence.
        let refused = handover(Some("550 no"), &[550]);
        assert!(split(Some(&refused), 0, "x").is_none());
        assert!(split(Some(&refused), 1, "x").is_some());
        // A server closing the session says so unasked: no reply to a smuggled command.
        let closing = handover(None, &[250, 421]);
        assert!(split(Some(&closing), 1, "x").is_none());
    }

    #[test]
    fn the_real_end_of_data_is_not_the_sequence() {
        // `\r\n.\r` is in every end of data; only the content before it counts.
        let raw = b"body\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n";
        let content = raw.strip_suffix(b".\r\n").unwrap();
        assert!(contains(raw, b"\r\n.\r"));
        assert!(!contains(content, b"\r\n.\r"));
    }

    #[test]
    fn an_envelope_refusal_is_no_refusal_of_the_content() {
        let mut h = handover(Some("451 4.3.5 Server configuration problem"), &[]);
        h.envelope_refused = true;
        assert!(matches!(
            unseen(Some(&h), "x"),
            Some(Outcome::Inconclusive(_))
        ));
        let at_end = handover(Some("550 bare LF"), &[550]);
        assert!(unseen(Some(&at_end), "x").is_none());
        assert!(unseen(None, "x").is_none());
    }
}
