//! `smtpspec fuzz --merge DIR… --output-dir OUT`: the output directories of sharded
//! campaigns (`--shard i/n`, one fuzzer per CI job) merged into one. A file's name is
//! its identity (a finding's class and key, an input's hash), so the same finding
//! from two shards is one finding; the figures of `stats.json` are summed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use smtpspec::fuzz::Stats;

use super::out::outln;
use super::{CliError, CmdResult, Exit};

/// Merge `dirs` into `out`; 1 when the merged campaigns found anything.
pub(crate) fn merge(dirs: &[PathBuf], out: &Path) -> CmdResult {
    let io = |path: &Path, e: std::io::Error| CliError::usage(format!("{}: {e}", path.display()));
    let mut stats = Stats::default();
    for dir in dirs {
        let path = dir.join("stats.json");
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let one: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| CliError::usage(format!("{}: not a stats.json: {e}", path.display())))?;
        add(&mut stats, &one);
    }
    for sub in ["findings", "corpus"] {
        let into = out.join(sub);
        std::fs::create_dir_all(&into).map_err(|e| io(&into, e))?;
        for dir in dirs {
            let from = dir.join(sub);
            let Ok(entries) = std::fs::read_dir(&from) else {
                continue;
            };
            for entry in entries.flatten() {
                let to = into.join(entry.file_name());
                if !to.exists() {
                    std::fs::copy(entry.path(), &to).map_err(|e| io(&to, e))?;
                }
            }
        }
    }
    stats.findings = classes(&out.join("findings"));
    stats.corpus = names(&out.join("corpus"), "yaml").len();
    // The shards ran side by side: the campaign took as long as the longest.
    stats.sessions_per_s = stats.sessions as f64 / stats.elapsed_s.max(1e-9);
    let path = out.join("stats.json");
    let json = serde_json::to_string_pretty(&stats).unwrap_or_default();
    std::fs::write(&path, json + "\n").map_err(|e| io(&path, e))?;
    let found: usize = stats.findings.values().sum();
    outln!(
        "merged {} campaign(s): {} sessions, corpus {}, {found} finding(s) {:?}",
        dirs.len(),
        stats.sessions,
        stats.corpus,
        stats.findings
    );
    outln!("stats: {}", path.display());
    Ok(if found > 0 {
        Exit::NonConformant
    } else {
        Exit::Conformant
    })
}

/// Add one campaign's figures. The signature maps are not kept, so the merged
/// `signature_bits` (and each feature's share) is the largest shard's: a lower bound.
fn add(total: &mut Stats, one: &serde_json::Value) {
    let n = |key: &str| {
        one.get(key)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    total.sessions += n("sessions");
    total.throttled += n("throttled");
    total.unreachable += n("unreachable");
    total.closed_after_refusal += n("closed_after_refusal");
    total.unanswered_steps += n("unanswered_steps");
    total.unconfirmed += n("unconfirmed");
    total.unchecked += n("unchecked");
    for (key, total_by) in [
        ("throttled_by", &mut total.throttled_by),
        (
            "closed_after_refusal_by",
            &mut total.closed_after_refusal_by,
        ),
    ] {
        let by = one.get(key).and_then(serde_json::Value::as_object);
        for (why, count) in by.into_iter().flatten() {
            *total_by.entry(why.clone()).or_default() += count.as_u64().unwrap_or(0);
        }
    }
    if let Some(by) = one
        .get("unconfirmed_by")
        .and_then(serde_json::Value::as_object)
    {
        for (class, count) in by {
            *total.unconfirmed_by.entry(class.clone()).or_default() += count.as_u64().unwrap_or(0);
        }
    }
    total.canaries += n("canaries");
    total.canaries_throttled += n("canaries_throttled");
    total.slowed_after_errors += n("slowed_after_errors");
    total.signature_bits = total.signature_bits.max(n("signature_bits") as usize);
    if let Some(by) = one
        .get("signature_bits_by_feature")
        .and_then(serde_json::Value::as_object)
    {
        for (kind, count) in by {
            let bits = total
                .signature_bits_by_feature
                .entry(kind.clone())
                .or_default();
            *bits = (*bits).max(count.as_u64().unwrap_or(0) as usize);
        }
    }
    let elapsed = one.get("elapsed_s").and_then(serde_json::Value::as_f64);
    total.elapsed_s = total.elapsed_s.max(elapsed.unwrap_or(0.0));
}

/// Findings by class, from the reproducers' names (`<class>-<key>.yaml`).
fn classes(dir: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for name in names(dir, "yaml") {
        if let Some((class, _)) = name.rsplit_once('-') {
            *out.entry(class.to_owned()).or_default() += 1;
        }
    }
    out
}

/// The stems of the files under `dir` ending in `.ext`.
fn names(dir: &Path, ext: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(&format!(".{ext}")).map(str::to_owned)
        })
        .collect()
}
