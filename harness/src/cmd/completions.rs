//! `smtpspec completions SHELL`: a completion script generated from the same
//! definitions as the parser, so it never offers a flag that does not exist.

use clap::CommandFactory;

use super::out::out;
use super::{CmdResult, Exit};
use crate::cli::{Cli, CompletionsArgs};

pub(crate) fn main(args: CompletionsArgs) -> CmdResult {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "smtpspec", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(Exit::Conformant)
}
