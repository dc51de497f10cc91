//! The server state machine under arbitrary clients: it never panics, everything it
//! sends is a well-formed reply, a command line sent while it waits for a command gets
//! exactly one reply, and it never buffers more than one AUTH line.
#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use smtp_protocol::limits::MAX_AUTH_LINE;
use smtp_protocol::reply::ReplyParser;
use smtp_protocol::server::{Output, ServerConfig, ServerSession, Waiting};

#[derive(Debug, Arbitrary)]
enum Action {
    /// One command line; CR and LF inside are replaced so that it stays one line.
    Line(Octets),
    /// Bytes as they are: partial lines, pipelining, mail data, bare CR/LF.
    Raw(Octets),
    /// A canned command, to get past the greeting into deeper states quickly.
    Canned(u8),
    TlsEstablished,
    StoreFails,
    Timeout,
}

/// Octets read from the input exactly as `arbitrary` reads a `Vec<u8>` (a flag whose
/// low bit says another octet follows, then the octet; input that runs out reads as
/// zeros), so the committed seeds keep their meaning, but in one pass over the input:
/// decoded an octet at a time, through two reads and a push each, the actions took a
/// fourteenth of every run.
#[derive(Debug)]
struct Octets(Vec<u8>);

impl<'a> Arbitrary<'a> for Octets {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let rest = u.peek_bytes(u.len()).unwrap_or_default();
        // Pairs of flag and octet while the flag says go on.
        let pairs = rest.chunks(2).take_while(|pair| pair[0] & 1 == 1).count();
        let octets = rest
            .chunks(2)
            .take(pairs)
            .map(|pair| pair.get(1).copied().unwrap_or(0))
            .collect();
        // The pairs, and the flag that said stop when there was one.
        let used = (2 * pairs + 1).min(rest.len());
        u.bytes(used)?;
        Ok(Self(octets))
    }
}

const CANNED: &[&[u8]] = &[
    b"EHLO fuzz.test\r\n",
    b"MAIL FROM:<a@fuzz.test> SIZE=10 BODY=8BITMIME\r\n",
    b"RCPT TO:<bob@mx.test> NOTIFY=SUCCESS\r\n",
    b"DATA\r\n",
    b"BDAT 3\r\n",
    b"STARTTLS\r\n",
    b"AUTH PLAIN\r\n",
    b"AUTH LOGIN dXNlcg==\r\n",
    b".\r\n",
    b"RSET\r\n",
];

struct Driver {
    session: ServerSession,
    parser: ReplyParser,
    replies: usize,
    store_ok: bool,
}

impl Driver {
    fn drain(&mut self) {
        while let Some(out) = self.session.poll_output() {
            match out {
                Output::Send(bytes) => {
                    self.parser.push(&bytes);
                    while let Some(reply) = self.parser.next_reply() {
                        let reply = reply.expect("the server sent a malformed reply");
                        assert!(reply.findings.is_empty(), "{:?}", reply.findings);
                        self.replies += 1;
                    }
                    assert!(self.parser.is_idle(), "a reply was left unfinished");
                }
                Output::Deliver(_) => {
                    let result = if self.store_ok {
                        Ok(())
                    } else {
                        Err("fuzz".into())
                    };
                    self.session.handle_stored(result);
                }
                Output::StartTls | Output::Close | Output::Pause(_) => {}
            }
        }
        assert!(self.session.buffered() <= MAX_AUTH_LINE);
    }
}

/// The configuration every run shares: built once, not per input.
fn config() -> Arc<ServerConfig> {
    static CONFIG: OnceLock<Arc<ServerConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let mut users = std::collections::BTreeMap::new();
        users.insert("user".to_owned(), "pass".to_owned());
        Arc::new(ServerConfig {
            hostname: "mx.test".into(),
            max_message_size: 64,
            max_recipients: 100,
            recipients: Some(vec!["bob@mx.test".into()]),
            users,
            auth_without_tls: true,
            ..ServerConfig::default()
        })
    }))
}

fuzz_target!(|data: &[u8]| {
    // The actions are decoded as the session takes them, as a `Vec<Action>` would be
    // (so the seeds keep their meaning): decoded all at once, those after the 64th or
    // after the session closed cost time and were never used.
    let Ok(actions) = Unstructured::new(data).arbitrary_take_rest_iter::<Action>() else {
        return;
    };
    let mut d = Driver {
        session: ServerSession::new(config(), "fuzz", 1, true, 0),
        parser: ReplyParser::new(),
        replies: 0,
        store_ok: true,
    };
    d.drain();
    assert_eq!(d.replies, 1, "one greeting");
    for action in actions.take(64) {
        let Ok(action) = action else { break };
        match action {
            Action::Line(Octets(mut line)) => {
                line.truncate(600);
                line.iter_mut()
                    .filter(|b| **b == b'\r' || **b == b'\n')
                    .for_each(|b| *b = b' ');
                let single = d.session.waiting() == Waiting::Command && d.session.buffered() == 0;
                line.extend_from_slice(b"\r\n");
                let before = d.replies;
                d.session.handle_input(&line, 1);
                d.drain();
                if single && !d.session.is_closed() {
                    assert_eq!(
                        d.replies - before,
                        1,
                        "one reply to {:?}",
                        String::from_utf8_lossy(&line)
                    );
                }
            }
            Action::Raw(Octets(bytes)) => {
                d.session.handle_input(&bytes, 2);
                d.drain();
            }
            Action::Canned(i) => {
                d.session
                    .handle_input(CANNED[usize::from(i) % CANNED.len()], 3);
                d.drain();
            }
            Action::TlsEstablished => {
                d.session.handle_tls_established();
                d.drain();
            }
            Action::StoreFails => d.store_ok = !d.store_ok,
            Action::Timeout => {
                d.session.handle_timeout();
                d.drain();
            }
        }
        if d.session.is_closed() {
            break;
        }
    }
    d.session.handle_eof();
    d.drain();
});
