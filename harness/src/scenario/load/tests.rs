//! Every kind of malformed scenario file gives a located error.

use std::path::Path;

use super::*;

const GOOD: &str = r#"suite: test.good
cases:
  - id: rcpt-before-mail
    title: RCPT before MAIL is refused
    spec: { rfc: 5321, section: "4.1.4", level: MUST }
    steps:
      - expect: 220
      - send: "EHLO {{client.helo}}"
      - expect: { class: 2xx, multiline: true }
      - send: "RCPT TO:<{{target.rcpt}}>"
      - expect: { code: 503, enhanced: "5.5.x" }
      - send_raw: 'NOOP\r\n'
      - expect: { codes: [250, 251], text: "(?i)ok" }
      - expect_silence: 200ms
      - starttls
      - expect_close
"#;

fn err(yaml: &str) -> String {
    match parse(yaml, Path::new("suite.yaml")) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn a_good_file_loads() {
    let cases = parse(GOOD, Path::new("suite.yaml")).expect("valid");
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].meta.id, "test.good/rcpt-before-mail");
    assert_eq!(cases[0].steps().len(), 10);
    assert_eq!(cases[0].steps()[1].line, 8);
}

#[test]
fn unknown_key() {
    let e = err(&GOOD.replace("    title:", "    titel:"));
    assert!(
        e.starts_with("suite.yaml: ") && e.contains("line 4 column 5") && e.contains("titel"),
        "{e}"
    );
}

#[test]
fn wrong_type() {
    let e = err(&GOOD.replace("rfc: 5321", "rfc: five"));
    assert!(e.contains("line 5") && e.contains("five"), "{e}");
}

#[test]
fn bad_indentation() {
    let e = err(&GOOD.replace("      - send: \"EHLO", "     - send: \"EHLO"));
    assert!(e.contains("suite.yaml") && e.contains("line 8"), "{e}");
}

#[test]
fn unknown_variable() {
    let e = err(&GOOD.replace("{{target.rcpt}}", "{{target.rcp}}"));
    assert!(
        e.starts_with(
            "suite.yaml:10:9: case rcpt-before-mail: send: unknown variable {{target.rcp}}"
        ),
        "{e}"
    );
}

#[test]
fn unknown_step() {
    let e = err(&GOOD.replace("- send_raw:", "- send_rwa:"));
    assert!(e.contains("line 12") && e.contains("send_rwa"), "{e}");
}

#[test]
fn bad_pattern() {
    let e = err(&GOOD.replace("(?i)ok", "(unclosed"));
    assert!(
        e.starts_with("suite.yaml:13:9: case rcpt-before-mail: expect: bad text pattern"),
        "{e}"
    );
}

#[test]
fn missing_field() {
    let e = err(&GOOD.replace("    title: RCPT before MAIL is refused\n", ""));
    assert!(
        e.contains("suite.yaml:5:5") && e.contains("missing field `title`"),
        "{e}"
    );
}

#[test]
fn bad_values_are_named() {
    assert!(err(&GOOD.replace("class: 2xx", "class: 7xx")).contains("not a reply class"));
    assert!(err(&GOOD.replace("200ms", "soon")).contains("not a duration"));
    assert!(err(&GOOD.replace(r"'NOOP\r\n'", r"'NOOP\q'")).contains("bad escape"));
    assert!(err(&GOOD.replace("5.5.x", "9.9.9")).contains("not an enhanced code"));
    assert!(err(&GOOD.replace("level: MUST", "level: MUSTNT")).contains("MUSTNT"));
}

#[test]
fn a_captured_variable_can_be_used_after_its_capture_only() {
    let using = GOOD.replace(
        "      - send_raw: 'NOOP\\r\\n'",
        "      - send_raw: 'NOOP {{said}}\\r\\n'",
    );
    let captured = using.replace(
        "      - expect: { code: 503, enhanced: \"5.5.x\" }",
        "      - expect: { code: 503, enhanced: \"5.5.x\", capture: said }",
    );
    let cases = parse(&captured, Path::new("suite.yaml")).expect("valid");
    assert!(
        cases[0].meta.uses.iter().all(|v| v != "said"),
        "not a profile variable"
    );
    let e = err(&using);
    assert!(
        e.contains("suite.yaml:12:") && e.contains("{{said}}"),
        "{e}"
    );
}

#[test]
fn a_capture_cannot_hide_a_profile_variable() {
    let e = err(&GOOD.replace(
        "      - expect: { code: 503, enhanced: \"5.5.x\" }",
        "      - expect: { code: 503, capture: target.rcpt }",
    ));
    assert!(e.contains("would hide a profile variable"), "{e}");
}

fn delivery(block: &str) -> String {
    format!(
        "suite: test.dns\ncases:\n  - id: d\n    title: t\n    spec: {{ rfc: 5321, section: \"5.1\", level: MUST }}\n    delivery:\n{block}"
    )
}

