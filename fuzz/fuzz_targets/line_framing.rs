//! Line framing: the same lines and findings whatever the split, and never more than
//! the limit buffered.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use smtp_protocol::line::{Line, LineConfig, LineDecoder};

#[derive(Debug, Arbitrary)]
struct Input {
    max_line: u16,
    accept_bare_lf: bool,
    cuts: Vec<u16>,
    bytes: Vec<u8>,
}

fn run(config: LineConfig, reads: &[&[u8]]) -> (Vec<Line>, Vec<u8>) {
    let mut d = LineDecoder::new(config);
    let mut lines = Vec::new();
    for r in reads {
        d.push(r);
        while let Some(l) = d.next_line() {
            assert!(l.bytes.len() <= config.max_line.saturating_sub(2));
            lines.push(l);
        }
        assert!(d.buffered() <= config.max_line.max(1));
    }
    (lines, d.take_remaining())
}

fuzz_target!(|input: Input| {
    let config = LineConfig {
        max_line: usize::from(input.max_line % 2048) + 3,
        accept_bare_lf: input.accept_bare_lf,
    };
    let mut cuts: Vec<usize> = input
        .cuts
        .iter()
        .map(|&c| usize::from(c) % (input.bytes.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut reads = Vec::new();
    let mut start = 0;
    for c in cuts {
        reads.push(&input.bytes[start..c]);
        start = c;
    }
    reads.push(&input.bytes[start..]);
    assert_eq!(run(config, &[&input.bytes]), run(config, &reads));
});
