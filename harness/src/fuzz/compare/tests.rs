//! The comparison's rules on traces built by hand: which views are a disagreement,
//! of which class, and which are nothing.

use super::*;
use crate::fuzz::exec::{Answer, End, Sync, Trace};

fn trace(replies: &[(usize, u16)], tail: &[u16]) -> Trace {
    let mut t = Trace::unreachable("");
    t.end = End::Finished;
    t.answers = replies
        .iter()
        .map(|&(step, code)| Answer::after(step, code))
        .collect();
    t.sync = Sync::Tail(tail.to_vec());
    t
}

fn input() -> Input {
    Input {
        steps: vec![
            Step::Line(b"MAIL FROM:<a@b.example>".to_vec()),
            Step::Line(b"RCPT TO:<c@d.example>".to_vec()),
            Step::Line(b"DATA".to_vec()),
            Step::Body(b"x\n.\nMAIL FROM:<e@f.example>\r\n.\r\n".to_vec()),
        ],
    }
}

/// MAIL, RCPT and DATA in one batch, then a lone dot.
fn batch_then_dot() -> Input {
    Input {
        steps: vec![
            Step::Batch {
                lines: vec![
                    b"MAIL FROM:<a@b.example>".to_vec(),
                    b"RCPT TO:<c@d.example>".to_vec(),
                    b"DATA".to_vec(),
                ],
                cuts: Vec::new(),
            },
            Step::Line(b".".to_vec()),
        ],
    }
}

fn names() -> Vec<String> {
    vec!["reference".into(), "a".into(), "b".into()]
}

#[test]
fn a_server_that_reads_commands_in_the_content_is_critical() {
    let i = input();
    let reference = trace(&[(0, 250), (1, 250), (2, 354), (3, 250)], &[250, 221]);
    let smuggled = trace(
        &[(0, 250), (1, 250), (2, 354), (3, 250), (3, 250)],
        &[250, 221],
    );
    let views: Vec<View> = [&reference, &reference, &smuggled]
        .iter()
        .map(|t| view(&i, t))
        .collect();
    let d = compare(&i, &views, &names()).expect("a disagreement");
    assert_eq!(d.class, Class::MessageCount);
    assert_eq!(d.apart, vec![false, false, true]);
    let mut m = Matrix::new(&names());
    m.add(&d);
    assert_eq!(m.cells, vec![vec![0, 0, 0, 0], vec![1, 0, 0, 0]]);
    assert!(
        m.markdown().contains("| b | 1 | 0 | 0 | 0 |"),
        "{}",
        m.markdown()
    );
}

#[test]
fn replies_read_at_the_end_still_keep_a_refused_transaction_out_of_message_counts() {
    // Octets with two readings go out whole; every reply lands on the last step.
    let i = input();
    let refused = trace(&[(3, 500), (3, 503), (3, 503), (3, 503)], &[250, 221]);
    let taken = trace(
        &[(3, 250), (3, 250), (3, 250), (3, 354), (3, 250)],
        &[250, 221],
    );
    let views = vec![view(&i, &refused), view(&i, &taken)];
    let d = compare(&i, &views, &names()[..2]).expect("a disagreement");
    assert_ne!(d.class, Class::MessageCount, "{}", d.what);
}

#[test]
fn a_refused_recipient_is_an_envelope_split_not_a_message_count() {
    let i = input();
    let reference = trace(&[(0, 250), (1, 250), (2, 354), (3, 250)], &[250, 221]);
    let refusing = trace(&[(0, 250), (1, 550), (2, 554)], &[250, 221]);
    let views = vec![view(&i, &reference), view(&i, &refusing)];
    let d = compare(&i, &views, &names()[..2]).expect("a disagreement");
    assert_eq!(d.class, Class::Envelope);
    assert!(d.what.contains("RCPT"), "{}", d.what);
}

#[test]
fn a_recipient_refused_inside_a_pipelined_batch_is_an_envelope_split() {
    let i = batch_then_dot();
    let refused = trace(&[(0, 250), (0, 550), (0, 503), (1, 500)], &[250, 221]);
    let taken = trace(&[(0, 250), (0, 250), (0, 354), (1, 250)], &[250, 221]);
    let d = compare(&i, &[view(&i, &refused), view(&i, &taken)], &names()).expect("a disagreement");
    assert_eq!(d.class, Class::Envelope);
    assert!(d.what.starts_with("RCPT (step 1)"), "{}", d.what);
}

#[test]
fn content_after_a_refused_data_is_commands_to_everyone_not_a_boundary() {
    let i = input();
    let many = trace(
        &[(0, 250), (1, 250), (2, 503), (3, 500), (3, 500)],
        &[250, 221],
    );
    let one = trace(&[(0, 250), (1, 250), (2, 503), (3, 500)], &[250, 221]);
    let d = compare(&i, &[view(&i, &many), view(&i, &one)], &names());
    assert!(
        d.as_ref().is_none_or(|d| d.class != Class::MessageCount),
        "{d:?}"
    );
}

