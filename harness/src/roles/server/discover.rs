//! Discovery: what is known about a server under test before its cases run (greeting,
//! EHLO lists before and after TLS), and the survey that paces the run (how many
//! connections it takes at once, whether it is a catch-all).

use crate::outcome::HarnessError;
use std::net::SocketAddr;
use std::time::Duration;

use smtp_protocol::ehlo::{EhloLine, EhloResponse, Extension};
use smtp_protocol::reply::{ParsedReply, ReplyCode};
use smtp_protocol::{AddressLiteral, Command, Domain, Host};

use crate::profile::PolicyOptions;
use crate::profile::store::MailStore;
use crate::scenario::template::Vars;
use crate::wire::{Conn, TlsSettings};

/// What is known about the target before the cases run.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its greeting line(s).
    pub banner: String,
    /// The greeting's reply code.
    pub greeting_code: u16,
    /// EHLO lines as advertised (`SIZE 10240000`), parsed by the protocol crate.
    pub ehlo: Vec<EhloLine>,
    /// Variables for the scenarios.
    pub vars: Vars,
    /// EHLO lines after STARTTLS (RFC 3207 §4.2: a new list), when the target offers
    /// STARTTLS and the handshake worked.
    pub tls_ehlo: Option<Vec<EhloLine>>,
    /// Why there is no post-TLS list although STARTTLS is advertised.
    pub tls_problem: Option<String>,
    /// The SIZE limit advertised, if any and not 0.
    pub size_limit: Option<u64>,
    /// A Maildir whose `new/` holds what the target stored, when the profile gives one.
    pub mailbox: Option<MailStore>,
    /// TLS settings of the profile.
    pub tls: TlsSettings,
    /// The target accepted `{{target.bad_rcpt}}` when asked at discovery (a catch-all
    /// domain): its reply. Cases that need a refused recipient are then skipped.
    pub catch_all: Option<String>,
    /// What the user does not want done to this target (`--no-mail`, `--tls none`).
    pub restraint: Restraint,
    /// What its operator says it must refuse (the profile's `policy:`): the cases
    /// that judge a policy (`requires_policy`) run only where one is declared.
    pub policy: PolicyOptions,
}

/// What the user does not want done to a target, whatever the cases would do: the
/// cases that would do it are skipped, with the reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restraint {
    /// Send no message (no DATA, no BDAT): a production server is certified without
    /// delivering anything to its real recipients.
    pub no_mail: bool,
    /// Start no TLS session.
    pub no_tls: bool,
}

/// The name smtpspec gives in EHLO outside a case: `{{client.helo}}` when it is a
/// domain, else the address literal of loopback.
pub fn ehlo_name(vars: &Vars) -> Host {
    vars.get("client.helo")
        .and_then(|h| Domain::parse(h).ok())
        .map_or_else(
            || Host::Literal(AddressLiteral::V4([127, 0, 0, 1].into())),
            Host::Domain,
        )
}

/// What discovery leaves to learn before the cases run: whether the target refuses
/// the recipient the profile calls unknown, and how many connections it takes at once
/// (the cases start at that many, up to `jobs`).
pub async fn survey(target: &mut Target, jobs: usize, limit: Duration) -> usize {
    if target.greeting_code == ReplyCode::SERVICE_READY.get() {
        target.catch_all = catch_all(target, limit).await;
    }
    probe_connections(target.addr, &target.tls, jobs, limit).await
}

/// Ask the target to take `{{target.bad_rcpt}}`: a positive reply means a catch-all.
/// Any other outcome (refused, or the transaction could not start) leaves the cases
/// to judge.
async fn catch_all(target: &Target, limit: Duration) -> Option<String> {
    let (from, bad) = (
        target.vars.get("client.from")?,
        target.vars.get("target.bad_rcpt")?,
    );
    let helo = target.vars.get("client.helo")?;
    let mut conn = Conn::open(target.addr, &target.tls, limit).await.ok()?;
    let greeting = conn.reply(limit).await.ok()?;
    if greeting.reply.code != ReplyCode::SERVICE_READY {
        return None;
    }
    let mut answer = None;
    if ask(&mut conn, format!("EHLO {helo}"), limit)
        .await?
        .reply
        .code
        .is_positive()
        && ask(&mut conn, format!("MAIL FROM:<{from}>"), limit)
            .await?
            .reply
            .code
            .is_positive()
    {
        let r = ask(&mut conn, format!("RCPT TO:<{bad}>"), limit).await?;
        if r.reply.code.is_positive() {
            answer = Some(format!(
                "{} {}",
                r.reply.code,
                r.reply.text().replace('\n', " / ")
            ));
        }
    }
    let _ = ask(&mut conn, "RSET".into(), limit).await;
    let _ = ask(&mut conn, "QUIT".into(), limit).await;
    answer
}

/// One command line and its reply.
async fn ask(conn: &mut Conn, line: String, limit: Duration) -> Option<ParsedReply> {
    conn.send(format!("{line}\r\n").as_bytes(), limit)
        .await
        .ok()?;
    conn.reply(limit).await.ok()
}

