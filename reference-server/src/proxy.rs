//! The PROXY header a port that speaks the protocol reads before it greets: the
//! client it names is the one the Received line records (RFC 5321 §4.4). A missing,
//! malformed or unfinished header closes the connection without a word: HAProxy's
//! specification has a receiver never guess whether a header came.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use smtp_protocol::proxy::{Accept, Decoded, V1_MAX, V2_SIGNATURE, decode};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// How a connection on a PROXY port opened.
pub(crate) enum Opened {
    /// A header came (or, under `proxy-lenient`, something that passed for one).
    Header {
        /// The client it names; `None`: the connection's own address stands.
        client: Option<SocketAddr>,
        /// What followed it: the session's first input.
        rest: Vec<u8>,
    },
    /// No valid header within the limit: the connection is to be closed.
    Refused,
}

/// Read the header; `lenient` is the `proxy-lenient` deviation.
pub(crate) async fn read_header(
    stream: &mut TcpStream,
    accept: Accept,
    lenient: bool,
    limit: Duration,
) -> io::Result<Opened> {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match decode(&buf, accept) {
            Ok(Decoded::Header(h, n)) => {
                return Ok(Opened::Header {
                    client: h.addresses.map(|(client, _)| client),
                    rest: buf.split_off(n),
                });
            }
            Ok(Decoded::Incomplete) => {}
            Err(_) if lenient => return Ok(guessed(buf)),
            Err(_) => return Ok(Opened::Refused),
        }
        let read = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await;
        match read {
            Ok(Ok(0)) | Err(_) => return Ok(Opened::Refused),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
        if buf.len() > V1_MAX + usize::from(u16::MAX) {
            return Ok(Opened::Refused);
        }
    }
}

/// What a lenient server makes of a bad header: a line that starts like one is
/// skipped; anything else is taken as the session's first input.
fn guessed(mut buf: Vec<u8>) -> Opened {
    let n = buf.len().min(V2_SIGNATURE.len());
    let header_like = buf.starts_with(b"PROXY") || (n > 0 && buf[..n] == V2_SIGNATURE[..n]);
    let rest = match buf.iter().position(|&b| b == b'\n') {
        Some(lf) if header_like => buf.split_off(lf + 1),
        _ if header_like => Vec::new(),
        _ => buf,
    };
    Opened::Header { client: None, rest }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// What the server makes of `sent` on a real loopback connection.
    async fn opened(sent: &'static [u8], accept: Accept, lenient: bool) -> Opened {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(sent).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
        });
        let (mut s, _) = listener.accept().await.unwrap();
        let o = read_header(&mut s, accept, lenient, Duration::from_millis(200))
            .await
            .unwrap();
        client.await.unwrap();
        o
    }

    fn header(o: Opened) -> (Option<SocketAddr>, Vec<u8>) {
        match o {
            Opened::Header { client, rest } => (client, rest),
            Opened::Refused => panic!("refused"),
        }
    }

    #[tokio::test]
    async fn a_valid_header_names_the_client_and_leaves_the_rest() {
        let (client, rest) = header(
            opened(
                b"PROXY TCP4 192.0.2.1 127.0.0.1 4000 25\r\nEHLO x\r\n",
                Accept::Any,
                false,
            )
            .await,
        );
        assert_eq!(client, Some("192.0.2.1:4000".parse().unwrap()));
        assert_eq!(rest, b"EHLO x\r\n");
    }

    #[tokio::test]
    async fn strict_refuses_what_lenient_guesses() {
        let bad: &[u8] = b"PROXY TCP4 999.0.0.1 127.0.0.1 4000 25\r\nEHLO x\r\n";
        assert!(matches!(
            opened(bad, Accept::Any, false).await,
            Opened::Refused
        ));
        assert_eq!(
            header(opened(bad, Accept::Any, true).await),
            (None, b"EHLO x\r\n".to_vec())
        );
        let none: &[u8] = b"EHLO x\r\n";
        assert!(matches!(
            opened(none, Accept::V1, false).await,
            Opened::Refused
        ));
        assert_eq!(
            header(opened(none, Accept::V1, true).await),
            (None, none.to_vec())
        );
        // Half a header: the limit passes and the connection is refused.
        let half: &[u8] = b"PROXY TCP4 192.0.2.1";
        assert!(matches!(
            opened(half, Accept::Any, false).await,
            Opened::Refused
        ));
    }
}