#[test]
fn boundaries_are_compared_among_the_parties_whose_envelope_agrees() {
    let i = input();
    let reference = trace(&[(0, 250), (1, 250), (2, 354), (3, 250)], &[250, 221]);
    let smuggled = trace(
        &[(0, 250), (1, 250), (2, 354), (3, 250), (3, 250)],
        &[250, 221],
    );
    let refusing = trace(&[(0, 250), (1, 550), (2, 554), (3, 500)], &[250, 221]);
    let views: Vec<View> = [&reference, &smuggled, &refusing]
        .iter()
        .map(|t| view(&i, t))
        .collect();
    let d = compare(&i, &views, &names()).expect("a disagreement");
    assert_eq!(d.class, Class::MessageCount, "{}", d.what);
    assert_eq!(d.apart, vec![false, true, false]);
    assert!(d.what.contains("b: (envelope differs)"), "{}", d.what);
}

#[test]
fn a_message_refused_at_its_end_is_a_split_not_a_message_count() {
    let i = input();
    let taken = trace(&[(0, 250), (1, 250), (2, 354), (3, 250)], &[250, 221]);
    let refused = trace(&[(0, 250), (1, 250), (2, 354), (3, 554)], &[250, 221]);
    let d = compare(&i, &[view(&i, &taken), view(&i, &refused)], &names()).expect("a disagreement");
    assert_eq!(d.class, Class::AcceptRefuse, "{}", d.what);
}

#[test]
fn agreeing_parties_and_wording_differences_are_nothing() {
    let i = input();
    let a = trace(&[(0, 250), (1, 251), (2, 354), (3, 250)], &[250, 221]);
    let b = trace(&[(0, 250), (1, 250), (2, 354), (3, 250)], &[250, 221]);
    assert_eq!(compare(&i, &[view(&i, &a), view(&i, &b)], &names()), None);
}

#[test]
fn a_raw_step_read_as_content_is_not_envelope_and_a_refusal_of_it_stands_with_the_reference() {
    // The catalogue's smuggling seeds: the odd end and a command in one raw step after
    // the 354, then the real end. One party waits for it, one ends early and runs the
    // smuggled MAIL, one refuses the bare LF and closes.
    let i = raw_content(b"x\n.\nMAIL FROM:<e@f.example>\r\n");
    let waits = trace(&[(0, 250), (1, 250), (2, 354), (4, 250)], &[250, 221]);
    let smuggles = trace(
        &[
            (0, 250),
            (1, 250),
            (2, 354),
            (3, 250),
            (3, 250),
            (4, 500),
            (4, 500),
        ],
        &[250, 221],
    );
    let mut refuses = trace(&[(0, 250), (1, 250), (2, 354), (3, 521)], &[]);
    refuses.end = End::Closed {
        step: Some(3),
        unanswered: 0,
        verb: None,
        reset: false,
    };
    let d = only_the_middle_one_smuggles(&i, [&waits, &smuggles, &refuses]);
    assert!(d.what.contains("a: more than one reply"), "{}", d.what);
}

#[test]
fn one_reply_more_after_the_354_is_a_boundary_even_when_the_model_pairs_it_late() {
    // The client's model took the odd end for content and waited for none: the
    // smuggling party's replies land on the real end and in the suffix's tail.
    let i = raw_content(b".\n\n");
    let refuses = trace(&[(0, 250), (1, 250), (2, 354), (4, 554)], &[250, 221]);
    let smuggles = trace(&[(0, 250), (1, 250), (2, 354), (4, 250)], &[500, 250, 221]);
    let d = only_the_middle_one_smuggles(&i, [&refuses, &smuggles, &refuses]);
    assert!(
        d.what
            .contains("a: 4 replies after the 354 (commands read inside"),
        "{}",
        d.what
    );

    // A party that closed with a 221 of its own (not the suffix's QUIT) is not
    // counted: its one reply fewer says nothing of where it ended the data.
    let closes = trace(&[(0, 250), (1, 250), (2, 354), (4, 554)], &[221]);
    let views: Vec<View> = [&refuses, &closes, &refuses]
        .iter()
        .map(|t| view(&i, t))
        .collect();
    let d = compare(&i, &views, &names());
    assert!(
        d.as_ref().is_none_or(|d| d.class != Class::MessageCount),
        "{d:?}"
    );
}

/// A transaction whose content goes as raw octets after the 354, then the real end.
fn raw_content(content: &[u8]) -> Input {
    Input {
        steps: vec![
            Step::Line(b"MAIL FROM:<a@b.example>".to_vec()),
            Step::Line(b"RCPT TO:<c@d.example>".to_vec()),
            Step::Line(b"DATA".to_vec()),
            Step::Raw(content.to_vec()),
            Step::Raw(b"\r\n.\r\n".to_vec()),
        ],
    }
}

