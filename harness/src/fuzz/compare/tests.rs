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
    let i = Input {
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
    };
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
