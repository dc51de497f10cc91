//! Reply parsing alone, the stream cut between reads as a client's reads cut it: never
//! panics and never yields more replies than lines. (The parse → format → parse oracle
//! is the `reply_roundtrip` target, as `command_roundtrip` is for commands: together in
//! one target, the round trip took a third of each run, and its 76 edges of formatting
//! were counted against the parser's speed.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_protocol::reply::ReplyParser;

/// How many places the stream may be cut between reads.
const CUTS: usize = 3;

fuzz_target!(|data: &[u8]| {
    // The first six octets give three cut points (big-endian, modulo the stream's
    // length), so that a line, a code or a CRLF split across reads is explored. Cut
    // points the fuzzer places itself reach every split a parser state can see; the
    // earlier harness fed the stream 1 to 16 octets at a time, which made a 4 KiB input
    // cost up to 4,096 pushes and left the target at a quarter of its speed.
    let Some((head, stream)) = data.split_first_chunk::<{ 2 * CUTS }>() else {
        return;
    };
    let mut cuts = [0usize; CUTS];
    for (cut, pair) in cuts.iter_mut().zip(head.chunks_exact(2)) {
        *cut = usize::from(u16::from_be_bytes([pair[0], pair[1]])) % (stream.len() + 1);
    }
    cuts.sort_unstable();
    let mut p = ReplyParser::new();
    let mut replies = 0usize;
    let mut from = 0;
    for to in cuts.into_iter().chain([stream.len()]) {
        p.push(&stream[from..to]);
        from = to;
        // Each reply is dropped as it comes: keeping them all to the end held
        // thousands of allocations per input and made freeing them a fifth of the run.
        while p.next_reply().is_some() {
            replies += 1;
        }
    }
    let _ = p.finish();
    let lines = stream.iter().filter(|&&b| b == b'\n').count();
    assert!(replies <= lines);
});
