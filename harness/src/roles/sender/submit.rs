//! Handing a relay case's content to a real MTA over SMTP, as an attacker would: the
//! envelope as protocol commands, then the content octet for octet (no line-end repair,
//! no dot-stuffing) and the real end of data, `\r\n.\r\n`.
//!
//! Every reply after the content is read until the MTA falls silent: a relay that ends
//! DATA at a smuggled sequence answers the smuggled commands too, and the transcript
//! shows it. The first reply after the content says whether the relay took the message
//! (2xx) or refused it (4xx/5xx), which is a lawful answer to a bare line end.

use std::net::SocketAddr;
use std::time::Duration;

use smtp_protocol::Command;
use smtp_protocol::address::{ForwardPath, Host, Mailbox, ReversePath};
use smtp_protocol::client::REQUIRETLS;
use smtp_protocol::ehlo::{EhloResponse, Extension};
use smtp_protocol::param::Param;
use smtp_protocol::reply::{Reply, ReplyCode};

use crate::outcome::HarnessError;
use crate::wire::{Conn, ConnError, Event};

/// Most time one reply of the handover may take.
const STEP: Duration = Duration::from_secs(10);

/// Quiet time that ends the replies after the content: a relay that ended DATA early
/// answers the pipelined smuggled commands at once, on loopback within milliseconds.
const QUIET: Duration = Duration::from_secs(1);

/// What the MTA said to the handover.
#[derive(Debug, Clone, Default)]
pub(super) struct Handover {
    /// The refusal, when the MTA refused the envelope or the content.
    pub refused: Option<Reply>,
    /// The refusal came before the content was sent (at MAIL, RCPT or DATA): the MTA
    /// never saw what the case carries.
    pub envelope_refused: bool,
    /// The replies after the content, in order (a relay that ended DATA early
    /// answers the smuggled commands too).
    pub after_content: Vec<u16>,
    /// How the MTA stopped answering, when it did.
    pub cut: Option<Cut>,
}

/// An MTA that stopped answering in the middle of a handover.
#[derive(Debug, Clone)]
pub(super) enum Cut {
    /// The connection was closed or reset: what a crashed process leaves.
    Closed(String),
    /// No reply within the handover's deadline: a hang, or a slow check.
    Silent(String),
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed(at) | Self::Silent(at) => f.write_str(at),
        }
    }
}

impl Handover {
    /// The refusal's last line, for a reason.
    pub(super) fn refusal(&self) -> Option<String> {
        self.refused.as_ref().map(line)
    }
}

/// Why a handover stopped: the MTA went away or fell silent, or the harness failed.
enum Stop {
    Cut(Cut),
    Harness(HarnessError),
}

impl Stop {
    /// A connection error at `at` (what was being sent or awaited): a cut when the
    /// MTA closed, reset or fell silent, the harness's failure otherwise.
    fn of(at: &str, e: ConnError) -> Self {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
        match e {
            ConnError::Closed => Self::Cut(Cut::Closed(format!("{at}: the connection closed"))),
            ConnError::Io(io)
                if matches!(
                    io.kind(),
                    ConnectionReset | BrokenPipe | ConnectionAborted | UnexpectedEof
                ) =>
            {
                Self::Cut(Cut::Closed(format!("{at}: {io}")))
            }
            ConnError::Timeout(_) | ConnError::Stalled(_) => {
                Self::Cut(Cut::Silent(format!("{at}: {e}")))
            }
            e => Self::Harness(crate::harness_error!("{at}: {e}")),
        }
    }
}

/// Connect to `addr` (from `envelope.source` when given), send the envelope and
/// `content`, then the end of data, and QUIT. `Err` is a failure to talk at all (no
/// listener, a greeting other than 220, the harness's own failure); an MTA that
/// closes or falls silent after accepting the connection (a client lookup comes
/// before the greeting) gives a handover with `cut`.
pub(super) async fn hand_over(
    addr: SocketAddr,
    helo: &str,
    envelope: &Envelope<'_>,
    content: &[u8],
) -> Result<(Handover, Vec<Event>), HarnessError> {
    let connected = match envelope.source {
        Some(from) => Conn::connect_from(addr, from.into(), STEP).await,
        None => Conn::connect(addr, STEP).await,
    };
    let mut conn = connected.map_err(|e| crate::harness_error!("submit {addr}: {e}"))?;
    let result = match conn.reply(STEP).await {
        Ok(g) if g.reply.code == ReplyCode::SERVICE_READY => {
            talk(&mut conn, helo, envelope, content).await
        }
        Ok(g) => Err(Stop::Harness(crate::harness_error!(
            "greeting {}",
            line(&g.reply)
        ))),
        Err(e) => Err(Stop::of("the greeting", e)),
    };
    let transcript = conn.into_transcript();
    match result {
        Ok(h) => Ok((h, transcript)),
        Err(Stop::Cut(cut)) => Ok((
            Handover {
                cut: Some(cut),
                ..Handover::default()
            },
            transcript,
        )),
        Err(Stop::Harness(e)) => Err(crate::harness_error!("submit {addr}: {}", e.0)),
    }
}

