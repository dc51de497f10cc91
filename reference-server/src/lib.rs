//! The reference SMTP server of smtpspec.
//!
//! Not built yet: it arrives with issue 3 (a tokio listener driving the protocol crate's
//! server state machine, STARTTLS, AUTH, Maildir store, named deviations). Until then
//! this crate only reserves its place in the workspace, so that the layout of
//! DESIGN.md holds from the first commit.
