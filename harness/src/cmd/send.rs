//! `smtpspec send`: the reference client from the command line.

use std::io::Read;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use smtp_protocol::address::{ForwardPath, Host, Mailbox, ReversePath};
use smtp_protocol::client::{ClientConfig, Credentials, Outgoing, Timeouts, TlsPolicy};
use smtpspec::send::{self, ClientVariant, Delivery, SendOptions, SenderDeviation, Trust};

use super::out::{out, outln};
use super::{CliError, CmdResult, Exit};
use crate::cli::{SendArgs, SendFormat, TlsArg};

pub(crate) fn main(args: SendArgs) -> CmdResult {
    if args.list_deviations {
        for d in SenderDeviation::ALL {
            outln!("{:<32} {}", d.name(), d.description());
        }
        return Ok(Exit::Conformant);
    }
    if args.list_variants {
        for v in ClientVariant::ALL {
            super::out::variant_line(v.name(), v.description(), v.allowed_by());
        }
        return Ok(Exit::Conformant);
    }
    let (message, options) = prepare(&args)?;
    let runtime = super::runtime()?;
    let delivery = runtime.block_on(send::deliver(&message, &options));
    match args.format {
        SendFormat::Json => match serde_json::to_string_pretty(&delivery) {
            Ok(s) => outln!("{s}"),
            Err(e) => eprintln!("smtpspec send: {e}"),
        },
        SendFormat::Text => out!("{}", text(&delivery)),
    }
    Ok(match delivery.exit_code() {
        0 => Exit::Conformant,
        1 => Exit::NonConformant,
        _ => Exit::Untestable,
    })
}

fn address(what: &str, s: &str) -> Result<Mailbox, CliError> {
    Mailbox::parse(s).map_err(|e| super::usage!("{what} {s:?} is not an address: {e}"))
}

fn socket(what: &str, s: &str) -> Result<SocketAddr, CliError> {
    s.parse()
        .map_err(|_| super::usage!("{what} {s:?} is not an address like 127.0.0.1:25"))
}

fn prepare(args: &SendArgs) -> Result<(Outgoing, SendOptions), CliError> {
    let message = outgoing(args)?;
    let mut options = SendOptions::new(client_config(args)?);
    routing(args, &mut options)?;
    for name in &args.deviate {
        let d = SenderDeviation::from_name(name).ok_or_else(|| {
            format!("deviation {name:?} does not exist (see send --list-deviations)")
        })?;
        options.deviations.push(d);
    }
    for name in &args.variant {
        let v = ClientVariant::from_name(name)
            .ok_or_else(|| format!("variant {name:?} does not exist (see send --list-variants)"))?;
        v.apply(&mut options.client);
        if v == ClientVariant::VerifyCa && args.ca.is_none() {
            return Err("client-verify-ca needs --ca FILE (the certificates to trust)".into());
        }
    }
    if let Some(path) = &args.ca {
        let trust = trust(path)?;
        options.mta_sts = Some(send::sts::Fetch::new(
            443,
            std::sync::Arc::clone(&trust.roots),
            options.connect_timeout,
        ));
        options.trust = Some(trust);
    }
    options.seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    Ok((message, options))
}

/// The envelope and the content: `--message FILE`, `-` for stdin, or a generated one.
fn outgoing(args: &SendArgs) -> Result<Outgoing, CliError> {
    let from_text = args.from.clone().unwrap_or_default();
    let from = if from_text.is_empty() || from_text == "<>" {
        ReversePath::Null
    } else {
        ReversePath::Mailbox(address("--from", &from_text)?)
    };
    let to = args
        .to
        .iter()
        .map(|t| address("--to", t).map(ForwardPath::Mailbox))
        .collect::<Result<Vec<_>, _>>()?;
    let content = match &args.message {
        Some(p) if p.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| super::usage!("reading the message from stdin: {e}"))?;
            buf
        }
        Some(p) => std::fs::read(p).map_err(|e| super::usage!("{}: {e}", p.display()))?,
        None => generated(&from_text, &args.to),
    };
    Ok(Outgoing { from, to, content })
}

/// What the SMTP session does: EHLO name, TLS policy, AUTH, CHUNKING, PIPELINING.
fn client_config(args: &SendArgs) -> Result<ClientConfig, CliError> {
    let helo = Host::parse(&args.helo).map_err(|e| super::usage!("--helo {:?}: {e}", args.helo))?;
    let mut client = ClientConfig::new(helo);
    client.tls = match args.tls {
        TlsArg::Never => TlsPolicy::Never,
        TlsArg::Opportunistic => TlsPolicy::Opportunistic,
        TlsArg::Required => TlsPolicy::Required,
    };
    client.auth = match (&args.user, &args.password) {
        (Some(user), Some(password)) => Some(Credentials {
            user: user.clone(),
            password: password.clone(),
        }),
        _ => None,
    };
    client.auth_without_tls = args.auth_without_tls;
    client.chunking = args.chunking;
    client.pipelining = !args.no_pipelining;
    Ok(client)
}

/// Where and how patiently to deliver: resolver, server, port, timeouts, rounds.
fn routing(args: &SendArgs, options: &mut SendOptions) -> Result<(), CliError> {
    options.dns = args
        .dns
        .as_deref()
        .map(|d| socket("--dns", d))
        .transpose()?;
    options.server = args
        .server
        .as_deref()
        .map(|d| socket("--server", d))
        .transpose()?;
    options.port = args.port;
    options.timeouts = Timeouts::default().scaled(args.timeout_scale);
    options.connect_timeout = args.connect_timeout;
    options.dns_timeout = args.dns_timeout;
    options.retry_delay = args.retry_delay;
    options.rounds = args.rounds;
    Ok(())
}

/// `--ca FILE`: the certificates a verifying client trusts.
fn trust(path: &std::path::Path) -> Result<Trust, CliError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| super::usage!("--ca {}: {e}", path.display()))?;
    for c in certs {
        roots
            .add(c)
            .map_err(|e| super::usage!("--ca {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(super::usage!("--ca {}: no certificate", path.display()));
    }
    Ok(Trust {
        roots: std::sync::Arc::new(roots),
        name: None,
    })
}

/// A minimal RFC 5322 message, so that `send` works without a file.
fn generated(from: &str, to: &[String]) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let from = if from.is_empty() { "<>" } else { from };
    format!(
        "From: <{from}>\r\nTo: {}\r\nSubject: smtpspec send\r\nMessage-ID: <{now}.send@smtpspec.test>\r\n\r\nSent by smtpspec send.\r\n",
        to.iter()
            .map(|t| format!("<{t}>"))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .into_bytes()
}

/// One line per attempt and per recipient.
fn text(d: &Delivery) -> String {
    let mut out = String::new();
    for round in &d.rounds {
        for r in &round.routes {
            out.push_str(&format!("{}\n", r.describe(round.number)));
        }
        for a in &round.attempts {
            out.push_str(&format!("  {}\n", a.describe()));
            for f in &a.findings {
                out.push_str(&format!("    finding: {f}\n"));
            }
        }
    }
    for r in &d.recipients {
        out.push_str(&format!("{}\n", r.describe()));
    }
    out
}
