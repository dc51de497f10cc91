//! Mutations of fuzz inputs, at the level of steps (insert, delete, duplicate, swap,
//! splice from another input, pipeline) and inside a step (line endings, dot handling,
//! lengths around the limits of RFC 5321 §4.5.3.1, parameters, case, 8-bit and UTF-8,
//! numbers around 2^31, 2^32, 2^63 and 2^64, write boundaries). Every choice comes from
//! one seeded generator: the same seed gives the same inputs, in order.

use smtp_protocol::Verb;
use smtp_protocol::eod::EndOfData;
use smtp_protocol::limits;

use super::input::{Input, MAX_STEP_BYTES, Step};

/// The seeded generator every mutation draws from (SplitMix64, shared with delivery's
/// shuffle of equal MX preferences).
pub use crate::send::route::Rng;

/// Parameters and words that mean something to an SMTP server (RFC 5321, 1870, 2920,
/// 3030, 3461, 4954, 6152, 6531).
const WORDS: &[&str] = &[
    "FROM:<>",
    "TO:<postmaster>",
    "FROM:<a@b.test>",
    "TO:<\"a b\"@b.test>",
    "TO:<@relay.test:a@b.test>",
    " SIZE=",
    " BODY=8BITMIME",
    " BODY=BINARYMIME",
    " SMTPUTF8",
    " AUTH=<>",
    " RET=HDRS",
    " ENVID=a+2Bb",
    " NOTIFY=SUCCESS,FAILURE",
    " ORCPT=rfc822;a+40b.test",
    " LAST",
    " PLAIN AGFAAGI=",
    " LOGIN",
    "=",
    "<",
    ">",
    ":",
    "\"",
    "\\",
    "@",
    "[127.0.0.1]",
    "[IPv6:::1]",
    "+2B",
    "é",
];

/// Line endings a strict server must not take for CRLF (RFC 5321 §2.3.8).
const ENDINGS: &[&[u8]] = &[b"\n", b"\r", b"\r\r\n", b"\0\r\n", b"\r\n\r\n", b" \r\n"];

/// Numbers around the edges of integer types.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
];

/// Octets that are not ASCII: 8-bit, overlong and broken UTF-8, valid UTF-8.
const EIGHT_BIT: &[&[u8]] = &[
    b"\xff",
    b"\xc0\x80",
    b"\xe2\x82",
    b"\xc3\xa9",
    b"\x80",
    b"\0",
];

/// The limits a length is tried around.
const LIMITS: &[usize] = &[
    limits::MAX_LOCAL_PART,
    limits::MAX_DOMAIN,
    limits::MAX_PATH,
    limits::MAX_COMMAND_LINE,
    limits::MAX_TEXT_LINE,
    limits::MAX_AUTH_LINE,
    1024,
    4096,
    8192,
];

/// A random command line from the dictionary.
fn dictionary_line(rng: &mut Rng) -> Vec<u8> {
    let verb = rng.pick(&Verb::ALL).as_str();
    let mut line = verb.as_bytes().to_vec();
    match rng.below(3) {
        0 => {}
        1 => {
            line.push(b' ');
            line.extend_from_slice(rng.pick(WORDS).trim_start().as_bytes());
        }
        _ => {
            line.push(b' ');
            line.extend_from_slice(rng.pick(WORDS).trim_start().as_bytes());
            line.extend_from_slice(rng.pick(WORDS).as_bytes());
        }
    }
    line
}

/// A mutant of `input`: one to four mutations stacked; `other` is another corpus
/// input to splice from.
pub fn mutate(input: &Input, other: &Input, rng: &mut Rng) -> Input {
    let mut out = input.clone();
    for _ in 0..=rng.below(4) {
        if out.steps.is_empty() || rng.below(3) == 0 {
            structural(&mut out, other, rng);
        } else {
            let n = rng.below(out.steps.len());
            inside(&mut out.steps[n], rng);
        }
    }
    if out.steps.is_empty() {
        out.steps.push(Step::Line(dictionary_line(rng)));
    }
    out.bounded()
}

