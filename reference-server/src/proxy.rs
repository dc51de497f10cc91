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
