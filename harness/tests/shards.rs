//! `run --shard I/N` splits a run for the jobs of a CI matrix, and `report --merge`
//! makes one report of the shards: the same verdicts as the run in one piece.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{smtpspec, suite};

fn verdicts(report: &Path) -> BTreeMap<String, String> {
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    r["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn run_to(dir: &Path, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    let mut args = vec![
        "run".to_owned(),
        suite("rfc5321"),
        "--format".into(),
        "json".into(),
        "--output".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = smtpspec(&args);
    assert_eq!(
        done.status.code(),
        Some(0),
        "{name}: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    out
}

#[test]
fn three_shards_merge_into_the_run_in_one_piece() {
    let dir = tempfile::tempdir().unwrap();
    let whole = verdicts(&run_to(dir.path(), "whole.json", &[]));
    let shards: Vec<_> = (1..=3)
        .map(|i| {
            run_to(
                dir.path(),
                &format!("s{i}.json"),
                &["--shard", &format!("{i}/3")],
            )
        })
        .collect();
    // A partition: every case in one shard, none in two, none empty.
    let mut union = BTreeMap::new();
    for s in &shards {
        let part = verdicts(s);
        assert!(!part.is_empty(), "{} is empty", s.display());
        for (id, v) in part {
            assert!(union.insert(id.clone(), v).is_none(), "{id} in two shards");
        }
    }
    assert_eq!(union, whole);

    let merged = dir.path().join("merged.json");
    let mut args = vec!["report".to_owned(), "--merge".into()];
    args.extend(shards.iter().map(|s| s.display().to_string()));
    args.extend(["--output".into(), merged.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = smtpspec(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(verdicts(&merged), whole);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    let w: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("whole.json")).unwrap()).unwrap();
    assert_eq!(m["summary"], w["summary"]);
    assert_eq!(m["by_level"], w["by_level"]);
    assert_eq!(m["requirements"], w["requirements"]);

    // The same shard twice is not two shards of one run.
    let s1 = shards[0].display().to_string();
    let out = smtpspec(&["report", "--merge", &s1, &s1]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("overlap"));
}

#[test]
fn a_shard_is_the_same_in_every_job() {
    let list = |shard: &str| {
        let out = smtpspec(&[
            "run",
            &suite("rfc5321"),
            "--shard",
            shard,
            "--format",
            "json",
        ]);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        r["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(list("2/4"), list("2/4"));
}
