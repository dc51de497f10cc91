//! `smtpspec check`: load and check scenario files without contacting anything, and
//! hold every expected reply set to RFC 5321 §4.3.2.

use smtpspec::scenario::load;

use super::catalogue::Catalogue;
use super::out::outln;
use super::{CliError, CmdResult, Exit};
use crate::cli::PathsArgs;

pub(crate) fn main(args: PathsArgs) -> CmdResult {
    let catalogue = Catalogue::load(args.paths, &args.scenarios)?;
    // RFC 5321 §4.3.2: every expected code set as wide as the RFC allows, or the
    // sentence that narrows it.
    let problems: Vec<_> = catalogue
        .cases
        .iter()
        .flat_map(load::replies::lint)
        .collect();
    for p in &problems {
        eprintln!("{p}");
    }
    if !problems.is_empty() {
        return Err(CliError::usage(format!(
            "{} expectation(s) narrower than RFC 5321 §4.3.2",
            problems.len()
        )));
    }
    outln!("{} cases, no errors", catalogue.cases.len());
    Ok(Exit::Conformant)
}
