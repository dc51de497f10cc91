//! The network fuzzer against the reference server over real sockets: clean on the
//! plain server (no false finding), and every planted deviation found from the seed
//! corpus, with a reproducer suite that fails on the deviated server and passes on the
//! plain one. The catalogue reaches no planted deviation (they are the fuzzer's).

use std::time::Duration;

use reference_server::settings::FileSettings;
use reference_server::variant::Variant;
use smtp_protocol::server::Deviation;
use smtpspec::fuzz::exec::{self, Limits};
use smtpspec::fuzz::finding::{self, Provenance};
use smtpspec::fuzz::input::{Input, Step};
use smtpspec::fuzz::oracle::{self, Judged, Oracle};
use smtpspec::fuzz::{self, Options, canary};
use smtpspec::profile::{PolicyOptions, embedded};
use smtpspec::runner::{self, Verdict};
use smtpspec::scenario::load::{self, CaseKind};
use smtpspec::scenario::template::Vars;

/// One campaign at a time: each is judged on what it finds within its time budget
/// (a planted bug within 120 s), which assumes the machine is its own, as it is for
/// a user's `smtpspec fuzz`; the test harness would otherwise run them side by side.
static MACHINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn seeds(vars: &Vars) -> Vec<Input> {
    load::load(&[embedded::catalogue()])
        .expect("the catalogue loads")
        .iter()
        .filter(|c| matches!(c.kind, CaseKind::Server(_)))
        .filter_map(|c| Input::from_case(c, vars))
        .collect()
}

