//! `smtpspec list`: every case with its requirement, one line each.

use super::catalogue::Catalogue;
use super::{CmdResult, Exit};
use crate::cli::PathsArgs;

pub(crate) fn main(args: PathsArgs) -> CmdResult {
    let catalogue = Catalogue::load(args.paths)?;
    for c in &catalogue.cases {
        println!(
            "{:<56} RFC {} §{} {:<6} {}",
            c.id,
            c.spec.rfc,
            c.spec.section,
            c.spec.level.as_str(),
            c.title
        );
    }
    Ok(Exit::Conformant)
}
