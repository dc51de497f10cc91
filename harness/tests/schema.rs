//! The committed JSON Schema of the scenario language is the one the code generates,
//! and it accepts the whole catalogue: editors that use it see what the loader sees.

use smtpspec::profile::embedded;
use smtpspec::scenario::json_schema;

#[test]
fn committed_schema_is_current() {
    let path = embedded::catalogue().join("schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == json_schema(),
        "{} is stale: refresh it with `cargo run -q -p smtpspec -- schema > scenarios/schema.json`",
        path.display()
    );
}

#[test]
fn schema_names_every_step() {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).expect("JSON");
    let text = schema["$defs"]["Step"].to_string();
    for step in [
        "send",
        "send_raw",
        "send_batch",
        "send_body",
        "expect",
        "expect_ehlo",
        "expect_close",
        "expect_silence",
        "starttls",
        "handshake",
        "expect_stored",
        "pause",
    ] {
        assert!(
            text.contains(&format!("\"{step}\"")),
            "{step} missing from the schema"
        );
    }
}

#[test]
fn committed_report_schema_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == smtpspec::report::model::json_schema(),
        "{} is stale: refresh it with `cargo run -q -p smtpspec -- schema --report > reports/schema.json`",
        path.display()
    );
}
