//! Throughput of the protocol core, so that a regression in the parsers every session
//! runs is seen: command lines per second, reply octets per second, mail data
//! (dot-stuffed, cut into network-sized reads) in bytes per second.
//!
//! `cargo bench -p smtpspec-protocol` (CI: `-- --quick`, figures printed, never
//! asserted).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use smtp_protocol::data::{DataConfig, DataDecoder, dot_stuff};
use smtp_protocol::reply::ReplyParser;
use smtp_protocol::{Command, ParseOptions};

/// A session's worth of command lines, as clients send them.
const LINES: &[&[u8]] = &[
    b"EHLO client.example.org",
    b"MAIL FROM:<alice.smith@example.org> SIZE=123456 BODY=8BITMIME",
    b"RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.com",
    b"RCPT TO:<\"quoted local\"@[192.0.2.1]>",
    b"DATA",
    b"BDAT 65536 LAST",
    b"RSET",
    b"VRFY postmaster",
    b"NOOP",
    b"QUIT",
];

fn commands(c: &mut Criterion) {
    let mut g = c.benchmark_group("command_parse");
    g.throughput(Throughput::Elements(LINES.len() as u64));
    g.bench_function("session_lines", |b| {
        b.iter(|| {
            for line in LINES {
                let _ = std::hint::black_box(Command::parse_with(
                    std::hint::black_box(line),
                    ParseOptions::default(),
                ));
            }
        });
    });
    g.finish();
}

fn replies(c: &mut Criterion) {
    // An EHLO reply, a greeting and a transaction's replies, as one server sends them.
    let stream: Vec<u8> = [
        &b"220 mx.example.com ESMTP ready\r\n"[..],
        b"250-mx.example.com greets client.example.org\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n\
          250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
        b"250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
        b"250 2.0.0 Ok: queued as 4XyZ12\r\n221 2.0.0 Bye\r\n",
    ]
    .concat();
    let mut g = c.benchmark_group("reply_parse");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("session_replies", |b| {
        b.iter(|| {
            let mut p = ReplyParser::new();
            p.push(std::hint::black_box(&stream));
            let mut n = 0;
            while let Some(r) = p.next_reply() {
                n += usize::from(r.is_ok());
            }
            n
        });
    });
    g.finish();
}

fn data(c: &mut Criterion) {
    // 1 MiB of text lines, some starting with a dot, stuffed as a client sends them,
    // read in 16 KiB pieces as the server's socket gives them.
    let mut body = Vec::new();
    let mut n = 0u32;
    while body.len() < 1 << 20 {
        n += 1;
        if n.is_multiple_of(17) {
            body.extend_from_slice(b".a line that starts with a dot\r\n");
        } else {
            body.extend_from_slice(
                b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\r\n",
            );
        }
    }
    let mut wire = dot_stuff(&body);
    wire.extend_from_slice(b".\r\n");
    let mut g = c.benchmark_group("data_decode");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("one_mib_stuffed", |b| {
        b.iter_batched(
            || DataDecoder::new(DataConfig::default()),
            |mut d| {
                for piece in wire.chunks(16 * 1024) {
                    d.feed(piece);
                }
                assert!(d.is_done());
                d.size()
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group!(benches, commands, replies, data);
criterion_main!(benches);
