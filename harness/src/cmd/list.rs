//! `smtpspec list`: every case with its requirement, one line each.

use super::catalogue::Catalogue;
use super::out::outln;
use super::{CmdResult, Exit};
use crate::cli::ListArgs;

pub(crate) fn main(args: ListArgs) -> CmdResult {
    let mut catalogue = Catalogue::load(args.paths, &args.scenarios)?;
    catalogue.filter(args.filter.as_deref());
    catalogue.require_cases(args.filter.as_deref(), "")?;
    for c in &catalogue.cases {
        outln!(
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
