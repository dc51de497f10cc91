//! Which command each `expect` of a case answers, and the lint that holds every
//! expected code set to RFC 5321 §4.3.2.
//!
//! §4.3.2 lists, for each command, the replies a server may give; any command may
//! also get 500, 501 and 421. A case that accepts fewer codes of a class than the
//! list names would fail a server that chose another listed code, unless some other
//! sentence of the RFCs narrows the choice. So `smtpspec check` requires, for every
//! expectation, either every listed code of each accepted class, or the sentence
//! that narrows it (`because:`). The preferred code can still be named (`prefer:`):
//! the others then warn instead of failing.

use std::collections::VecDeque;

use smtp_protocol::Verb;
use smtp_protocol::reply::{ReplyCode, ReplyTo, Sequence};

use super::{Action, Case, LoadError};

/// Walk the steps and note, on every `expect`, the moment its reply answers.
pub(super) fn assign(steps: &mut [super::LocatedAction]) {
    let mut queue: VecDeque<Option<ReplyTo>> = VecDeque::from([Some(ReplyTo::Greeting)]);
    // After a 354 the next octets are content, up to the end of data.
    let mut in_data = false;
    // After a 334 the next line is a SASL response, answered as AUTH is.
    let mut in_auth = false;
    let mut bdat_chunk = false;
    for step in steps.iter_mut() {
        if std::mem::take(&mut bdat_chunk) && matches!(step.action, Action::SendRaw(_)) {
            continue;
        }
        if let Action::SendRaw(text) = &step.action
            && !in_data
            && text.to_ascii_uppercase().starts_with("BDAT ")
        {
            // A BDAT line and its chunk: one reply, whatever the chunk holds.
            queue.push_back(Some(ReplyTo::Command(Verb::Bdat)));
            continue;
        }
        match &mut step.action {
            Action::Send(line) if in_data && line == "." => {
                queue.push_back(Some(ReplyTo::DataEnd));
                in_data = false;
            }
            Action::Send(_) if in_data => {}
            Action::Send(_) if in_auth => queue.push_back(Some(ReplyTo::Command(Verb::Auth))),
            Action::Send(line) => {
                queue.push_back(verb(line));
                // The chunk of a BDAT follows in the next step, as octets.
                bdat_chunk = line.to_ascii_uppercase().starts_with("BDAT ");
                continue;
            }
            Action::SendRaw(text) if in_data => {
                if text.ends_with("\\r\\n.\\r\\n") || text == ".\\r\\n" {
                    queue.push_back(Some(ReplyTo::DataEnd));
                    in_data = false;
                } else if text.contains("\\r\\n.\\r\\n") {
                    // An end with more after it: what follows is not a plain command.
                    queue.push_back(Some(ReplyTo::DataEnd));
                    queue.push_back(None);
                    in_data = false;
                }
            }
            Action::SendRaw(text) => {
                let lines: Vec<&str> = text.split("\\r\\n").collect();
                let (complete, rest) = lines.split_at(lines.len() - 1);
                // Anything but plain CRLF lines makes the count of replies uncertain.
                let plain = rest == [""] && complete.iter().all(|l| !l.contains("\\n"));
                for l in complete {
                    queue.push_back(if plain { verb(l) } else { None });
                }
                if !plain {
                    queue.push_back(None);
                }
            }
            Action::SendBatch { lines, .. } => {
                for l in lines.iter() {
                    queue.push_back(verb(l));
                }
            }
            Action::SendBody { stuff: true, .. } => {
                queue.push_back(Some(ReplyTo::DataEnd));
                in_data = false;
            }
            Action::Expect(m) => {
                m.answers = queue.pop_front().flatten();
                let intermediate = |c: &u16| c / 100 == 3;
                in_data = m.codes.contains(&ReplyCode::START_MAIL_INPUT.get())
                    && m.codes.iter().all(intermediate);
                in_auth = m.codes.contains(&ReplyCode::AUTH_CHALLENGE.get());
                if in_data {
                    // The content is about to follow; pipelined commands are answered
                    // before the 354 and are gone from the queue.
                    queue.clear();
                }
            }
            // Any reply: it answers the next command all the same, and leaves the state
            // unknown (a 354 or a 334 may have begun content or an exchange).
            Action::ExpectAnswer => {
                queue.pop_front();
                in_auth = false;
                in_data = false;
            }
            Action::NotEnded { .. } | Action::Starttls | Action::Handshake => {
                queue.clear();
                in_data = false;
            }
            _ => {}
        }
    }
}

/// The command a line sends, by its verb.
fn verb(line: &str) -> Option<ReplyTo> {
    let word = line.split(' ').next()?;
    Verb::from_bytes(word.to_ascii_uppercase().as_bytes()).map(ReplyTo::Command)
}

/// A name for a moment, for messages.
pub fn describe(to: ReplyTo) -> String {
    match to {
        ReplyTo::Greeting => "the greeting".into(),
        ReplyTo::DataEnd => "the end of data".into(),
        ReplyTo::Command(v) => v.as_str().to_owned(),
    }
}

/// The codes §4.3.2 (and the extension RFCs) list for `to`, for the lint: 421 is left
/// out (the runner never counts it against a case), and 500/501 only answer commands.
pub fn listed(to: ReplyTo) -> Vec<u16> {
    let s = Sequence::of(to);
    let mut codes: Vec<u16> = s
        .intermediate
        .iter()
        .chain(s.success)
        .chain(s.error)
        .copied()
        .collect();
    if matches!(to, ReplyTo::Command(_)) {
        // RFC 5321 §4.2.4: any command may get 500 or 501.
        codes.extend([
            ReplyCode::SYNTAX_ERROR.get(),
            ReplyCode::ARGUMENT_ERROR.get(),
        ]);
    }
    // 421 may answer anything (§3.8); the runner treats it as a refusal of service.
    codes.retain(|c| *c != ReplyCode::SERVICE_NOT_AVAILABLE.get());
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// Every expectation of `case` narrower than §4.3.2 without a sentence that says why;
/// and a client case held to MUST without the sentence that makes it one.
pub fn lint(case: &Case) -> Vec<LoadError> {
    let mut problems = Vec::new();
    if case.client().is_some()
        && case.meta.spec.level == crate::scenario::Level::Must
        && case.meta.spec.quote.is_none()
    {
        problems.push(LoadError::file(
            &case.meta.file,
            format!(
                "case {}: a client MUST cites the sentence that makes it one (spec.quote)",
                case.meta.id
            ),
        ));
    }
    for step in case.steps() {
        let Action::Expect(m) = &step.action else {
            continue;
        };
        let (Some(to), false, None) = (m.answers, m.codes.is_empty(), &m.because) else {
            continue;
        };
        if !m.class.is_empty() {
            // A class accepts every code of it.
            continue;
        }
        let listed = listed(to);
        let mut classes: Vec<u16> = m.codes.iter().map(|c| c / 100).collect();
        classes.dedup();
        let missing: Vec<u16> = listed
            .iter()
            .filter(|l| classes.contains(&(*l / 100)) && !m.codes.contains(l))
            .copied()
            .collect();
        if !missing.is_empty() {
            problems.push(LoadError::at(
                &case.meta.file,
                step.line,
                None,
                format!(
                    "case {}: expect answers {}: RFC 5321 §4.3.2 lists {} too; accept every \
                 listed code of the class (name the best with prefer:), or cite the sentence \
                 that narrows it with because:",
                    case.meta.id,
                    describe(to),
                    missing
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    problems
}
