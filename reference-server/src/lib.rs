//! The reference SMTP server of smtpspec: a tokio listener driving the sans-IO
//! [`smtp_protocol::server::ServerSession`], with STARTTLS (rustls), a durable Maildir
//! store, connection limits, the timeouts of RFC 5321 §4.5.3.2 and graceful shutdown.
//!
//! It is the embedded default target of `smtpspec run`, the sink of delivery tests, and,
//! with named deviations switched on, the proof that every scenario can fail.
//!
//! - [`settings`]: the YAML configuration file and its defaults.
//! - [`store`]: Maildir (fsync before the 250) and discard.
//! - [`tls`]: certificates from files, or a self-signed one made at start.
//! - [`variant`]: behaviours the RFCs allow, switched on by name, so that the catalogue
//!   is shown not to fail a server that chose differently.
//! - [`Server`]: bind, run, shut down.

mod commit;
mod connection;
pub mod descriptors;
mod proxy;
mod server;
pub mod settings;
pub mod store;
pub mod tls;
pub mod variant;

pub use server::{RunningServer, Server};
pub use settings::{Settings, SettingsError};
pub use store::Store;
pub use variant::Variant;