/// A change to the list of steps.
fn structural(input: &mut Input, other: &Input, rng: &mut Rng) {
    let steps = &mut input.steps;
    let len = steps.len();
    match rng.below(7) {
        0 => {
            let at = rng.below(len + 1);
            steps.insert(at, Step::Line(dictionary_line(rng)));
        }
        1 if len > 0 => {
            steps.remove(rng.below(len));
        }
        2 if len > 0 => {
            let n = rng.below(len);
            let copy = steps[n].clone();
            steps.insert(n, copy);
        }
        3 if len > 1 => {
            let (a, b) = (rng.below(len), rng.below(len));
            steps.swap(a, b);
        }
        4 if !other.steps.is_empty() => {
            // Splice: a prefix of this input, a suffix of the other.
            let cut = rng.below(len + 1);
            let from = rng.below(other.steps.len());
            steps.truncate(cut);
            steps.extend(other.steps[from..].iter().cloned());
        }
        5 if len > 1 => pipeline(steps, rng),
        _ => {
            // The TLS boundary: STARTTLS somewhere, or plaintext sent with it.
            let at = rng.below(len + 1);
            if rng.below(2) == 0 {
                steps.insert(at, Step::Starttls);
            } else {
                let mut raw = b"STARTTLS\r\n".to_vec();
                raw.extend_from_slice(&dictionary_line(rng));
                raw.extend_from_slice(b"\r\n");
                steps.insert(at, Step::Raw(raw));
            }
        }
    }
}