/// How many connections the target takes at once, up to `n`: open them together and
/// count the 220 greetings that come within `limit`. A server that limits connections
/// greets the rest with 421 (or drops them); the run then starts at what it took
/// instead of learning it from refused cases.
pub async fn probe_connections(
    addr: SocketAddr,
    tls: &TlsSettings,
    n: usize,
    limit: Duration,
) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..n.max(1) {
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr, &tls, limit).await.ok()?;
            let greeting = conn.reply(limit).await.ok()?;
            (greeting.reply.code == ReplyCode::SERVICE_READY).then_some(conn)
        }));
    }
    let mut open = Vec::new();
    for t in tasks {
        if let Ok(Some(conn)) = t.await {
            open.push(conn);
        }
    }
    let taken = open.len();
    for mut conn in open {
        let _ = conn.send(&Command::Quit.to_bytes(), limit).await;
        let _ = conn.reply(limit).await;
    }
    taken.max(1)
}

/// Greet the target once: banner and EHLO keywords, for the report and `requires`.
pub async fn discover(
    addr: SocketAddr,
    vars: Vars,
    mailbox: Option<MailStore>,
    tls: TlsSettings,
    limit: Duration,
) -> Result<Target, HarnessError> {
    let mut conn = Conn::open(addr, &tls, limit)
        .await
        .map_err(|e| crate::harness_error!("connect {addr}: {e}"))?;
    let greeting = conn
        .reply(limit)
        .await
        .map_err(|e| crate::harness_error!("greeting: {e}"))?;
    let helo = ehlo_name(&vars);
    // A server that refuses service at connection (554, 521) has no EHLO list to
    // offer, and may close at once; its cases are chosen by the greeting alone.
    let refused = greeting.reply.code != ReplyCode::SERVICE_READY;
    let reply = if refused {
        None
    } else {
        conn.send(&Command::Ehlo(helo.clone()).to_bytes(), limit)
            .await
            .map_err(|e| crate::harness_error!("EHLO: {e}"))?;
        Some(
            conn.reply(limit)
                .await
                .map_err(|e| crate::harness_error!("EHLO reply: {e}"))?,
        )
    };
    let mut ehlo = reply.as_ref().map_or_else(EhloResponse::empty, ehlo_of);
    let prelude_tls = tls.prelude.as_ref().is_some_and(|p| p.starttls);
    if prelude_tls && !ehlo.has(Extension::StartTls) {
        // The list was read inside TLS; STARTTLS was offered before it (the session
        // could not have started TLS otherwise), and the cases that negotiate it
        // themselves need to know.
        ehlo.lines.push(EhloLine::new(Extension::StartTls, &[]));
    }
    let (mut tls_ehlo, mut tls_problem) = (None, None);
    if tls.implicit || prelude_tls {
        // The whole session is TLS: the list just read is the one after TLS.
        tls_ehlo = Some(ehlo.lines.clone());
    } else if ehlo.has(Extension::StartTls) {
        match after_tls(&mut conn, &helo, limit).await {
            Ok(e) => tls_ehlo = Some(e.lines),
            Err(e) => tls_problem = Some(e.0),
        }
    }
    let _ = conn.send(&Command::Quit.to_bytes(), limit).await;
    Ok(Target {
        addr,
        banner: format!("{} {}", greeting.reply.code, greeting.reply.text()),
        greeting_code: greeting.reply.code.get(),
        size_limit: ehlo.size_limit().flatten(),
        ehlo: ehlo.lines,
        tls_ehlo,
        tls_problem,
        vars,
        mailbox,
        tls,
        catch_all: None,
        restraint: Restraint::default(),
        policy: PolicyOptions::default(),
    })
}

fn ehlo_of(reply: &ParsedReply) -> EhloResponse {
    if reply.reply.code.is_positive() {
        EhloResponse::from_reply(&reply.reply).0
    } else {
        EhloResponse::empty()
    }
}

/// STARTTLS, handshake and EHLO again, for the post-TLS keyword list.
async fn after_tls(
    conn: &mut Conn,
    helo: &Host,
    limit: Duration,
) -> Result<EhloResponse, HarnessError> {
    conn.send(&Command::StartTls.to_bytes(), limit)
        .await
        .map_err(|e| crate::harness_error!("STARTTLS: {e}"))?;
    let ready = conn
        .reply(limit)
        .await
        .map_err(|e| crate::harness_error!("STARTTLS reply: {e}"))?;
    if ready.reply.code != ReplyCode::SERVICE_READY {
        return Err(crate::harness_error!("STARTTLS got {}", ready.reply.code));
    }
    conn.handshake(limit)
        .await
        .map_err(|e| crate::harness_error!("TLS handshake: {e}"))?;
    conn.send(&Command::Ehlo(helo.clone()).to_bytes(), limit)
        .await
        .map_err(|e| crate::harness_error!("EHLO after TLS: {e}"))?;
    let reply = conn
        .reply(limit)
        .await
        .map_err(|e| crate::harness_error!("EHLO reply after TLS: {e}"))?;
    Ok(ehlo_of(&reply))
}
