//! The configuration file: defaults, a full file, located errors.

use super::*;

#[test]
fn defaults_listen_on_loopback() {
    let s = Settings::default();
    assert!(s.listen.ip().is_loopback());
    assert_eq!(s.command_timeout, Duration::from_secs(300));
}

#[test]
fn a_full_file_resolves() {
    let yaml = "listen: 127.0.0.1:0\nhostname: mx.test\nstore: discard\nusers: {a: b}\n\
                extensions: {chunking: false, 8bitmime: false}\ndeviations: [rcpt-before-mail]\n\
                timeouts: {command-secs: 10}\n";
    let s = FileSettings::from_yaml(yaml, Path::new("t.yaml"))
        .and_then(FileSettings::resolve)
        .expect("valid");
    assert_eq!(s.store, StoreKind::Discard);
    assert!(!s.protocol.extensions.chunking && !s.protocol.extensions.eight_bit_mime);
    assert!(s.protocol.deviations.has(Deviation::RcptBeforeMail));
    assert_eq!(s.command_timeout, Duration::from_secs(10));
}

#[test]
fn errors_are_located_or_named() {
    let e = FileSettings::from_yaml("hostname: a\nlisten_on: x\n", Path::new("c.yaml"))
        .expect_err("unknown key");
    assert!(e.0.contains("c.yaml") && e.0.contains("listen_on"), "{e}");
    assert!(e.0.contains('2'), "the line is named: {e}");
    let e = FileSettings::from_yaml("deviations: [nope]\n", Path::new("c.yaml"))
        .and_then(FileSettings::resolve)
        .expect_err("bad deviation");
    assert!(e.0.contains("nope"));
    let e = FileSettings::from_yaml("max-recipients: 5\n", Path::new("c.yaml"))
        .and_then(FileSettings::resolve)
        .expect_err("too few");
    assert!(e.0.contains("4.5.3.1.8"));
    let e = FileSettings::from_yaml("maildir-sync: sometimes\n", Path::new("c.yaml"))
        .and_then(FileSettings::resolve)
        .expect_err("no such sync");
    assert!(
        e.0.contains("maildir-sync") && e.0.contains("file-system"),
        "{e}"
    );
}

#[test]
fn the_maildir_sync_is_chosen_by_name() {
    let s = FileSettings::from_yaml("maildir-sync: file-system\n", Path::new("c.yaml"))
        .and_then(FileSettings::resolve)
        .expect("valid");
    assert_eq!(s.store_format.sync, SyncMode::FileSystem);
    assert_eq!(Settings::default().store_format.sync, SyncMode::Files);
}
