//! `smtpspec list`: every case with its requirement, one line each.

use super::catalogue::Catalogue;
use super::{CmdResult, Exit};
use crate::cli::PathsArgs;

pub(crate) fn main(args: PathsArgs) -> CmdResult {
    let catalogue = Catalogue::load(args.paths)?;
    for c in &catalogue.cases {
        println!(
            "{:<56} RFC {} §{} {:<6} {}",
            c.meta.id,
            c.meta.spec.rfc,
            c.meta.spec.section,
            c.meta.spec.level.as_str(),
            c.meta.title
        );
    }
    Ok(Exit::Conformant)
}