fn options(target: std::net::SocketAddr, runs: u64, duration: Duration) -> Options {
    Options {
        target,
        runs: Some(runs),
        duration,
        seed: 7,
        jobs: 16,
        limits: Limits {
            connect: Duration::from_secs(5),
            reply: Duration::from_millis(300),
            chunking: true,
            whole: false,
            listen: Duration::ZERO,
            opening: Default::default(),
        },
        rate: None,
        minimise_budget: 256,
        stop_on_finding: true,
        watch: Default::default(),
        canary: None,
        store: None,
        store_disposable: false,
        store_per_recipient: false,
        policy: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_server_gives_no_finding() {
    let _machine = MACHINE.lock().await;
    let e = embedded::start_with(&[], &[]).await.expect("start");
    let mut o = options(e.server.addr(), 20_000, Duration::from_secs(60));
    o.canary = canary::input(&e.vars);
    o.store = Some(e.store());
    o.store_disposable = true;
    o.policy = embedded_policy();
    let mut inputs = seeds(&e.vars);
    inputs.extend(fuzz::policy::seeds(&o.policy, &e.vars));
    let out = fuzz::run(inputs, o, |_| {}).await;
    assert!(out.stats.canaries >= 1, "{:?}", out.stats);
    assert!(out.stats.sessions >= 1_000, "{:?}", out.stats);
    assert!(out.stats.signature_bits > 300, "{:?}", out.stats);
    let found: Vec<String> = out
        .findings
        .iter()
        .map(|f| {
            format!(
                "{}: {}\n{}",
                f.oracle.name(),
                f.what,
                finding::transcript_text(&f.trace)
            )
        })
        .collect();
    assert!(found.is_empty(), "false findings:\n{}", found.join("\n"));
    assert!(!out.died);
    let _ = e.server.stop().await;
}

/// A refused DATA whose content ended and a second DATA followed, all in one write:
/// four command lines, four replies. The model once foresaw only the first, and the
/// CI's campaign filed the other three as replies too many (`reply-desync`) against
/// the reference server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_data_after_a_refused_one_is_counted_as_command_lines() {
    let e = embedded::start_with(&[], &[]).await.expect("start");
    let input = Input {
        steps: vec![
            Step::Raw(b"DATA\r\n\r\n.\r\nDATA\r\n".to_vec()),
            Step::Raw(b"NOOP\r\n".to_vec()),
        ],
    };
    let limits = options(e.server.addr(), 1, Duration::from_secs(1)).limits;
    let trace = exec::run(e.server.addr(), &input, limits).await;
    assert_eq!(trace.answered, vec![4, 1], "{trace:?}");
    let judged = oracle::judge(&input, &trace);
    assert!(matches!(judged, Judged::Clean), "{judged:?}\n{trace:?}");
    let _ = e.server.stop().await;
}

/// A port that speaks the PROXY protocol closes without a word on a session that
/// lacks the header: the campaign sends the profile's header on every session and
/// fuzzes what is behind it (the distinct states of whole sessions, not of a close).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_port_is_fuzzed_behind_its_header() {
    let _machine = MACHINE.lock().await;
    let e = embedded::start_with(&[], &[Variant::ProxyProtocol])
        .await
        .expect("start");
    let proxy = e
        .proxy
        .expect("the proxy-protocol variant names its header");
    let mut o = options(e.server.addr(), 1_500, Duration::from_secs(30));
    o.limits.opening.proxy = Some(proxy);
    let limits = o.limits;
    let out = fuzz::run(seeds(&e.vars), o, |_| {}).await;
    assert!(out.stats.sessions >= 1_000, "{:?}", out.stats);
    assert!(out.stats.signature_bits > 300, "{:?}", out.stats);
    let found: Vec<String> = out.findings.iter().map(|f| f.what.clone()).collect();
    assert!(found.is_empty(), "false findings: {found:?}");
    // The same session without the header: the port says nothing, not even 220.
    let input = seeds(&e.vars).swap_remove(0);
    let with = exec::run(e.server.addr(), &input, limits).await;
    assert!(!with.answers.is_empty(), "{:?}", with.end);
    let mut bare = limits;
    bare.opening.proxy = None;
    let without = exec::run(e.server.addr(), &input, bare).await;
    assert!(without.answers.is_empty(), "{:?}", without.answers);
    let _ = e.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_planted_deviation_is_found_and_replays() {
    let _machine = MACHINE.lock().await;
    // The watched ones show only in the server's process: tests/fuzz_watch.rs.
    for d in Deviation::ALL
        .into_iter()
        .filter(|d| d.is_planted() && !d.is_watched() && !d.is_stored())
    {
        let e = embedded::start_with(&[d], &[]).await.expect("start");
        let mut o = options(e.server.addr(), u64::MAX, Duration::from_secs(120));
        o.canary = canary::input(&e.vars);
        let out = fuzz::run(seeds(&e.vars), o, |_| {}).await;
        // How far each took: the margin under the 120 s, in the CI log.
        eprintln!(
            "{}: {} sessions, {:.1} s, {} distinct states, corpus {}",
            d.name(),
            out.stats.sessions,
            out.stats.elapsed_s,
            out.stats.signature_bits,
            out.stats.corpus
        );
        // The reproducer of the first finding, written as `smtpspec fuzz` writes it.
        let f = out
            .findings
            .first()
            .unwrap_or_else(|| panic!("{}: no finding in {:?}", d.name(), out.stats));
        let dir = tempfile::tempdir().expect("tempdir");
        let provenance = provenance();
        let suite = finding::write(dir.path(), f, &provenance).expect("write");
        let cases = load::load(std::slice::from_ref(&suite)).unwrap_or_else(|e| {
            panic!(
                "{}: the reproducer does not load: {e:?}\n{}",
                d.name(),
                std::fs::read_to_string(&suite).unwrap_or_default()
            )
        });
        let text = std::fs::read_to_string(&suite).unwrap_or_default();
        let deviated = replay(&cases, &e).await;
        assert_eq!(
            deviated,
            Verdict::Fail,
            "{}: on the deviated server\n{text}",
            d.name()
        );
        let _ = e.server.stop().await;
        let plain = embedded::start_with(&[], &[]).await.expect("start");
        assert_eq!(
            replay(&cases, &plain).await,
            Verdict::Pass,
            "{}: plain\n{text}",
            d.name()
        );
        let _ = plain.server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_stored_twice_and_acknowledged_once_is_accepted_but_wrong() {
    let _machine = MACHINE.lock().await;
    let e = embedded::start_with(&[Deviation::PlantedDoubleStore], &[])
        .await
        .expect("start");
    let mut o = options(e.server.addr(), u64::MAX, Duration::from_secs(120));
    o.store = Some(e.store());
    o.store_disposable = true;
    let out = fuzz::run(seeds(&e.vars), o, |_| {}).await;
    let f = out
        .findings
        .iter()
        .find(|f| f.oracle == Oracle::AcceptedButWrong)
        .unwrap_or_else(|| panic!("no accepted-but-wrong finding in {:?}", out.stats));
    // Tied to one input, which names a recipient twice.
    let octets: Vec<u8> = f
        .input
        .steps
        .iter()
        .flat_map(|s| s.writes().concat())
        .collect();
    let rcpts = octets
        .windows(4)
        .filter(|w| w.eq_ignore_ascii_case(b"RCPT"))
        .count();
    assert!(rcpts >= 2, "{}", finding::transcript_text(&f.trace));
    // Sent again: the deviated store gains more than acknowledged, the plain one not.
    let (gained, acked) = stored_by(&e, &f.input).await;
    assert!(
        gained > acked,
        "deviated: {gained} stored, {acked} acknowledged"
    );
    let _ = e.server.stop().await;
    let plain = embedded::start_with(&[], &[]).await.expect("start");
    let (gained, acked) = stored_by(&plain, &f.input).await;
    assert_eq!(
        gained, acked,
        "plain: {gained} stored, {acked} acknowledged"
    );
    assert!(acked >= 1);
    let _ = plain.server.stop().await;
}

/// Messages `e`'s store gained from one session of `input`, and how many the
/// session saw acknowledged.
/// Who was fuzzed, as a reproducer's header says it.
fn provenance() -> Provenance {
    Provenance {
        target: "embedded".into(),
        banner: "220 test".into(),
        seed: 7,
        seen: "1970-01-01T00:00:00Z".into(),
    }
}

/// The policy `smtpspec fuzz` gives the embedded server: what its configuration does.
fn embedded_policy() -> PolicyOptions {
    PolicyOptions {
        auth_requires_tls: true,
        foreign_domains: vec![fuzz::policy::FOREIGN_TEST_DOMAIN.to_owned()],
        ..PolicyOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_relay_and_auth_in_the_clear_break_the_policy_the_plain_server_keeps() {
    let _machine = MACHINE.lock().await;
    let relay: fn(&mut FileSettings) = |f| f.recipients = None;
    let clear: fn(&mut FileSettings) = |f| f.auth_without_tls = true;
    for (verb, configure) in [("RCPT", relay), ("AUTH", clear)] {
        let e = embedded::start_configured(&[], configure)
            .await
            .expect("start");
        let text = policy_reproducer(e, verb).await;
        assert!(text.contains("expect: { class: [4xx, 5xx] }"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_pipelined_after_starttls_and_run_inside_tls_are_a_policy_finding() {
    let _machine = MACHINE.lock().await;
    let e = embedded::start_with(&[Deviation::StartTlsKeepPlaintext], &[])
        .await
        .expect("start");
    let text = policy_reproducer(e, "STARTTLS").await;
    assert!(text.contains("rfc: 3207, section: \"4.2\""), "{text}");
    assert!(
        text.contains("- handshake\n      - expect_silence"),
        "{text}"
    );
}

/// Fuzz `e` with the embedded server's policy until a policy finding about `verb`;
/// its reproducer must fail on `e` and pass on the plain server. Its text.
async fn policy_reproducer(e: embedded::Embedded, verb: &str) -> String {
    let mut o = options(e.server.addr(), u64::MAX, Duration::from_secs(120));
    o.policy = embedded_policy();
    let mut inputs = seeds(&e.vars);
    inputs.extend(fuzz::policy::seeds(&o.policy, &e.vars));
    let out = fuzz::run(inputs, o, |_| {}).await;
    let f = out
        .findings
        .iter()
        .find(|f| f.oracle == Oracle::Policy)
        .unwrap_or_else(|| panic!("{verb}: no policy finding in {:?}", out.stats));
    assert!(f.what.starts_with(verb), "{verb}: {}", f.what);
    let dir = tempfile::tempdir().expect("tempdir");
    let provenance = provenance();
    let suite = finding::write(dir.path(), f, &provenance).expect("write");
    let text = std::fs::read_to_string(&suite).unwrap_or_default();
    let cases = load::load(std::slice::from_ref(&suite))
        .unwrap_or_else(|e| panic!("{verb}: the reproducer does not load: {e:?}\n{text}"));
    assert_eq!(replay(&cases, &e).await, Verdict::Fail, "{verb}\n{text}");
    let _ = e.server.stop().await;
    let plain = embedded::start_with(&[], &[]).await.expect("start");
    assert_eq!(
        replay(&cases, &plain).await,
        Verdict::Pass,
        "{verb}\n{text}"
    );
    let _ = plain.server.stop().await;
    text
}

async fn stored_by(e: &embedded::Embedded, input: &Input) -> (usize, usize) {
    let before = e.store().count();
    let mut limits = options(e.server.addr(), 1, Duration::from_secs(1)).limits;
    limits.whole = true;
    let t = smtpspec::fuzz::exec::run(e.server.addr(), input, limits).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    (e.store().count() - before, t.messages())
}

/// The verdict of a reproducer's one case against `e`.
async fn replay(cases: &[load::Case], e: &embedded::Embedded) -> Verdict {
    let target = runner::discover(
        e.server.addr(),
        e.vars.clone(),
        None,
        smtpspec::wire::TlsSettings::default(),
        Duration::from_secs(5),
    )
    .await
    .expect("discover");
    let results = runner::run(
        cases,
        &runner::Subjects::server(target),
        runner::Options::new(1, Duration::from_secs(5)),
        None,
    )
    .await;
    assert_eq!(results.len(), 1);
    results[0].verdict
}
