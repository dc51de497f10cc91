//! `smtpspec schema`: the JSON Schema of the scenario language (for editors), or of
//! the JSON report (for the tools that read it).

use super::out::out;
use super::{CmdResult, Exit};
use crate::cli::SchemaArgs;

pub(crate) fn main(args: SchemaArgs) -> CmdResult {
    if args.report {
        out!("{}", smtpspec::report::model::json_schema());
    } else {
        out!("{}", smtpspec::scenario::json_schema());
    }
    Ok(Exit::Conformant)
}
