//! smtpspec as the server on a connection a peer opened: command lines cut by the
//! protocol crate's line decoder, message content by its DATA decoder, each read under
//! one deadline, everything in the connection's transcript.
//!
//! The one engine under both scripted servers: the scripts that client cases play to
//! a client under test, and the MX hosts that delivery cases stand up for a sender.
//! What to answer is theirs; how a command or a message is read is decided here once.

use std::time::{Duration, Instant};

use smtp_protocol::data::{DataConfig, DataDecoder, DataFindings};
use smtp_protocol::line::{Line, LineConfig, LineDecoder};

use super::{Conn, ConnError};

/// The content kept as it came on the wire, for judging how it was framed (dot
/// stuffing): enough for any test message, bounded for a hostile one.
const RAW_KEPT: usize = 1 << 20;

/// A connection smtpspec answers, and the command lines read on it so far.
pub struct Served {
    /// The connection, with its transcript.
    pub conn: Conn,
    /// Lines received and not yet taken (a pipelining peer sends ahead).
    pub lines: LineDecoder,
}

/// Why no command line came.
#[derive(Debug)]
pub enum LineError {
    /// Nothing complete within the limit.
    Timeout,
    /// The connection failed.
    Conn(ConnError),
}

/// Why the message content did not arrive whole.
#[derive(Debug)]
pub enum ContentError {
    /// The end of data did not come within the limit.
    Timeout,
    /// The peer closed the connection inside the content.
    Closed,
    /// The connection failed.
    Conn(ConnError),
}

/// A message's content after the 354.
pub struct Content {
    /// Unstuffed, without the end of data.
    pub body: Vec<u8>,
    /// As it came, with the end of data (the first [`RAW_KEPT`] octets).
    pub raw: Vec<u8>,
    /// Bare CR, bare LF and other octets RFC 5321 §2.3.8 forbids, where they were.
    pub findings: DataFindings,
}

impl Served {
    /// Serve `conn`, cutting command lines as `lines` says (a strict server refuses a
    /// bare LF as a line end; a judge that wants to name it accepts and reports it).
    pub fn new(conn: Conn, lines: LineConfig) -> Self {
        Self {
            conn,
            lines: LineDecoder::new(lines),
        }
    }

    /// The next command line within `limit`; `None` at the end of the stream.
    pub async fn next_line(&mut self, limit: Duration) -> Result<Option<Line>, LineError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(line) = self.lines.next_line() {
                return Ok(Some(line));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LineError::Timeout);
            }
            let bytes = match self.conn.read_raw(left).await {
                Ok(b) => b,
                Err(ConnError::Timeout(_)) => return Err(LineError::Timeout),
                Err(e) => return Err(LineError::Conn(e)),
            };
            if bytes.is_empty() {
                return Ok(None);
            }
            self.lines.push(&bytes);
        }
    }

    /// The content after a 354, up to the end of data (RFC 5321 §4.1.1.4), within
    /// `limit`; whatever followed it goes back to the command lines.
    pub async fn read_content(&mut self, limit: Duration) -> Result<Content, ContentError> {
        let mut data = DataDecoder::new(DataConfig::default());
        let mut input = self.lines.take_remaining();
        let mut raw = Vec::new();
        let deadline = Instant::now() + limit;
        loop {
            let used = data.feed(&input);
            if raw.len() < RAW_KEPT {
                raw.extend_from_slice(&input[..used]);
            }
            if data.is_done() {
                self.lines.push(&input[used..]);
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ContentError::Timeout);
            }
            input = match self.conn.read_raw(left).await {
                Ok(b) if b.is_empty() => return Err(ContentError::Closed),
                Ok(b) => b,
                Err(ConnError::Timeout(_)) => return Err(ContentError::Timeout),
                Err(e) => return Err(ContentError::Conn(e)),
            };
        }
        let (body, findings) = data.into_parts();
        Ok(Content {
            body,
            raw,
            findings,
        })
    }

    /// Read, for at most `window`, whatever the peer sent that was not read yet: what
    /// a peer that is leaving said last still belongs to the transcript.
    pub async fn drain(&mut self, window: Duration) {
        let deadline = Instant::now() + window;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.conn.read_raw(left).await {
                Ok(b) if !b.is_empty() && !left.is_zero() => self.lines.push(&b),
                _ => break,
            }
        }
    }
}
