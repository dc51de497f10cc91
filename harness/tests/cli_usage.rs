//! What a new user types wrong, or pipes somewhere, gets a clear answer and the
//! documented exit status: a closed pipe ends quietly, a selection of nothing and a
//! value no command can use are usage errors (2) that say what is allowed, every
//! `--help` shows examples and only the flags that work there.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{SUBCOMMANDS, smtpspec};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `smtpspec ARGS | head -1`: the reader goes away after one line.
fn first_line_then_close(args: &[&str]) -> (String, Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start smtpspec");
    let mut line = String::new();
    {
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        reader.read_line(&mut line).expect("a first line");
    }
    let out = child.wait_with_output().expect("smtpspec ends");
    (line, out.status.code(), stderr(&out))
}

#[test]
fn a_closed_pipe_ends_quietly_with_the_commands_status() {
    for args in [
        &["list"][..],
        &["schema"][..],
        &["completions", "bash"][..],
        &["coverage"][..],
    ] {
        let (line, code, err) = first_line_then_close(args);
        assert!(!line.is_empty(), "{args:?}: no first line");
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?} said on stderr: {err}");
    }
}

#[test]
fn a_selection_of_nothing_is_a_usage_error_that_names_the_filter() {
    let out = smtpspec(&["run", "--filter", "no-such-case-anywhere"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--filter \"no-such-case-anywhere\" selects no case"),
        "{}",
        stderr(&out)
    );
    let out = smtpspec(&["list", "--filter", "9.9.9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("\"9.9.9\" selects no case in the catalogue"));
    // A directory of client cases against a server: none of them tests a server.
    let out = smtpspec(&["run", &common::suite("client"), "--target", "127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no server case in"),
        "{}",
        stderr(&out)
    );
    let empty = tempfile::tempdir().unwrap();
    let out = smtpspec(&["run", &empty.path().display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no case in"), "{}", stderr(&out));
}

#[test]
fn values_no_command_can_use_exit_2_with_the_allowed_range() {
    for (args, says) in [
        (&["run", "--jobs", "0"][..], "from 1 to 4096"),
        (&["run", "--timeout", "0"][..], "above 0"),
        (&["run", "--timeout", "soon"][..], "such as 5s"),
        (&["fuzz", "--jobs", "0"][..], "from 1 to 4096"),
        (&["fuzz", "--runs", "0"][..], "1 or more"),
        (&["fuzz", "--duration", "0s"][..], "above 0"),
        (&["fuzz", "--rate", "0"][..], "1.."),
        (&["serve", "--threads", "0"][..], "from 1 to 4096"),
        (
            &["send", "--from", "a@b", "--to", "c@d", "--rounds", "0"][..],
            "1..=100",
        ),
        (
            &[
                "send",
                "--from",
                "a@b",
                "--to",
                "c@d",
                "--timeout-scale",
                "0",
            ][..],
            "above 0",
        ),
        (&["run", "--fail-on", "never"][..], "must, should, may"),
    ] {
        let out = smtpspec(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_section_filter_takes_whole_components() {
    let out = smtpspec(&["list", "--filter", "4.5.3.1.1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed = stdout(&out);
    assert!(listed.contains("§4.5.3.1.1 "), "{listed}");
    assert!(!listed.contains("§4.5.3.1.10"), "{listed}");
    let out = smtpspec(&["list", "--filter", "4.5.3.1"]);
    assert!(stdout(&out).contains("§4.5.3.1.10"), "{}", stdout(&out));
}

#[test]
fn fail_on_may_is_taken_and_info_stays_an_alias() {
    for level in ["may", "info"] {
        let out = smtpspec(&[
            "run",
            "--filter",
            "rfc5321.session/noop-250",
            "--fail-on",
            level,
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{level}: {}", stderr(&out));
        assert!(stdout(&out).contains("\"fail_on\": \"may\""), "{level}");
    }
}

#[test]
fn every_help_has_examples_and_only_flags_that_work_there() {
    for c in SUBCOMMANDS {
        let out = smtpspec(&[c, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{c}");
        let help = stdout(&out);
        assert!(
            help.contains("Examples:\n  smtpspec"),
            "{c} --help:\n{help}"
        );
    }
    let client = stdout(&smtpspec(&["client", "--help"]));
    for flag in ["--target", "--deviate", "--sender", "--variant"] {
        assert!(!client.contains(flag), "client --help offers {flag}");
    }
    let dns = stdout(&smtpspec(&["dns", "--help"]));
    assert!(!dns.contains("README"), "{dns}");
    assert!(dns.contains("fault: timeout"), "{dns}");
}

#[test]
fn completions_are_scripts_for_each_shell() {
    for (shell, mark) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef smtpspec"),
        ("fish", "complete -c smtpspec"),
    ] {
        let out = smtpspec(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout(&out);
        assert!(script.contains(mark), "{shell}: {script:.200}");
        assert!(script.contains("fail-on"), "{shell}");
    }
}

#[test]
fn a_target_without_a_port_is_tried_on_port_25() {
    // Usually nothing listens there and the reason names the address tried; a
    // machine with a mail server on every address gets a report that names it.
    let out = smtpspec(&[
        "run",
        "--target",
        "127.0.0.9",
        "--filter",
        "noop-250",
        "--timeout",
        "1s",
        "--format",
        "json",
    ]);
    let said = format!("{}{}", stderr(&out), stdout(&out));
    assert!(said.contains("127.0.0.9:25"), "{said}");
}

#[test]
fn a_yaml_limit_is_said_in_a_users_words() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.yaml");
    // Valid steps, too many of them: 90,000 steps of three nodes each.
    let steps = vec!["{expect: 220}"; 90_000].join(",");
    std::fs::write(
        &file,
        format!(
            "suite: x\ncases:\n  - id: a\n    title: t\n    spec: {{ rfc: 5321, section: \"3.1\", \
             level: MUST }}\n    steps: [{steps}]\n"
        ),
    )
    .unwrap();
    let out = smtpspec(&["check", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("more than 250,000 nodes"), "{err}");
    assert!(!err.contains("budget breached"), "{err}");
}

#[test]
fn an_untestable_target_still_gets_every_report_asked_for() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = smtpspec(&[
        "run",
        "--target",
        &closed,
        "--timeout",
        "300ms",
        "--output-dir",
        &out_dir.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not be tested"),
        "{}",
        stderr(&out)
    );
    for file in [
        "report.json",
        "junit.xml",
        "report.md",
        "report.html",
        "report.txt",
    ] {
        assert!(out_dir.join(file).is_file(), "{file} missing");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    let cases = report["cases"].as_array().expect("cases");
    assert!(cases.len() > 100, "{}", cases.len());
    for c in cases {
        assert_eq!(c["verdict"], "error", "{c}");
        assert!(
            c["reason"]
                .as_str()
                .unwrap()
                .contains("could not be tested"),
            "{c}"
        );
    }
    let text = std::fs::read_to_string(out_dir.join("report.txt")).unwrap();
    assert!(
        text.lines().next().unwrap().contains("could not be tested"),
        "{text:.300}"
    );
}

/// The binary run from `/` with a cache of its own: what `cargo install` gives.
fn installed(cache: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .args(args)
        .current_dir("/")
        .env("XDG_CACHE_HOME", cache)
        .env("NO_COLOR", "1")
        .output()
        .expect("run smtpspec")
}

#[test]
fn the_catalogue_travels_inside_the_binary() {
    let cache = tempfile::tempdir().unwrap();
    let out = installed(cache.path(), &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).lines().count() > 200, "{}", stdout(&out));
    let unpacked = std::fs::read_dir(cache.path().join("smtpspec"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join(".complete").is_file())
        .expect("a complete copy in the cache");
    assert!(unpacked.join("scenarios/rfc5321/session.yaml").is_file());
    assert!(unpacked.join("requirements/rfc5321.yaml").is_file());
    let out = installed(cache.path(), &["run", "--filter", "noop-250"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 pass"), "{}", stdout(&out));
    let out = installed(cache.path(), &["coverage"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn scenarios_add_suites_and_replace_one_of_the_same_name() {
    let cache = tempfile::tempdir().unwrap();
    let mine = tempfile::tempdir().unwrap();
    std::fs::write(
        mine.path().join("session.yaml"),
        "suite: rfc5321.session\ncases:\n  - id: only-this-one\n    title: Mine\n    \
         spec: { rfc: 5321, section: \"3.1\", level: MUST }\n    steps:\n      - expect: 220\n",
    )
    .unwrap();
    std::fs::write(
        mine.path().join("extra.yaml"),
        "suite: my.extra\ncases:\n  - id: greets\n    title: Mine too\n    \
         spec: { rfc: 5321, section: \"3.1\", level: MUST }\n    steps:\n      - expect: 220\n",
    )
    .unwrap();
    let dir = mine.path().display().to_string();
    let out = installed(cache.path(), &["list", "--scenarios", &dir]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed = stdout(&out);
    let session: Vec<&str> = listed
        .lines()
        .filter(|l| l.starts_with("rfc5321.session/"))
        .collect();
    assert_eq!(session.len(), 1, "{session:?}");
    assert!(session[0].starts_with("rfc5321.session/only-this-one"));
    assert!(listed.contains("my.extra/greets"), "{listed}");
    assert!(
        listed.contains("rfc5321.limits/"),
        "the rest stays: {listed}"
    );
    let out = installed(
        cache.path(),
        &["run", "--scenarios", &dir, "--filter", "my.extra"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 pass"), "{}", stdout(&out));
}