/// The disagreement among three parties' sessions of `i`: a message-count one, in
/// which only the second party stands apart.
fn only_the_middle_one_smuggles(i: &Input, traces: [&Trace; 3]) -> Disagreement {
    let views: Vec<View> = traces.iter().map(|t| view(i, t)).collect();
    let d = compare(i, &views, &names()).expect("a disagreement");
    assert_eq!(d.class, Class::MessageCount, "{}", d.what);
    assert_eq!(d.apart, vec![false, true, false], "{}", d.what);
    d
}

#[test]
fn a_party_that_closes_on_its_own_after_the_end_reads_no_fewer_boundaries() {
    // After the real end, a "." command line: the reference answers 500 then the
    // suffix; one party closes with a 221 of its own instead (its replies read late,
    // with the suffix's). One reply fewer is no boundary.
    let i = raw_content(b"x\r\n.\r\n.");
    let reference = trace(&[(0, 250), (1, 250), (2, 354), (4, 250)], &[500, 221]);
    let closes = trace(&[(0, 250), (1, 250), (2, 354), (4, 250)], &[221]);
    let mut closes_late = closes.clone();
    closes_late.sync = Sync::Tail(vec![250, 221]);
    closes_late.answers.pop();
    for other in [&closes, &closes_late] {
        let views = [view(&i, &reference), view(&i, other), view(&i, &reference)];
        let d = compare(&i, &views, &names());
        assert!(
            d.as_ref().is_none_or(|d| d.class != Class::MessageCount),
            "{d:?}"
        );
    }
}

#[test]
fn a_recipient_line_too_long_for_some_is_an_envelope_split_not_a_message_count() {
    // Found by a differential campaign: MAIL, a RCPT line of 1,040 octets and DATA in
    // one write; the reference and aiosmtpd refuse the line (over 512 octets), both
    // Postfix profiles take it (RFC 5321 §4.5.3.1.4 lets a server take longer lines),
    // so only they store the message the `.` ends. The first disagreement is at RCPT.
    let mut refused = trace(&[(0, 250), (1, 250), (1, 500), (1, 503), (2, 500)], &[]);
    refused.sync = Sync::Replies(vec![250, 221]);
    let mut taken = trace(&[(0, 250), (1, 250), (1, 250), (1, 354), (2, 250)], &[]);
    taken.sync = Sync::Replies(vec![250, 221]);
    taken.chunked_acks = 0;
    let d = four_parties(&refused, &taken);
    assert_eq!(d.class, Class::Envelope, "{}", d.what);
    assert_eq!(d.apart, vec![false, true, true, false], "{}", d.what);
}

#[test]
fn a_recipient_line_too_long_for_some_read_at_the_end_is_no_message_count() {
    let refused = trace(
        &[(0, 250), (2, 250), (2, 500), (2, 503), (2, 500)],
        &[250, 221],
    );
    let taken = trace(
        &[(0, 250), (2, 250), (2, 250), (2, 354), (2, 250)],
        &[250, 221],
    );
    let d = four_parties(&refused, &taken);
    assert_ne!(d.class, Class::MessageCount, "{}", d.what);
}

/// EHLO; MAIL, a RCPT line of 1,040 octets and DATA in one write; a `.` line.
fn long_rcpt_input() -> Input {
    let mut rcpt = b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>".to_vec();
    rcpt.extend([b' '; 1000]);
    rcpt.extend(b"\r\nDATA\r\n");
    Input {
        steps: vec![
            Step::Line(b"EHLO c".to_vec()),
            Step::Raw(rcpt),
            Step::Raw(b".\r\n".to_vec()),
        ],
    }
}

/// [`long_rcpt_input`] compared across the reference and aiosmtpd (`refused`) and
/// two Postfix profiles (`taken`).
fn four_parties(refused: &Trace, taken: &Trace) -> Disagreement {
    let i = long_rcpt_input();
    let views: Vec<View> = [refused, taken, taken, refused]
        .iter()
        .map(|t| view(&i, t))
        .collect();
    let names = ["reference", "postfix", "hardened", "aiosmtpd"].map(String::from);
    compare(&i, &views, &names).expect("a disagreement")
}

#[test]
fn batch_replies_claimed_by_a_later_step_still_split_the_envelope() {
    // The batch's first reply came alone; the rest arrived with the next step's.
    let i = batch_then_dot();
    let refused = trace(&[(0, 250), (1, 550), (1, 503), (1, 500)], &[250, 221]);
    let taken = trace(&[(0, 250), (1, 250), (1, 354), (1, 250)], &[250, 221]);
    let d = compare(&i, &[view(&i, &refused), view(&i, &taken)], &names()[..2])
        .expect("a disagreement");
    assert_ne!(d.class, Class::MessageCount, "{}", d.what);
}
