//! The transcript of one connection: both directions, secrets redacted, bounded, and
//! its form in reports (octets escaped so that any byte a target sends survives JSON).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smtp_protocol::{Command, ParseOptions, Verb};

/// Which way octets went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// From the harness to the target.
    Send,
    /// From the target.
    Recv,
    /// The TLS handshake completed here.
    Tls,
    /// A remark of the harness (octets left out of the transcript).
    Note,
}

/// One transcript entry.
#[derive(Debug, Clone)]
pub struct Event {
    /// Direction.
    pub dir: Dir,
    /// The octets (secrets already redacted).
    pub data: Vec<u8>,
}

/// Most octets one transcript event keeps (its head): any reply or command fits.
pub const EVENT_CAP: usize = 8 * 1024;
/// Most octets one connection's transcript keeps.
pub const TRANSCRIPT_CAP: usize = 256 * 1024;

/// A connection's transcript: every event cut at [`EVENT_CAP`] octets and the whole at
/// [`TRANSCRIPT_CAP`], so a flooding target (or a message padded past SIZE) cannot
/// fill memory; what is left out is noted, never silently lost.
#[derive(Debug, Default)]
pub(crate) struct Transcript {
    pub(crate) events: Vec<Event>,
    /// Octets of the last event left out, not yet noted.
    pub(crate) elided: usize,
    /// Octets kept.
    recorded: usize,
}

impl Transcript {
    /// Add octets, within the caps. Consecutive received octets are one event: TCP
    /// keeps no boundaries worth showing.
    pub(crate) fn record(&mut self, dir: Dir, bytes: &[u8]) {
        let merge = dir == Dir::Recv && self.events.last().is_some_and(|e| e.dir == Dir::Recv);
        if !merge {
            self.note_elided();
        }
        let total_room = TRANSCRIPT_CAP.saturating_sub(self.recorded);
        let event_room = match (merge, self.events.last()) {
            (true, Some(last)) => EVENT_CAP.saturating_sub(last.data.len()),
            _ => EVENT_CAP,
        };
        let keep = bytes.len().min(total_room).min(event_room);
        self.elided += bytes.len() - keep;
        if keep == 0 {
            return;
        }
        self.recorded += keep;
        match self.events.last_mut() {
            Some(last) if merge => last.data.extend_from_slice(&bytes[..keep]),
            _ => self.events.push(Event {
                dir,
                data: bytes[..keep].to_vec(),
            }),
        }
    }

    /// A marker (the TLS boundary), always kept.
    pub(crate) fn mark(&mut self, dir: Dir, text: &[u8]) {
        self.note_elided();
        self.events.push(Event {
            dir,
            data: text.to_vec(),
        });
    }

    fn note_elided(&mut self) {
        if self.elided > 0 {
            self.events.push(Event {
                dir: Dir::Note,
                data: format!("{} more octets not recorded", self.elided).into_bytes(),
            });
            self.elided = 0;
        }
    }

    pub(crate) fn finish(mut self) -> Vec<Event> {
        self.note_elided();
        self.events
    }
}

/// One transcript event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventReport {
    /// `send`, `recv`, `tls` or `note`.
    pub dir: Dir,
    /// The octets, printable ASCII and CR/LF/TAB as they are, others as `\xHH`.
    pub data: String,
}

impl From<&Event> for EventReport {
    fn from(e: &Event) -> Self {
        Self {
            dir: e.dir,
            data: escape(&e.data),
        }
    }
}

/// An event serialises as reports carry it ([`EventReport`]), so a transcript can stay
/// typed until it is written.
impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EventReport::from(self).serialize(s)
    }
}

/// Octets as report text: printable ASCII, CR, LF and TAB as they are (JSON escapes
/// them), everything else as `\xHH`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' | b'\n' | b'\t' | 0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// An AUTH line with its initial response hidden, read with the protocol crate's parser;
/// `None` when `bytes` is not an AUTH command carrying a secret.
pub(crate) fn redact_auth(bytes: &[u8]) -> Option<Vec<u8>> {
    let line = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
    let verb = line.split(|&b| b == b' ').next()?;
    if Verb::from_bytes(verb) != Some(Verb::Auth) {
        return None;
    }
    match Command::parse_with(line, ParseOptions::default()).map(|p| p.command) {
        Ok(Command::Auth {
            mechanism,
            initial_response: Some(_),
        }) => Some(format!("AUTH {mechanism} <redacted>\r\n").into_bytes()),
        Ok(_) => None,
        // Malformed, but it may still hold a secret: keep only the verb.
        Err(_) => Some(b"AUTH <redacted>\r\n".to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::{Dir, EVENT_CAP, TRANSCRIPT_CAP, Transcript, redact_auth};

    #[test]
    fn a_flood_is_cut_and_noted() {
        let mut t = Transcript::default();
        t.record(Dir::Send, b"EHLO x\r\n");
        for _ in 0..1000 {
            t.record(Dir::Recv, &[b'x'; 4096]);
        }
        t.record(Dir::Send, b"QUIT\r\n");
        let events = t.finish();
        assert_eq!(
            events.len(),
            4,
            "{:?}",
            events.iter().map(|e| e.dir).collect::<Vec<_>>()
        );
        assert_eq!(
            events[1].data.len(),
            EVENT_CAP,
            "one merged, capped receive event"
        );
        assert_eq!(
            events[2].data,
            format!("{} more octets not recorded", 4096 * 1000 - EVENT_CAP).into_bytes()
        );
        assert_eq!(events[3].data, b"QUIT\r\n");
    }

    #[test]
    fn the_whole_transcript_is_capped() {
        let mut t = Transcript::default();
        for _ in 0..1000 {
            t.record(Dir::Send, &[b'y'; 1024]);
        }
        let kept: usize = t
            .finish()
            .iter()
            .filter(|e| e.dir == Dir::Send)
            .map(|e| e.data.len())
            .sum();
        assert_eq!(kept, TRANSCRIPT_CAP);
    }

    #[test]
    fn auth_secrets_are_redacted() {
        assert_eq!(
            redact_auth(b"AUTH PLAIN AHUAcA==\r\n").as_deref(),
            Some(&b"AUTH PLAIN <redacted>\r\n"[..])
        );
        assert_eq!(redact_auth(b"AUTH LOGIN\r\n"), None);
        assert_eq!(redact_auth(b"NOOP\r\n"), None);
        assert_eq!(
            redact_auth(b"auth plain not-base64!\r\n").as_deref(),
            Some(&b"AUTH <redacted>\r\n"[..])
        );
    }
}
