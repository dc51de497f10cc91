//! The client session survives any server: whatever bytes arrive, split however, it
//! never panics, never sends after it closed, and decides every recipient once the
//! stream ends.

mod strategies;

use proptest::prelude::*;
use smtp_protocol::address::{ForwardPath, Host, Mailbox, ReversePath};
use smtp_protocol::client::{ClientConfig, ClientSession, Outgoing, Output, Waiting};
use strategies::{chunks, splits};

/// Server output built from plausible reply lines, so that sessions get deep.
fn server_bytes() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just(b"220 x\r\n".to_vec()),
        Just(b"250 ok\r\n".to_vec()),
        Just(b"250-x\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 CHUNKING\r\n".to_vec()),
        Just(b"354 go\r\n".to_vec()),
        Just(b"451 later\r\n".to_vec()),
        Just(b"550 no\r\n".to_vec()),
        Just(b"421 bye\r\n".to_vec()),
        Just(b"502 what\r\n".to_vec()),
        Just(b"334 VXNlcm5hbWU6\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(line, 0..24).prop_map(|v| v.concat())
}

fn session(chunking: bool) -> ClientSession {
    let mut config = ClientConfig::new(Host::parse("client.test").unwrap());
    config.chunking = chunking;
    let to = ["a@x.test", "b@x.test", "c@x.test"]
        .iter()
        .map(|t| ForwardPath::Mailbox(Mailbox::parse(t).unwrap()))
        .collect();
    ClientSession::new(
        config,
        Outgoing {
            from: ReversePath::Null,
            to,
            content: b"Subject: p\n\n.\nbody\n".to_vec(),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_server_leads_to_a_decision(
        (bytes, points) in server_bytes().prop_flat_map(|b| { let n = b.len(); (Just(b), splits(n)) }),
        chunking in any::<bool>(),
        tls_ok in any::<bool>(),
    ) {
        let mut s = session(chunking);
        let mut closed = false;
        for piece in chunks(&bytes, &points) {
            s.handle_input(piece);
            while let Some(o) = s.poll_output() {
                prop_assert!(!closed, "output after Close: {:?}", o);
                match o {
                    Output::Close => closed = true,
                    Output::StartTls if tls_ok => s.handle_tls_established(),
                    Output::StartTls => s.handle_tls_failed("refused by the test"),
                    Output::Send(_) => {}
                }
            }
        }
        s.handle_eof();
        prop_assert_eq!(s.waiting(), Waiting::Closed);
        let results = s.results();
        prop_assert_eq!(results.len(), 3);
    }
}
