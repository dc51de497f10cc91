//! Reply parsing: never panics, never yields more replies than lines, and a reply parsed
//! without findings formats back into the same reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_protocol::Reply;
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
        // Each reply is judged as it comes and dropped: keeping them all to the end
        // held thousands of allocations per input and made freeing them a fifth of
        // the run.
        while let Some(r) = p.next_reply() {
            replies += 1;
            if let Ok(parsed) = r
                && parsed.findings.is_empty()
            {
                let again = Reply::parse(&parsed.reply.to_bytes()).map(|p| p.reply);
                assert_eq!(again, Ok(parsed.reply));
            }
        }
    }
    let _ = p.finish();
    let lines = stream.iter().filter(|&&b| b == b'\n').count();
    assert!(replies <= lines);
});
