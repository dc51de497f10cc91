//! proptest strategies that generate valid protocol values, shared by the property tests.
#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use smtp_protocol::param::{BodyType, Notify, Param, Ret};
use smtp_protocol::{
    AddressLiteral, Command, Domain, ForwardPath, Host, LocalPart, Mailbox, Reply, ReplyCode,
    ReversePath, reply::EnhancedCode,
};

pub fn domain() -> impl Strategy<Value = Domain> {
    vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?", 1..4)
        .prop_map(|labels| Domain::parse(&labels.join(".")).expect("strategy makes valid domains"))
}

pub fn literal() -> impl Strategy<Value = AddressLiteral> {
    prop_oneof![
        any::<u32>().prop_map(|n| AddressLiteral::V4(Ipv4Addr::from(n))),
        any::<u128>().prop_map(|n| AddressLiteral::V6(Ipv6Addr::from(n))),
        ("x-[a-z]{1,5}", "[!-Z^-~]{1,10}")
            .prop_map(|(tag, content)| AddressLiteral::General { tag, content }),
    ]
}

pub fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        3 => domain().prop_map(Host::Domain),
        1 => literal().prop_map(Host::Literal),
    ]
}

pub fn local_part() -> impl Strategy<Value = LocalPart> {
    prop_oneof![
        "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,8}(\\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,8}){0,2}",
        "[ -~]{1,16}",
    ]
    .prop_map(|s| LocalPart::new(s).expect("printable local part"))
}

pub fn mailbox() -> impl Strategy<Value = Mailbox> {
    (local_part(), host()).prop_map(|(local, host)| Mailbox {
        local,
        host: Some(host),
    })
}

/// Printable ASCII without CR, LF or NUL, the text an xtext value may carry.
fn xtext_value(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[ -~]{{1,{max}}}")).expect("regex")
}

fn other_param() -> impl Strategy<Value = Param> {
    ("X-[A-Z0-9]{1,6}", option::of("[!-<>-~]{1,8}"))
        .prop_map(|(keyword, value)| Param::Other { keyword, value })
}

pub fn mail_params() -> impl Strategy<Value = Vec<Param>> {
    (
        option::of(any::<u64>().prop_map(Param::Size)),
        option::of(
            prop_oneof![
                Just(BodyType::SevenBit),
                Just(BodyType::EightBitMime),
                Just(BodyType::BinaryMime)
            ]
            .prop_map(Param::Body),
        ),
        option::of(Just(Param::SmtpUtf8)),
        option::of(prop_oneof![Just(Ret::Full), Just(Ret::Hdrs)].prop_map(Param::Ret)),
        option::of(xtext_value(100).prop_map(Param::EnvId)),
        option::of(
            option::of(xtext_value(40).prop_filter("<> is the null value", |s| s != "<>"))
                .prop_map(Param::Auth),
        ),
        option::of(other_param()),
    )
        .prop_map(|(a, b, c, d, e, f, g)| [a, b, c, d, e, f, g].into_iter().flatten().collect())
}

pub fn rcpt_params() -> impl Strategy<Value = Vec<Param>> {
    let notify = prop_oneof![
        Just(Notify {
            never: true,
            ..Notify::default()
        }),
        (any::<bool>(), any::<bool>(), any::<bool>())
            .prop_filter("at least one", |(a, b, c)| *a || *b || *c)
            .prop_map(|(success, failure, delay)| Notify {
                never: false,
                success,
                failure,
                delay
            }),
    ];
    (
        option::of(notify.prop_map(Param::Notify)),
        option::of(
            ("rfc822|utf-8|x-type", xtext_value(60))
                .prop_map(|(addr_type, addr)| Param::Orcpt { addr_type, addr }),
        ),
        option::of(other_param()),
    )
        .prop_map(|(a, b, c)| [a, b, c].into_iter().flatten().collect())
}

/// Free text that survives trimming: printable, not starting or ending with a space.
fn text() -> impl Strategy<Value = String> {
    "[!-~]([ -~]{0,20}[!-~])?"
}

fn base64() -> impl Strategy<Value = String> {
    vec(any::<u8>(), 1..30).prop_map(|bytes| {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    })
}

pub fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        host().prop_map(Command::Ehlo),
        domain().prop_map(|d| Command::Helo(Host::Domain(d))),
        (
            prop_oneof![
                1 => Just(ReversePath::Null),
                4 => mailbox().prop_map(ReversePath::Mailbox)
            ],
            mail_params()
        )
            .prop_map(|(from, params)| Command::Mail { from, params }),
        (
            prop_oneof![
                1 => Just(ForwardPath::Postmaster),
                4 => mailbox().prop_map(ForwardPath::Mailbox)
            ],
            rcpt_params()
        )
            .prop_map(|(to, params)| Command::Rcpt { to, params }),
        Just(Command::Data),
        Just(Command::Rset),
        text().prop_map(Command::Vrfy),
        text().prop_map(Command::Expn),
        option::of(text()).prop_map(Command::Help),
        option::of(text()).prop_map(Command::Noop),
        Just(Command::Quit),
        Just(Command::StartTls),
        (
            "[A-Z0-9_-]{1,20}",
            option::of(prop_oneof![Just("=".to_owned()), base64()])
        )
            .prop_map(|(mechanism, initial_response)| Command::Auth {
                mechanism,
                initial_response
            }),
        (any::<u64>(), any::<bool>()).prop_map(|(size, last)| Command::Bdat { size, last }),
        prop_oneof![
            domain().prop_map(|d| d.to_string()),
            domain().prop_map(|d| format!("@{d}")),
            "#[a-zA-Z0-9]{1,8}",
        ]
        .prop_map(Command::Etrn),
    ]
}

pub fn reply() -> impl Strategy<Value = Reply> {
    (2u16..6, 0u16..6, 0u16..10)
        .prop_map(|(x, y, z)| x * 100 + y * 10 + z)
        .prop_flat_map(|code| {
            let class = (code / 100) as u8;
            let enhanced = if class == 3 {
                Just(None).boxed()
            } else {
                option::of((0u16..1000, 0u16..1000))
                    .prop_map(move |sd| sd.and_then(|(s, d)| EnhancedCode::new(class, s, d)))
                    .boxed()
            };
            (
                Just(code),
                enhanced,
                vec(prop_oneof!["", "[a-zA-Z][ -~]{0,40}"], 1..6),
            )
        })
        .prop_map(|(code, enhanced, lines)| Reply {
            code: ReplyCode::new(code).expect("in range"),
            enhanced,
            lines,
        })
}

/// Bytes rich in the octets that framing cares about.
pub fn wire_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            4 => Just(b'\r'),
            4 => Just(b'\n'),
            3 => Just(b'.'),
            1 => Just(0u8),
            1 => Just(0xffu8),
            8 => b'a'..=b'z',
            2 => any::<u8>(),
        ],
        0..max,
    )
}

/// Cut points for splitting a buffer of `len` octets into reads.
pub fn splits(len: usize) -> impl Strategy<Value = Vec<usize>> {
    vec(0..=len, 0..8).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

/// `bytes` cut at `points` (sorted).
pub fn chunks<'a>(bytes: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &p in points {
        let p = p.min(bytes.len());
        out.push(&bytes[start..p.max(start)]);
        start = p.max(start);
    }
    out.push(&bytes[start..]);
    out
}
