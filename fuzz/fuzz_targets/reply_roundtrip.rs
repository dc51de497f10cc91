//! Replies that parse without findings format back into the same reply: the stream
//! parsed, each clean reply formatted and parsed again. (Parsing alone, with the stream
//! cut between reads, is the `reply_parse` target.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_protocol::Reply;
use smtp_protocol::reply::ReplyParser;

fuzz_target!(|stream: &[u8]| {
    let mut p = ReplyParser::new();
    p.push(stream);
    while let Some(r) = p.next_reply() {
        if let Ok(parsed) = r
            && parsed.findings.is_empty()
        {
            let again = Reply::parse(&parsed.reply.to_bytes()).map(|p| p.reply);
            assert_eq!(again, Ok(parsed.reply));
        }
    }
    // A partial reply at the end is the parser's business (reply_parse), not the
    // round trip's.
    let _ = p.finish();
});
