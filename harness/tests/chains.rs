//! `smtpspec report --chains` on reports of real runs: a relay that passes `\n.\n` on
//! as sent (the reference client with `sender-bare-line-ends`) and a receiver that
//! ends DATA at it (the reference server with `data-end-lf-dot-lf`) make a chain; the
//! same relay and an honest receiver do not, nor does an honest relay.

mod common;

use std::path::Path;

/// Run `smtpspec run ARGS --format json --output DIR/NAME.json` and return the path.
fn report(dir: &Path, name: &str, args: &[&str]) -> String {
    let out = dir.join(format!("{name}.json")).display().to_string();
    let mut all = args.to_vec();
    all.extend(["--format", "json", "--output", &out]);
    let run = common::smtpspec(&all);
    assert!(
        run.status.code().is_some_and(|c| c <= 1),
        "{name}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

#[test]
fn a_relay_that_passes_a_sequence_and_a_receiver_that_ends_at_it_make_a_chain() {
    let dir = tempfile::tempdir().unwrap();
    let relays = common::suite("dns/relay-smuggling.yaml");
    let leaky = report(
        dir.path(),
        "leaky",
        &["run", &relays, "--deviate", "sender-bare-line-ends"],
    );
    let honest_relay = report(dir.path(), "honest-relay", &["run", &relays]);
    let filter = ["--filter", "security.smuggling/data-end-lf-dot-lf"];
    let mut args = vec!["run"];
    args.extend(filter);
    let strict = report(dir.path(), "strict", &args);
    args.extend(["--deviate", "data-end-lf-dot-lf"]);
    let lenient = report(dir.path(), "lenient", &args);

    let out = common::smtpspec(&[
        "report",
        "--chains",
        &leaky,
        &honest_relay,
        &strict,
        &lenient,
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chains: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<String> = ["leaky", "honest-relay", "strict", "lenient"]
        .iter()
        .map(|n| {
            let path = dir.path().join(format!("{n}.json"));
            let r: serde_json::Value =
                serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            r["target"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    let (leaky, honest, strict, lenient) = (&names[0], &names[1], &names[2], &names[3]);
    let cell = |relay: &str, rx: &str| chains["chains"][relay][rx].clone();
    assert_eq!(
        cell(leaky, lenient),
        serde_json::json!(["lf.lf"]),
        "{chains}"
    );
    assert_eq!(cell(leaky, strict), serde_json::json!([]), "{chains}");
    assert_eq!(cell(honest, lenient), serde_json::json!([]), "{chains}");
    assert_eq!(chains["relays"][leaky]["lf.lf"], "passed");
    assert_eq!(chains["relays"][honest]["lf.lf"], "normalised");
    assert!(chains["receivers"][lenient]["lf.lf"].is_array());

    let md = common::smtpspec(&["report", "--chains", &names_path(dir.path())]);
    let text = String::from_utf8_lossy(&md.stdout);
    assert!(text.contains("nothing to pair"), "{text}");
}

/// A report with neither half: the strict receiver alone.
fn names_path(dir: &Path) -> String {
    dir.join("strict.json").display().to_string()
}
