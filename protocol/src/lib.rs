//! The SMTP core of smtpspec, sans-IO: no sockets, no async runtime, no clock.
//!
//! Everything in smtpspec that speaks SMTP — the reference server, the reference client,
//! the scenario runner, the fuzzers — goes through these types, so that the tool judges
//! targets with one grammar and never parses SMTP twice. Like quinn-proto and rustls,
//! the crate is fed bytes and hands back values; the caller owns I/O and time.
//!
//! - [`line`]: CRLF framing with limits; bare CR/LF, NUL, 8-bit octets reported.
//! - [`command`]: every verb of RFC 5321 plus STARTTLS, AUTH, BDAT, ETRN; strict, with
//!   named [`Leniency`]s on request.
//! - [`address`], [`param`], [`xtext`]: paths, mailboxes, ESMTP parameters.
//! - [`reply`]: codes, enhanced codes, multiline replies, an incremental parser that
//!   reports malformed replies precisely, and the §4.3.2 reply sets as data.
//! - [`ehlo`]: the EHLO response and extension keywords.
//! - [`data`], [`eod`]: dot-stuffing, end-of-data detection with every smuggling variant
//!   named; [`bdat`]: chunk accounting.
//! - [`limits`]: every size limit, with its RFC section.
//! - [`server`]: the server session state machine, with named deviations.
//! - [`client`]: the client session state machine: one message to one server, decided
//!   per recipient by reply class.

pub mod address;
pub mod base64;
pub mod bdat;
pub mod client;
pub mod command;
pub mod data;
pub mod ehlo;
pub mod eod;
pub mod leniency;
pub mod limits;
pub mod line;
pub mod param;
pub mod proxy;
pub mod reply;
mod scan;
pub mod server;
mod syntax;
pub mod xtext;

pub use address::{AddressLiteral, Domain, ForwardPath, Host, LocalPart, Mailbox, ReversePath};
pub use command::{Command, CommandError, ParseOptions, Parsed, Verb};
pub use ehlo::{EhloResponse, Extension};
pub use eod::{EndOfData, EndSet};
pub use leniency::Leniency;
pub use reply::{EnhancedCode, Reply, ReplyCode};
pub use syntax::SyntaxError;