/// The envelope of a handover.
pub(super) struct Envelope<'a> {
    /// MAIL FROM.
    pub from: &'a str,
    /// RCPT TO, in order.
    pub to: &'a [String],
    /// `REQUIRETLS` on MAIL (RFC 8689 §2).
    pub requiretls: bool,
    /// The local address to connect from (the case's `source`).
    pub source: Option<std::net::Ipv4Addr>,
}

async fn talk(
    conn: &mut Conn,
    helo: &str,
    envelope: &Envelope<'_>,
    content: &[u8],
) -> Result<Handover, Stop> {
    let Envelope {
        from,
        to,
        requiretls,
        ..
    } = *envelope;
    let host = Host::parse(helo)
        .map_err(|e| Stop::Harness(crate::harness_error!("helo {helo:?}: {e}")))?;
    if requiretls {
        starttls_if_offered(conn, &host).await?;
    }
    let mailbox =
        |s: &str| Mailbox::parse(s).map_err(|e| Stop::Harness(crate::harness_error!("{s:?}: {e}")));
    let mut envelope = vec![
        Command::Ehlo(host),
        Command::Mail {
            from: ReversePath::Mailbox(mailbox(from)?),
            params: if requiretls {
                vec![Param::Other {
                    keyword: REQUIRETLS.into(),
                    value: None,
                }]
            } else {
                Vec::new()
            },
        },
    ];
    for t in to {
        envelope.push(Command::Rcpt {
            to: ForwardPath::Mailbox(mailbox(t)?),
            params: Vec::new(),
        });
    }
    envelope.push(Command::Data);
    for command in &envelope {
        let reply = conn
            .command(command, STEP)
            .await
            .map_err(|e| Stop::of(&format!("the reply to {}", command.verb()), e))?;
        let want = if *command == Command::Data {
            ReplyCode::START_MAIL_INPUT.class()
        } else {
            ReplyCode::OK.class()
        };
        if reply.code.class() != want {
            return Ok(Handover {
                refused: Some(reply),
                envelope_refused: true,
                ..Handover::default()
            });
        }
    }
    let mut octets = content.to_vec();
    if !octets.ends_with(b"\r\n") {
        octets.extend_from_slice(b"\r\n");
    }
    octets.extend_from_slice(b".\r\n");
    conn.send(&octets, STEP)
        .await
        .map_err(|e| Stop::of("the content", e))?;
    // The reply to the end of data may take its time (a content filter, a sync); the
    // replies after it, to smuggled commands, come at once or not at all.
    let first = conn
        .reply(STEP)
        .await
        .map_err(|e| Stop::of("the reply to the end of data", e))?;
    let mut handover = Handover::default();
    handover.after_content.push(first.reply.code.get());
    if first.reply.code.is_negative() {
        handover.refused = Some(first.reply);
    }
    loop {
        match conn.reply(QUIET).await {
            Ok(r) => handover.after_content.push(r.reply.code.get()),
            Err(ConnError::Timeout(_) | ConnError::Closed) => break,
            Err(e) => return Err(Stop::of("the replies after the end of data", e)),
        }
    }
    let _ = conn.command(&Command::Quit, STEP).await;
    Ok(handover)
}

/// RFC 8689 §2 allows REQUIRETLS only inside TLS: STARTTLS first when the listener
/// offers it (any certificate will do: smtpspec is the MTA's client here, not under
/// test). The envelope's EHLO follows; without STARTTLS the flag goes in the clear,
/// and the MTA's answer to it is recorded all the same.
async fn starttls_if_offered(conn: &mut Conn, host: &Host) -> Result<(), Stop> {
    let reply = conn
        .command(&Command::Ehlo(host.clone()), STEP)
        .await
        .map_err(|e| Stop::of("the reply to EHLO", e))?;
    let (ehlo, _) = EhloResponse::from_reply(&reply);
    if !ehlo.has(Extension::StartTls) {
        conn.note("the MTA's listener offers no STARTTLS: REQUIRETLS goes in the clear");
        return Ok(());
    }
    let reply = conn
        .command(&Command::StartTls, STEP)
        .await
        .map_err(|e| Stop::of("the reply to STARTTLS", e))?;
    if reply.code == ReplyCode::SERVICE_READY {
        conn.handshake(STEP)
            .await
            .map_err(|e| Stop::Harness(crate::harness_error!("TLS handshake: {e}")))?;
    }
    Ok(())
}

/// A reply as one line for a reason.
fn line(reply: &Reply) -> String {
    let text = String::from_utf8_lossy(&reply.to_bytes()).into_owned();
    text.lines().last().unwrap_or_default().to_owned()
}
