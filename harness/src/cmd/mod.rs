//! The subcommands of the `smtpspec` binary, one file each: each reads its arguments,
//! calls the library, and maps what happened to the exit-status contract of README.md.

pub(crate) mod client;
pub(crate) mod coverage;
pub(crate) mod dns;
pub(crate) mod output;
pub(crate) mod run;
pub(crate) mod send;
pub(crate) mod serve;