#[test]
fn delivery_blocks_are_checked_and_located() {
    let good = delivery(
        "      zones:\n        example.test:\n          \"@\": { MX: [\"10 mx1\"] }\n          mx1: { A: [127.0.0.2] }\n      servers:\n        127.0.0.2: { rcpt: 451 }\n      expect: { outcome: deferred, tried: [127.0.0.2] }\n",
    );
    let cases = parse(&good, Path::new("suite.yaml")).expect("valid");
    assert!(cases[0].delivery().is_some() && cases[0].steps().is_empty());

    let e = err(&good.replace("{ rcpt: 451 }", "acept"));
    assert!(
        e.contains("suite.yaml:12:20") && e.contains("expected accept, close, silent"),
        "{e}"
    );
    let e = err(&good.replace("10 mx1", "mx1"));
    assert!(
        e.contains("suite.yaml:9:") && e.contains("PREFERENCE HOST"),
        "{e}"
    );
    let e = err(&good.replace("expect: {", "runs: 5\n      expect: {"));
    assert!(e.contains("expect.tried needs runs: 1"), "{e}");
    let e = err(&good.replace("127.0.0.2: {", "192.0.2.1: {"));
    assert!(e.contains("not a loopback address"), "{e}");
    // A hostile-lookup rule names questions, and needs a handover to survive.
    let e = err(&good.replace("expect: {", "expect: { survives_lookup: [spf.test],"));
    assert!(e.contains("is not \"TYPE NAME\""), "{e}");
    let e = err(&good.replace("expect: {", "expect: { survives_lookup: [TXT spf.test],"));
    assert!(e.contains("survives_lookup needs content"), "{e}");
    let e = err(&good.replace("expect: {", "source: 10.0.0.1\n      expect: {"));
    assert!(e.contains("source: 10.0.0.1 is neither loopback"), "{e}");
    let e = err(&good.replace("expect: {", "source: 127.0.0.66\n      expect: {"));
    assert!(e.contains("source needs content"), "{e}");
    let e = err(&good.replace(
        "mx1: { A: [127.0.0.2] }",
        "mx1: { RAW: [{ type: MX, labels: [a] }] }",
    ));
    assert!(e.contains("needs `preference`"), "{e}");
    let e = err(&good.replace(
        "mx1: { A: [127.0.0.2] }",
        "mx1: { CNAME: \"@\", A: [127.0.0.2] }",
    ));
    assert!(e.contains("RFC 1034"), "{e}");
    let both = good.replace(
        "    delivery:\n",
        "    steps:\n      - expect: 220\n    delivery:\n",
    );
    assert!(err(&both).contains("not several"));
    let neither = "suite: test.dns\ncases:\n  - id: d\n    title: t\n    spec: { rfc: 5321, section: \"5.1\", level: MUST }\n";
    assert!(err(neither).contains("needs steps, a delivery or a client script"));
}

#[test]
fn client_blocks_are_checked_and_located() {
    let good = "suite: test.client\ncases:\n  - id: c\n    title: t\n    spec: { rfc: 5321, section: \"4.1.4\", level: MUST }\n    client:\n      mode: tls-required\n      script:\n        - reply: \"220 x\"\n        - expect: EHLO\n        - expect_data: { contains: ['\\r\\n.A'] }\n        - silence: 1s\n        - starttls\n";
    let cases = parse(good, Path::new("suite.yaml")).expect("valid");
    let c = cases[0].client().expect("a client case");
    assert_eq!(c.script.len(), 5);
    assert_eq!(c.script[1].line, 10);
    let e = err(&good.replace("expect: EHLO", "expect: HALLO"));
    assert!(
        e.contains("suite.yaml:10:") && e.contains("not an SMTP verb"),
        "{e}"
    );
    let e = err(&good.replace("silence: 1s", "silence: soon"));
    assert!(
        e.contains("suite.yaml:12:") && e.contains("not a duration"),
        "{e}"
    );
    let e = err(&good.replace("mode: tls-required", "mode: tls"));
    assert!(e.contains("suite.yaml:7:"), "{e}");
    let e = err(&good.replace("- starttls", "- starttls_now"));
    assert!(e.contains("suite.yaml:13:"), "{e}");
}

#[test]
fn silence_has_one_spelling_in_both_roles() {
    // Server steps say expect_silence, client scripts silence; each accepts the other.
    let server = GOOD.replace("expect_silence: 200ms", "silence: 200ms");
    let cases = parse(&server, Path::new("suite.yaml")).expect("silence in server steps");
    assert!(matches!(
        cases[0].steps()[7].action,
        Action::Silence(d) if d == std::time::Duration::from_millis(200)
    ));
    let client = "suite: test.client\ncases:\n  - id: c\n    title: t\n    spec: { rfc: 5321, section: \"4.1.4\", level: MUST, quote: q }\n    client:\n      mode: plain\n      script:\n        - reply: \"220 x\"\n        - expect_silence: 1s\n";
    let cases = parse(client, Path::new("suite.yaml")).expect("expect_silence in client scripts");
    let script = &cases[0].client().expect("a client case").script;
    assert!(matches!(
        script[1].action,
        crate::scenario::client::Serve::Silence(d) if d == std::time::Duration::from_secs(1)
    ));
}
