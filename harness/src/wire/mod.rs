//! The wire: one connection (framing, deadlines, caps), TLS, and the transcript.
//!
//! Everything that speaks SMTP over a socket goes through here: the server cases, the
//! scripted servers that client and delivery cases face, the reference client, and the
//! reports that show what was said. Nothing here knows about cases or verdicts.

pub mod conn;
pub mod http;
pub mod served;
pub mod tls;
pub mod transcript;

pub use conn::{Conn, ConnError};
pub use tls::{DEFAULT_SERVER_NAME, Prelude, TlsSettings};
pub use transcript::{Dir, EVENT_CAP, Event, EventReport, TRANSCRIPT_CAP, escape};
