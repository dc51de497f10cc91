//! The client's side of the wire, as smtpspec plays the server: reading command lines
//! and the message content, writing replies to a client that may already be gone, and
//! judging dot-stuffing on the lines the client actually sent as lines.

use std::time::Duration;

use smtp_protocol::line::Ending;

use super::{Miss, Seen};
use crate::outcome::HarnessError;
use crate::wire::ConnError;
use crate::wire::served::{Content, ContentError, LineError, Served};

/// Send smtpspec's reply; false once the script is over (the client left after QUIT).
/// A client that left earlier stops getting replies, but what it sent is still judged,
/// step by step, whatever order the reads and the reset came in: it is read now, before
/// the reset can take it away.
pub(super) async fn answer(
    served: &mut Served,
    bytes: &[u8],
    step: Duration,
    seen: &mut Seen,
) -> Result<bool, Miss> {
    if seen.gone {
        return Ok(true);
    }
    match served.conn.send(bytes, step).await {
        Ok(()) => Ok(true),
        Err(ConnError::Io(e)) if gone(&e) && seen.quit => Ok(false),
        Err(ConnError::Io(e)) if gone(&e) => {
            served.drain(DRAIN).await;
            seen.gone = true;
            served.conn.note(&format!(
                "the client closed the connection; smtpspec's reply was not delivered ({e})"
            ));
            Ok(true)
        }
        Err(e) => Err(harness(e)),
    }
}

/// How long what a client that left sent last is still read.
const DRAIN: Duration = Duration::from_millis(200);

/// Why the dot lines could not be passed.
pub(super) enum Stuffing {
    /// This line arrived after a CRLF, starting with its one dot.
    Unstuffed(String),
    /// Nothing to judge: the dot lines did not arrive as lines.
    NotALine(String),
}

/// RFC 5321 §4.5.2 on the lines the client sent as lines (after a CRLF, or first):
/// each of `want` must arrive with one more dot.
pub(super) fn check_stuffing(raw: &[u8], want: &[String]) -> Result<(), Stuffing> {
    if want.is_empty() {
        return Ok(());
    }
    // The end of the data is not a line of the message.
    let raw = raw.strip_suffix(b".\r\n").unwrap_or(raw);
    let lines: Vec<&[u8]> = raw.split(|&b| b == b'\n').collect();
    // A line on the wire starts at the beginning or after CRLF.
    let crlf_lines: Vec<&[u8]> = raw
        .split_inclusive(|&b| b == b'\n')
        .scan(true, |after_crlf, piece| {
            let start = *after_crlf;
            *after_crlf = piece.ends_with(b"\r\n");
            Some((start, piece))
        })
        .filter(|(start, _)| *start)
        .map(|(_, p)| p.strip_suffix(b"\n").unwrap_or(p))
        .map(|p| p.strip_suffix(b"\r").unwrap_or(p))
        .collect();
    let mut unjudged = Vec::new();
    for w in want {
        let stuffed = format!(".{w}");
        if crlf_lines.contains(&stuffed.as_bytes()) {
            continue;
        }
        if crlf_lines.contains(&w.as_bytes()) {
            return Err(Stuffing::Unstuffed(w.clone()));
        }
        let anywhere = lines.iter().any(|l| {
            l.strip_suffix(b"\r").unwrap_or(l) == w.as_bytes() || *l == stuffed.as_bytes()
        });
        if anywhere {
            unjudged.push(w.clone());
        } else {
            return Err(Stuffing::Unstuffed(w.clone()));
        }
    }
    if unjudged.is_empty() {
        Ok(())
    } else {
        Err(Stuffing::NotALine(format!(
            "the dot lines {unjudged:?} followed bare LFs, not CRLF, so they did not start lines \
             on the wire and stuffing cannot be judged (the bare LFs are content-crlf-only's finding)"
        )))
    }
}

/// The peer is gone: a write hit a closed or reset connection.
pub(super) fn gone(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
    )
}

pub(super) fn harness(e: ConnError) -> Miss {
    Miss::Harness(HarnessError::of(e))
}

