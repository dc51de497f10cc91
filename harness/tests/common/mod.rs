//! What the test binaries that run the real `smtpspec` binary share. Each test file is
//! its own crate and uses a part of this, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::process::{Command, Output};

/// The binary under test, run to its end, colours off (the output is compared as
/// text).
pub(crate) fn smtpspec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run smtpspec")
}

/// The path of a suite of the catalogue.
pub(crate) fn suite(name: &str) -> String {
    format!("{}/../scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Every subcommand of the binary.
pub(crate) const SUBCOMMANDS: [&str; 12] = [
    "run",
    "client",
    "serve",
    "dns",
    "send",
    "fuzz",
    "report",
    "list",
    "check",
    "coverage",
    "schema",
    "completions",
];
