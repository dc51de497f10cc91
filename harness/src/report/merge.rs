//! One report from the reports of a run's shards (`run --shard I/N` in the jobs of a
//! CI matrix): the cases united, every count made again from them.
//!
//! Shards of one run share a target name, a catalogue (the suite digest) and the
//! settings that change verdicts (`--filter`, `--fail-on`); reports that differ there
//! are not shards of one run and are refused, as is a case found in two of them.

use std::collections::BTreeSet;
use std::fmt;

use super::model::Report;
use crate::requirements::Requirement;

/// Why reports cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError(pub String);

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MergeError {}

/// `shards` as one report, its cases ordered by id; the requirement counts are made
/// from `index`.
pub fn merge(shards: Vec<Report>, index: &[Requirement]) -> Result<Report, MergeError> {
    let mut shards = shards.into_iter();
    let Some(mut merged) = shards.next() else {
        return Err(MergeError("no report to merge".into()));
    };
    let mut seen: BTreeSet<String> = merged.cases.iter().map(|c| c.id.clone()).collect();
    for (n, shard) in shards.enumerate() {
        let which = n + 2;
        same(&merged, &shard, which)?;
        for case in &shard.cases {
            if !seen.insert(case.id.clone()) {
                return Err(MergeError(format!(
                    "report {which} has {} again: the reports overlap (shards of one run \
                     do not)",
                    case.id
                )));
            }
        }
        merged.started = merged.started.min(shard.started);
        merged.finished = merged.finished.max(shard.finished);
        merged.pacing = match (merged.pacing, shard.pacing) {
            (Some(mut a), Some(b)) => {
                a.lowest = a.lowest.min(b.lowest);
                a.refusals += b.refusals;
                Some(a)
            }
            (a, b) => a.or(b),
        };
        merged.cases.extend(shard.cases);
    }
    merged.cases.sort_by(|a, b| a.id.cmp(&b.id));
    merged.recount(index);
    Ok(merged)
}

/// The shard numbered `which` (from 1) belongs with `first`.
fn same(first: &Report, shard: &Report, which: usize) -> Result<(), MergeError> {
    let differ = |what: &str, a: &str, b: &str| {
        Err(MergeError(format!(
            "report {which} is of another run: its {what} is {b:?}, the first report's {a:?}"
        )))
    };
    if first.target.name != shard.target.name {
        return differ("target", &first.target.name, &shard.target.name);
    }
    if first.tool.suite_digest != shard.tool.suite_digest {
        return differ(
            "catalogue (suite digest)",
            &first.tool.suite_digest,
            &shard.tool.suite_digest,
        );
    }
    let filter = |r: &Report| r.settings.filter.clone().unwrap_or_default();
    if filter(first) != filter(shard) {
        return differ("--filter", &filter(first), &filter(shard));
    }
    if first.settings.fail_on != shard.settings.fail_on {
        return differ(
            "--fail-on",
            &first.settings.fail_on,
            &shard.settings.fail_on,
        );
    }
    Ok(())
}
