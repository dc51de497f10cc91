//! Line framing, DATA and reply parsing are independent of how the stream is split into
//! reads, never panic, and never buffer past their limits.

mod strategies;

use proptest::prelude::*;
use smtp_protocol::data::{DataConfig, DataDecoder, dot_stuff};
use smtp_protocol::eod::{EndOfData, EndSet};
use smtp_protocol::line::{LineConfig, LineDecoder};
use smtp_protocol::reply::ReplyParser;
use strategies::{chunks, splits, wire_bytes};

fn decode_lines(
    config: LineConfig,
    reads: &[&[u8]],
) -> (Vec<smtp_protocol::line::Line>, Vec<u8>, usize) {
    let mut d = LineDecoder::new(config);
    let mut lines = Vec::new();
    let mut most = 0;
    for r in reads {
        d.push(r);
        while let Some(l) = d.next_line() {
            prop_assert_bounded(&l, config.max_line);
            lines.push(l);
            most = most.max(d.buffered());
        }
        most = most.max(d.buffered());
    }
    (lines, d.take_remaining(), most)
}

fn prop_assert_bounded(l: &smtp_protocol::line::Line, max: usize) {
    assert!(
        l.bytes.len() <= max.saturating_sub(2),
        "line of {} > limit {max}",
        l.bytes.len()
    );
}

fn config_of(max: usize, lf: bool) -> LineConfig {
    LineConfig {
        max_line: max,
        accept_bare_lf: lf,
    }
}

fn data_config(accept_mask: u16, unstuff: bool, max_stored: usize) -> DataConfig {
    let accept = EndOfData::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| accept_mask & (1 << i) != 0)
        .fold(EndSet::STANDARD, |set, (_, &e)| set.with(e));
    DataConfig {
        max_stored,
        accept,
        unstuff,
        lf_regime: EndSet::NONE,
        drop_nul: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lines_do_not_depend_on_splits(
        (bytes, points) in wire_bytes(400).prop_flat_map(|b| { let n = b.len(); (Just(b), splits(n)) }),
        max in 3usize..64,
        lf in any::<bool>(),
    ) {
        let config = config_of(max, lf);
        let whole = decode_lines(config, &[&bytes]);
        let split = decode_lines(config, &chunks(&bytes, &points));
        prop_assert_eq!(&whole.0, &split.0);
        prop_assert_eq!(&whole.1, &split.1);
        prop_assert!(whole.2 <= max && split.2 <= max, "buffered {} / {} past {}", whole.2, split.2, max);
    }

    #[test]
    fn lines_reassemble_to_the_input(bytes in wire_bytes(400)) {
        let config = config_of(10_000, false);
        let (lines, rest, _) = decode_lines(config, &[&bytes]);
        let mut joined = Vec::new();
        for l in &lines {
            joined.extend_from_slice(&l.bytes);
            joined.extend_from_slice(b"\r\n");
        }
        joined.extend_from_slice(&rest);
        prop_assert_eq!(joined, bytes);
    }

    #[test]
    fn dot_stuffing_round_trips(body in wire_bytes(600), points in splits(700)) {
        let wire = dot_stuff(&body);
        let mut d = DataDecoder::new(DataConfig::default());
        let mut consumed = 0;
        for r in chunks(&wire, &points) {
            consumed += d.feed(r);
        }
        let mut want = body.clone();
        if !want.is_empty() && !want.ends_with(b"\r\n") {
            want.extend_from_slice(b"\r\n");
        }
        prop_assert_eq!(d.end(), Some(EndOfData::CrLfDotCrLf));
        prop_assert_eq!(consumed, wire.len(), "the decoder ended early");
        prop_assert_eq!(d.body(), &want[..]);
    }

    /// The decoder's findings against a naive reading of the same octets (inputs without
    /// a dot, so that nothing ends the data and nothing is unstuffed).
    #[test]
    fn data_findings_match_a_naive_scan(input in proptest::collection::vec(
        prop_oneof![
            400 => b'a'..=b'z',
            3 => Just(b'\r'),
            3 => Just(b'\n'),
            1 => Just(0u8),
            1 => 0x80u8..=0xff,
        ],
        0..2500,
    )) {
        let mut d = DataDecoder::new(DataConfig::default());
        prop_assert_eq!(d.feed(&input), input.len());
        let f = d.findings().clone();
        let first = |pred: &dyn Fn(usize) -> bool| (0..input.len()).find(|&i| pred(i)).map(|i| i as u64);
        let bare_cr = first(&|i| input[i] == b'\r' && i + 1 < input.len() && input[i + 1] != b'\n');
        let bare_lf = first(&|i| input[i] == b'\n' && (i == 0 || input[i - 1] != b'\r'));
        prop_assert_eq!(f.bare_cr, bare_cr);
        prop_assert_eq!(f.bare_lf, bare_lf);
        prop_assert_eq!(f.nul, first(&|i| input[i] == 0));
        prop_assert_eq!(f.eight_bit, first(&|i| input[i] >= 0x80));
        let mut longest = 0u64;
        let mut overlong = None;
        let mut start = 0usize;
        for i in 1..input.len() {
            if input[i] == b'\n' && input[i - 1] == b'\r' {
                let len = (i + 1 - start) as u64;
                longest = longest.max(len);
                if len > 1000 && overlong.is_none() {
                    overlong = Some(start as u64);
                }
                start = i + 1;
            }
        }
        prop_assert_eq!(f.longest_line, longest);
        prop_assert_eq!(f.overlong_line, overlong);
        prop_assert_eq!(d.size(), input.len() as u64);
        prop_assert_eq!(d.body(), &input[..]);
    }

    #[test]
    fn data_does_not_depend_on_splits(
        (bytes, points) in wire_bytes(500).prop_flat_map(|b| { let n = b.len(); (Just(b), splits(n)) }),
        mask in any::<u16>(),
        unstuff in any::<bool>(),
        max_stored in prop_oneof![Just(usize::MAX), 0usize..64],
    ) {
        let config = data_config(mask, unstuff, max_stored);
        let run = |reads: Vec<&[u8]>| {
            let mut d = DataDecoder::new(config);
            let mut consumed = 0;
            for r in reads {
                consumed += d.feed(r);
                if d.is_done() { break; }
            }
            (consumed, d.end(), d.size(), d.body().to_vec(), d.findings().clone())
        };
        let whole = run(vec![&bytes]);
        let split = run(chunks(&bytes, &points));
        prop_assert_eq!(&whole, &split);
        prop_assert!(whole.3.len() <= max_stored);
    }

    #[test]
    fn replies_do_not_depend_on_splits(
        (bytes, points) in prop_oneof![
            wire_bytes(300),
            "(2[0-9][0-9][ -][ -~]{0,20}\r\n){1,6}".prop_map(String::into_bytes),
        ].prop_flat_map(|b| { let n = b.len(); (Just(b), splits(n)) }),
    ) {
        let run = |reads: Vec<&[u8]>| {
            let mut p = ReplyParser::new();
            let mut out = Vec::new();
            for r in reads {
                p.push(r);
                while let Some(reply) = p.next_reply() {
                    out.push(reply);
                }
            }
            (out, p.finish())
        };
        prop_assert_eq!(run(vec![&bytes]), run(chunks(&bytes, &points)));
    }
}
