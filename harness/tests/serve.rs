//! `smtpspec serve` as an operator runs it: what its first line says (the unfinished
//! files it removed, its connection limit and the descriptor limit behind it), and a
//! SIGTERM that stops it gracefully with its fsync count.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Read one whole reply; its code.
fn reply(r: &mut BufReader<TcpStream>) -> u16 {
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("a reply line");
        assert!(line.len() >= 4, "short reply {line:?}");
        if line.as_bytes()[3] != b'-' {
            return line[..3].parse().expect("a code");
        }
    }
}

#[test]
fn serve_says_its_limits_and_stops_on_sigterm_with_its_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    std::fs::create_dir_all(maildir.join("tmp")).unwrap();
    // Left by a process that is gone (no process has that id).
    let crashed = maildir.join("tmp/1.M1P999999999Q1.mx.test");
    std::fs::write(&crashed, b"half").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtpspec"))
        .args(["serve", "--listen", "127.0.0.1:0", "--hostname", "mx.test"])
        .arg("--maildir")
        .arg(&maildir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start smtpspec serve");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("the listening line");
    assert!(
        first.contains(
            "(1 unfinished file(s) left in tmp/ by a crash, removed; an fdatasync per file)"
        ),
        "{first}"
    );
    assert!(first.contains("max-connections "), "{first}");
    assert!(first.contains("(file descriptors: "), "{first}");
    assert!(!crashed.exists());
    let addr = first
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("an address")
        .to_owned();

    let stream = TcpStream::connect(&addr).expect("connect");
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    assert_eq!(reply(&mut r), 220);
    w.write_all(b"EHLO client.test\r\n").unwrap();
    assert_eq!(reply(&mut r), 250);
    for n in 0..3 {
        for (line, code) in [
            (&b"MAIL FROM:<a@client.test>\r\n"[..], 250),
            (b"RCPT TO:<b@server.test>\r\n", 250),
            (b"DATA\r\n", 354),
        ] {
            w.write_all(line).unwrap();
            assert_eq!(reply(&mut r), code);
        }
        write!(w, "Subject: {n}\r\n\r\nbody\r\n.\r\n").unwrap();
        assert_eq!(reply(&mut r), 250);
    }
    w.write_all(b"QUIT\r\n").unwrap();
    assert_eq!(reply(&mut r), 221);

    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "SIGTERM is a graceful stop: {status:?}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    // One session, one message at a time: a round each, a file sync and a directory
    // sync per round.
    assert!(
        rest.contains("stored 3 message(s) with 6 fsync(s) in 3 round(s): 2.00 fsyncs per message"),
        "{rest}"
    );
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 3);
}
