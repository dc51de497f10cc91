//! smtpspec: certify SMTP implementations against RFC 5321 and its extensions.
//!
//! - [`outcome`]: levels, verdicts and the one rule between them.
//! - [`scenario`]: the YAML scenario language, its loader and checks.
//! - [`runner`]: discovery, one connection per case, verdicts with transcripts.
//! - [`report`]: the JSON report of README.md and the terminal summary.
//! - [`embedded`]: the reference server as the default target.
//! - [`profile`]: target profiles for `--target PROFILE.yaml`.
//! - [`launch`]: starting a profile's server for the run.
//! - [`requirements`]: the requirements index and coverage.
//! - [`send`]: the reference client: MX delivery per RFC 5321 §5.1.
//! - [`wire`]: one connection, TLS and the transcript, under everything that speaks SMTP.
//! - [`yaml`]: the one YAML reader and its located errors.
//! - [`dns`]: the fake DNS server (hickory-server) with zones from YAML and faults.

pub mod client_profile;
pub mod dns;
pub mod embedded;
pub mod launch;
pub mod outcome;
pub mod profile;
pub mod report;
pub mod requirements;
pub mod runner;
pub mod scenario;
pub mod send;
pub mod sender_profile;
pub mod test_ca;
pub mod wire;
pub mod yaml;
