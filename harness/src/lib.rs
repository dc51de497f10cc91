//! smtpspec: certify SMTP implementations against RFC 5321 and its extensions.
//!
//! - [`scenario`]: the YAML scenario language, its loader and checks.
//! - [`runner`]: discovery, one connection per case, verdicts with transcripts.
//! - [`report`]: the JSON report of DESIGN.md and the terminal summary.
//! - [`embedded`]: the reference server as the default target.

pub mod embedded;
pub mod report;
pub mod runner;
pub mod scenario;