/// The client ended the handshake with an alert about the certificate (unknown CA,
/// bad or unsupported certificate, wrong name).
pub(super) fn refused_certificate(e: &ConnError) -> bool {
    let text = e.to_string();
    text.contains("alert")
        && ["Certificate", "UnknownCA", "AccessDenied", "DecryptError"]
            .iter()
            .any(|k| text.contains(k))
}

/// Why no command line came.
pub(super) enum Read {
    Timeout,
    /// A line ended with a bare LF: the client's fault (RFC 5321 §2.3.8).
    BareLf(String),
    Conn(ConnError),
}

impl From<Read> for Miss {
    fn from(r: Read) -> Self {
        match r {
            Read::Timeout => Self::Client(crate::unmet!("the client sent nothing in time")),
            Read::BareLf(line) => Self::Client(crate::unmet!(
                "the client ended {line:?} with a bare LF, not CRLF (RFC 5321 §2.3.8)"
            )),
            Read::Conn(e) => harness(e),
        }
    }
}

/// The next command line, `None` at the end of the stream; a bare LF ending it is the
/// client's fault.
pub(super) async fn next_line(
    served: &mut Served,
    limit: Duration,
) -> Result<Option<Vec<u8>>, Read> {
    match served.next_line(limit).await {
        Ok(Some(line)) if line.ending == Ending::BareLf => Err(Read::BareLf(
            String::from_utf8_lossy(&line.bytes).into_owned(),
        )),
        Ok(line) => Ok(line.map(|l| l.bytes)),
        Err(LineError::Timeout) => Err(Read::Timeout),
        Err(LineError::Conn(e)) => Err(Read::Conn(e)),
    }
}

/// The content after 354, unstuffed, and as it came (with the end sequence); bare CR or
/// LF in it is the client's fault when `crlf_only`.
pub(super) async fn read_data(
    served: &mut Served,
    limit: Duration,
    crlf_only: bool,
) -> Result<(Vec<u8>, Vec<u8>), Miss> {
    let late = || {
        Miss::Client(crate::unmet!(
            "the content did not end within {} ms",
            limit.as_millis()
        ))
    };
    let content = match served.read_content(limit).await {
        Ok(c) => c,
        Err(ContentError::Timeout) => return Err(late()),
        Err(ContentError::Closed) => {
            return Err(Miss::Client(crate::outcome::Unmet::new(
                "the client closed the connection inside the content",
            )));
        }
        Err(ContentError::Conn(e)) => return Err(harness(e)),
    };
    let Content {
        body,
        raw,
        findings,
    } = content;
    if !crlf_only {
        return Ok((body, raw));
    }
    if let Some(at) = findings.bare_lf {
        return Err(Miss::Client(crate::unmet!(
            "a bare LF in the content at octet {at} (RFC 5321 §2.3.8: CRLF only)"
        )));
    }
    if let Some(at) = findings.bare_cr {
        return Err(Miss::Client(crate::unmet!(
            "a bare CR in the content at octet {at} (RFC 5321 §2.3.8: CRLF only)"
        )));
    }
    Ok((body, raw))
}

#[cfg(test)]
mod tests {
    use super::{Stuffing, check_stuffing};

    fn want() -> Vec<String> {
        vec![".A".into(), "..B".into(), ".".into()]
    }

    #[test]
    fn stuffed_crlf_lines_pass() {
        let raw = b"x\r\n..A\r\n...B\r\n..\r\nend\r\n.\r\n";
        assert!(check_stuffing(raw, &want()).is_ok());
    }

    #[test]
    fn an_unstuffed_crlf_line_fails() {
        let raw = b"x\r\n..A\r\n..B\r\n..\r\nend\r\n.\r\n";
        assert!(matches!(check_stuffing(raw, &want()), Err(Stuffing::Unstuffed(l)) if l == "..B"));
    }

    #[test]
    fn dots_after_bare_lf_are_not_judged() {
        let raw = b"x\n.A\n..B\n.\nend\n\r\n.\r\n";
        assert!(matches!(
            check_stuffing(raw, &want()),
            Err(Stuffing::NotALine(_))
        ));
    }
}