/// Merge consecutive command lines into one pipelined batch, cut at random.
fn pipeline(steps: &mut Vec<Step>, rng: &mut Rng) {
    let start = rng.below(steps.len());
    let mut lines = Vec::new();
    let mut end = start;
    while end < steps.len() && lines.len() < 8 {
        match &steps[end] {
            Step::Line(l) => lines.push(l.clone()),
            _ => break,
        }
        end += 1;
    }
    if lines.len() < 2 {
        return;
    }
    let total: usize = lines.iter().map(|l| l.len() + 2).sum();
    let mut cuts: Vec<usize> = (0..rng.below(4)).map(|_| 1 + rng.below(total)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    steps.splice(start..end, [Step::Batch { lines, cuts }]);
}

/// A change inside one step.
fn inside(step: &mut Step, rng: &mut Rng) {
    match step {
        Step::Line(l) => {
            if rng.below(5) == 0 {
                // Another line ending: the step becomes raw octets.
                let mut raw = std::mem::take(l);
                raw.extend_from_slice(rng.pick::<&[u8]>(ENDINGS));
                *step = Step::Raw(raw);
            } else {
                octets(l, rng);
            }
        }
        Step::Raw(b) => octets(b, rng),
        Step::Body(b) => body(b, rng),
        Step::Batch { lines, cuts } => {
            if lines.is_empty() {
                return;
            }
            if rng.below(3) == 0 {
                let total: usize = lines.iter().map(|l| l.len() + 2).sum();
                *cuts = (1..total).filter(|_| rng.below(8) == 0).collect();
            } else {
                let n = rng.below(lines.len());
                octets(&mut lines[n], rng);
            }
        }
        Step::Starttls => *step = Step::Line(b"STARTTLS".to_vec()),
        Step::Pause(ms) => *ms = [0u16, 5, 20, 50][rng.below(4)],
    }
}

/// A byte-level change to a command line or raw octets.
fn octets(b: &mut Vec<u8>, rng: &mut Rng) {
    let at = rng.below(b.len() + 1);
    match rng.below(10) {
        9 => grow_value(b, rng),
        0 => splice_in(b, at, rng.pick(WORDS).as_bytes()),
        1 => splice_in(b, at, rng.pick::<&[u8]>(EIGHT_BIT)),
        2 => splice_in(b, at, rng.pick::<&[u8]>(ENDINGS)),
        3 => {
            // A length around a limit.
            let target = rng
                .pick(LIMITS)
                .saturating_add(rng.below(5))
                .saturating_sub(2);
            let fill = *rng.pick(b"ax .@<");
            if b.len() < target {
                let pad = vec![fill; target - b.len()];
                splice_in(b, at, &pad);
            } else {
                b.truncate(target);
            }
        }
        4 => numbers(b, rng),
        5 => {
            for c in b.iter_mut().filter(|c| c.is_ascii_alphabetic()) {
                if rng.below(2) == 0 {
                    *c ^= 0x20;
                }
            }
        }
        6 if !b.is_empty() => {
            let n = rng.below(b.len());
            b[n] = rng.next_u64() as u8;
        }
        7 if !b.is_empty() => {
            // Repeat a piece.
            let from = rng.below(b.len());
            let to = (from + 1 + rng.below(16)).min(b.len());
            let piece = b[from..to].repeat(1 + rng.below(32));
            splice_in(b, at, &piece);
        }
        _ if !b.is_empty() => {
            let from = rng.below(b.len());
            let to = (from + 1 + rng.below(8)).min(b.len());
            b.drain(from..to);
        }
        _ => splice_in(b, at, rng.pick(WORDS).as_bytes()),
    }
    b.truncate(MAX_STEP_BYTES);
}

/// A parameter value (after a `=`, up to the next space) two to four times as long:
/// stacked, lengths grow past every limit a server may hold a value in (RFC 5321
/// §4.5.3.1, RFC 3461 §4.2's 100 and 500 octets) without a list of them.
fn grow_value(b: &mut Vec<u8>, rng: &mut Rng) {
    let eqs: Vec<usize> = (0..b.len()).filter(|&i| b[i] == b'=').collect();
    if eqs.is_empty() {
        return numbers(b, rng);
    }
    let start = eqs[rng.below(eqs.len())] + 1;
    let end = b[start..]
        .iter()
        .position(|&c| c == b' ' || c == b'\r' || c == b'\n')
        .map_or(b.len(), |e| start + e);
    let value = if end > start {
        b[start..end].to_vec()
    } else {
        b"x".to_vec()
    };
    let grown = value.repeat(1 + rng.below(3));
    splice_in(b, end, &grown);
}

/// Numbers near the edges of integer types, in place of a run of digits (or added).
fn numbers(b: &mut Vec<u8>, rng: &mut Rng) {
    let n = rng.pick(NUMBERS).as_bytes();
    match b.iter().position(u8::is_ascii_digit) {
        Some(start) => {
            let end = b[start..]
                .iter()
                .position(|c| !c.is_ascii_digit())
                .map_or(b.len(), |e| start + e);
            b.splice(start..end, n.iter().copied());
        }
        None => {
            b.extend_from_slice(b" SIZE=");
            b.extend_from_slice(n);
        }
    }
}

/// A change to message content: another end of data inside it, a line that starts
/// with a dot left unstuffed, a bare CR or LF, a long line.
fn body(b: &mut Vec<u8>, rng: &mut Rng) {
    let at = rng.below(b.len() + 1);
    match rng.below(4) {
        0 => splice_in(b, at, rng.pick(&EndOfData::ALL).bytes()),
        1 => splice_in(b, at, b"\r\n.\r\nRSET\r\n"),
        2 => splice_in(b, at, rng.pick::<&[u8]>(ENDINGS)),
        _ => {
            let long = vec![b'y'; limits::MAX_TEXT_LINE - 1 + rng.below(4)];
            splice_in(b, at, &long);
        }
    }
    b.truncate(MAX_STEP_BYTES);
}

fn splice_in(b: &mut Vec<u8>, at: usize, piece: &[u8]) {
    let at = at.min(b.len());
    b.splice(at..at, piece.iter().copied());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutants() {
        let seed = Input {
            steps: vec![
                Step::Line(b"EHLO a.test".to_vec()),
                Step::Line(b"MAIL FROM:<a@b.test> SIZE=10".to_vec()),
                Step::Body(b"x\r\n.\r\n".to_vec()),
            ],
        };
        let run = |s| {
            let mut rng = Rng::new(s);
            (0..200)
                .map(|_| mutate(&seed, &seed, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        for m in run(9) {
            assert!(m.steps.len() <= super::super::input::MAX_STEPS);
            assert!(m.steps.iter().all(|s| s.octets() <= MAX_STEP_BYTES + 2));
        }
    }
}
