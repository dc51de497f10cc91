//! The CI recipes under `examples/ci/` are valid YAML and call only smtpspec commands
//! and flags that exist: a recipe copied into a pipeline must not fail on a typo of
//! ours.

mod common;

use std::collections::BTreeMap;

use common::{SUBCOMMANDS, smtpspec};

/// Every shell script of a CI file: the strings under a `run` (GitHub) or a
/// `script` or `before_script` (GitLab) key.
fn scripts(value: &serde_json::Value, in_script: bool, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if in_script => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| scripts(v, in_script, out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, v)| {
            let script = in_script || matches!(k.as_str(), "run" | "script" | "before_script");
            scripts(v, script, out);
        }),
        _ => {}
    }
}

/// Each `smtpspec SUBCOMMAND --flag ...` in `script`: the subcommand and its flags.
fn invocations(script: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for line in script.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"cargo") {
            continue;
        }
        for (i, w) in words.iter().enumerate() {
            if *w != "smtpspec" {
                continue;
            }
            let sub = words.get(i + 1).copied().unwrap_or_default().to_owned();
            let flags = words[(i + 2).min(words.len())..]
                .iter()
                .take_while(|w| !matches!(**w, "&" | "&&" | "|" | ">" | ">>" | ";"))
                .filter(|w| w.starts_with("--"))
                .map(|w| w.split('=').next().unwrap_or(w).to_owned())
                .collect();
            out.push((sub, flags));
        }
    }
    out
}

#[test]
fn the_ci_recipes_parse_and_name_only_what_exists() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/ci");
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    let mut checked = 0;
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let text = std::fs::read_to_string(format!("{dir}/{name}")).expect(name);
        let doc: serde_json::Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut all = Vec::new();
        scripts(&doc, false, &mut all);
        for script in &all {
            for (sub, flags) in invocations(script) {
                assert!(
                    SUBCOMMANDS.contains(&sub.as_str()),
                    "{name}: smtpspec {sub:?} is no command"
                );
                let help = helps.entry(sub.clone()).or_insert_with(|| {
                    String::from_utf8_lossy(&smtpspec(&[&sub, "--help"]).stdout).into_owned()
                });
                for flag in flags {
                    assert!(
                        help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                        "{name}: smtpspec {sub} has no {flag}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "only {checked} invocations found");
    // The GitHub recipe runs shards and merges them.
    let github = std::fs::read_to_string(format!("{dir}/github-actions.yml")).unwrap();
    assert!(github.contains("--shard ${{ matrix.shard }}/4"));
    assert!(github.contains("report --merge"));
}
