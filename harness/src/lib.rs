//! smtpspec: certify SMTP implementations against RFC 5321 and its extensions.
//!
//! The modules are layers, lowest first (ARCHITECTURE.md; `scripts/check-layers.py`
//! keeps them so): a module imports from its own layer or below, never above.
//!
//! 1. [`outcome`] (levels, verdicts and the one rule between them), [`yaml`] (the one
//!    YAML reader and its located errors), [`test_ca`] (the run's TLS identity).
//! 2. [`wire`] (one connection, TLS and the transcript, under everything that speaks
//!    SMTP), [`dns`] (the fake DNS server with zones from YAML and faults).
//! 3. [`scenario`] (the YAML scenario language, its loader and checks), [`send`] (the
//!    reference client: MX delivery per RFC 5321 §5.1).
//! 4. [`requirements`] (the requirements index and coverage), [`profile`] (target,
//!    client and sender profiles, the embedded reference server, the launcher).
//! 5. [`roles`]: one peer per role tested (server, client, sender), each a case to a
//!    verdict.
//! 6. [`runner`] (pacing and retries over the roles) and [`report`] (the JSON report
//!    and its renderings).

pub mod dns;
pub mod fuzz;
pub mod outcome;
pub mod profile;
pub mod report;
pub mod requirements;
pub mod roles;
pub mod runner;
pub mod scenario;
pub mod send;
pub mod shipped;
pub mod test_ca;
pub mod wire;
pub mod yaml;
