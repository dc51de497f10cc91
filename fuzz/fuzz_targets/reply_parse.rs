//! Reply parsing: never panics, never yields more replies than lines, and a reply parsed
//! without findings formats back into the same reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_protocol::Reply;
use smtp_protocol::reply::ReplyParser;

fuzz_target!(|data: &[u8]| {
    // The first octet picks a read size, so that splits are explored too.
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 16) + 1;
    let mut p = ReplyParser::new();
    let mut replies = Vec::new();
    for chunk in stream.chunks(step) {
        p.push(chunk);
        while let Some(r) = p.next_reply() {
            replies.push(r);
        }
    }
    let _ = p.finish();
    let lines = stream.iter().filter(|&&b| b == b'\n').count();
    assert!(replies.len() <= lines);
    for parsed in replies.into_iter().flatten() {
        if parsed.findings.is_empty() {
            let again = Reply::parse(&parsed.reply.to_bytes()).map(|p| p.reply);
            assert_eq!(again, Ok(parsed.reply));
        }
    }
});
