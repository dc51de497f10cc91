//! A load generator for throughput benchmarks: sessions that stay connected and, with
//! `--pipeline`, keep the server busy with one round trip per message.
//!
//! Postfix's smtp-source waits for every reply (MAIL, RCPT, DATA, the message, and by
//! default a new connection per message); on a small machine its round trips set the
//! pace, so two servers of different speed measure the same. RFC 2920 lets a client
//! send MAIL, RCPT and DATA in one group, and lets the message content open the next
//! group (§3.1), so a pipelining session writes `content . MAIL RCPT DATA` at once
//! and then reads four replies: the server's work, not the client's waiting, decides
//! the rate. The same load runs against every server in a comparison
//! (`scripts/bench-smtp-sink.sh`), so the ratio stays fair.
//!
//! ```text
//! cargo run --release --example smtp-load -- 127.0.0.1:2525 --sessions 8 --messages 10000 --pipeline
//! ```
//!
//! Prints `<messages> messages in <seconds> s: <rate> msgs/s`; exits 1 when any
//! message was not accepted (a refusal is not an acceptance), naming the first reply
//! that refused. Traffic goes where ADDR says; the benchmark scripts use loopback.

use std::io;
use std::time::Instant;

use clap::Parser;
use smtp_protocol::command::Command;
use smtp_protocol::data::dot_stuff;
use smtp_protocol::ehlo::{EhloResponse, Extension};
use smtp_protocol::reply::{Reply, ReplyParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(about = "SMTP load generator for throughput benchmarks")]
struct Args {
    /// host:port of the server.
    addr: String,
    /// Sessions at once.
    #[arg(long, default_value_t = 8)]
    sessions: usize,
    /// Messages in all, shared among the sessions.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Approximate size of each message in octets.
    #[arg(long, default_value_t = 1000)]
    size: usize,
    /// Pipeline (RFC 2920): one round trip per message; the server must offer
    /// PIPELINING.
    #[arg(long)]
    pipeline: bool,
}

/// Replies of one connection, parsed by the protocol core as they arrive.
struct Conn {
    stream: TcpStream,
    parser: ReplyParser,
    buf: Vec<u8>,
}

impl Conn {
    async fn reply(&mut self) -> io::Result<Reply> {
        loop {
            if let Some(parsed) = self.parser.next_reply() {
                return parsed
                    .map(|p| p.reply)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
            }
            let n = self.stream.read(&mut self.buf).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            self.parser.push(&self.buf[..n]);
        }
    }

    /// The next reply, which must have the class `class` (2 or 3).
    async fn expect(&mut self, class: u8, after: &str) -> io::Result<()> {
        let reply = self.reply().await?;
        if reply.code.class() == class {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{after} was answered {}",
                reply.to_string().trim_end()
            )))
        }
    }
}

/// `MAIL`, `RCPT` and `DATA`, formatted by the protocol core, with the reply class
/// each must get.
fn transaction() -> [(Vec<u8>, u8); 3] {
    let command = |line: &[u8]| {
        Command::parse(line)
            .expect("a well-formed command")
            .to_bytes()
    };
    [
        (command(b"MAIL FROM:<load@client.test>"), 2),
        (command(b"RCPT TO:<sink@server.test>"), 2),
        (command(b"DATA"), 3),
    ]
}

/// A message of about `size` octets, dot-stuffed and terminated.
fn content(size: usize) -> Vec<u8> {
    let mut text = b"Subject: load\r\n\r\n".to_vec();
    let line = [b'x'; 76];
    while text.len() < size {
        text.extend_from_slice(&line);
        text.extend_from_slice(b"\r\n");
    }
    dot_stuff(&text)
}

/// One session: `messages` messages, then QUIT.
async fn session(addr: String, messages: usize, size: usize, pipeline: bool) -> io::Result<()> {
    let stream = TcpStream::connect(&addr).await?;
    stream.set_nodelay(true)?;
    let mut c = Conn {
        stream,
        parser: ReplyParser::new(),
        buf: vec![0; 16 * 1024],
    };
    c.expect(2, "the connection").await?;
    let ehlo = Command::parse(b"EHLO load.client.test").expect("a well-formed command");
    c.stream.write_all(&ehlo.to_bytes()).await?;
    let reply = c.reply().await?;
    if reply.code.class() != 2 {
        return Err(io::Error::other(format!("EHLO was answered {reply}")));
    }
    if pipeline
        && !EhloResponse::from_reply(&reply)
            .0
            .has(Extension::Pipelining)
    {
        return Err(io::Error::other(
            "--pipeline: the server does not offer PIPELINING",
        ));
    }
    let tx = transaction();
    let body = content(size);
    if pipeline {
        // The first group is MAIL RCPT DATA; each later one is the previous message's
        // content followed by the next MAIL RCPT DATA (RFC 2920 §3.1).
        let group: Vec<u8> = tx.iter().flat_map(|(c, _)| c.clone()).collect();
        let mut with_next = body.clone();
        with_next.extend_from_slice(&group);
        for i in 0..messages {
            if i == 0 {
                c.stream.write_all(&group).await?;
            } else {
                c.stream.write_all(&with_next).await?;
                c.expect(2, "the message").await?;
            }
            for (_, class) in &tx {
                c.expect(*class, "a command of the transaction").await?;
            }
        }
        if messages > 0 {
            c.stream.write_all(&body).await?;
            c.expect(2, "the message").await?;
        }
    } else {
        for _ in 0..messages {
            for (command, class) in &tx {
                c.stream.write_all(command).await?;
                c.expect(*class, "a command of the transaction").await?;
            }
            c.stream.write_all(&body).await?;
            c.expect(2, "the message").await?;
        }
    }
    let quit = Command::parse(b"QUIT").expect("a well-formed command");
    c.stream.write_all(&quit.to_bytes()).await?;
    let _ = c.reply().await;
    Ok(())
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let sessions = args.sessions.max(1);
    let started = Instant::now();
    let failed = runtime.block_on(async {
        let tasks: Vec<_> = (0..sessions)
            .map(|i| {
                let share = args.messages / sessions + usize::from(i < args.messages % sessions);
                tokio::spawn(session(args.addr.clone(), share, args.size, args.pipeline))
            })
            .collect();
        let mut failed = None;
        for t in tasks {
            let result = t
                .await
                .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
            if let Err(e) = result {
                failed.get_or_insert(e);
            }
        }
        failed
    });
    let secs = started.elapsed().as_secs_f64();
    if let Some(e) = failed {
        eprintln!("smtp-load: {e}");
        std::process::exit(1);
    }
    println!(
        "{} messages in {secs:.3} s: {:.0} msgs/s",
        args.messages,
        args.messages as f64 / secs
    );
}
