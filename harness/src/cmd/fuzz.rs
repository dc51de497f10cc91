//! `smtpspec fuzz`: the network fuzzer. Not built yet; the command exists so that the
//! contract (exit 2, and why) is stable for the scripts that probe for it.

use super::{CliError, CmdResult};

pub(crate) fn main() -> CmdResult {
    Err(CliError::usage(
        "not implemented yet (see README.md, \"Status\")",
    ))
}
