//! DATA: dot-stuffing round-trips any body, and decoding raw bytes gives the same
//! result whatever the split and whatever end sequences are accepted.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use smtp_protocol::data::{DataConfig, DataDecoder, dot_stuff};
use smtp_protocol::eod::{EndOfData, EndSet};

#[derive(Debug, Arbitrary)]
struct Input {
    accept: Vec<EndOfData>,
    unstuff: bool,
    max_stored: Option<u8>,
    cut: u16,
    bytes: Vec<u8>,
}

fuzz_target!(|input: Input| {
    // 1. Round trip through the sender's encoding with the strict decoder.
    let wire = dot_stuff(&input.bytes);
    let mut d = DataDecoder::new(DataConfig::default());
    assert_eq!(d.feed(&wire), wire.len());
    assert_eq!(d.end(), Some(EndOfData::CrLfDotCrLf));
    let mut want = input.bytes.clone();
    if !want.is_empty() && !want.ends_with(b"\r\n") {
        want.extend_from_slice(b"\r\n");
    }
    assert_eq!(d.body(), &want[..]);

    // 2. Raw bytes, any policy: one read or two give the same outcome.
    let config = DataConfig {
        max_stored: input.max_stored.map_or(usize::MAX, usize::from),
        accept: input
            .accept
            .iter()
            .fold(EndSet::STANDARD, |s, &e| s.with(e)),
        unstuff: input.unstuff,
        lf_regime: EndSet::NONE,
        drop_nul: false,
    };
    let cut = usize::from(input.cut) % (input.bytes.len() + 1);
    let mut one = DataDecoder::new(config);
    let n1 = one.feed(&input.bytes);
    let mut two = DataDecoder::new(config);
    let mut n2 = two.feed(&input.bytes[..cut]);
    if !two.is_done() {
        n2 += two.feed(&input.bytes[cut..]);
    }
    assert_eq!(n1, n2);
    assert_eq!(
        (one.end(), one.size(), one.body()),
        (two.end(), two.size(), two.body())
    );
    assert_eq!(one.findings(), two.findings());
    assert!(one.body().len() <= config.max_stored);
});
