//! `smtpspec serve`: the reference server from the command line.

use reference_server::settings::{FileSettings, StoreKind};
use reference_server::{Server, Store, Variant};
use smtp_protocol::server::Deviation;

use super::out::outln;
use super::{CliError, CmdResult, Exit};
use crate::cli::{ServeArgs, StoreArg};

pub(crate) fn main(args: ServeArgs) -> CmdResult {
    if args.list_deviations {
        for d in Deviation::ALL {
            outln!("{:<32} {}", d.name(), d.description());
        }
        return Ok(Exit::Conformant);
    }
    if args.list_variants {
        for v in Variant::ALL {
            super::out::variant_line(v.name(), v.description(), v.allowed_by());
        }
        return Ok(Exit::Conformant);
    }
    let threads = args.threads;
    // A server raises its descriptor limit to the hard one at start, so that the
    // default connection limit (from the descriptors) is as high as the system allows.
    reference_server::descriptors::raise();
    let settings = settings(args)?;
    let runtime = match threads.unwrap_or_else(default_threads) {
        0 => return Err(CliError::usage("--threads must be at least 1")),
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .map_err(|e| CliError::untestable(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let line = describe(&settings);
        let limits = format!(
            "max-connections {} (file descriptors: {})",
            settings.max_connections, settings.descriptors
        );
        let server = Server::bind(settings)
            .await
            .map_err(|e| CliError::usage(e.to_string()))?;
        let addr = server
            .local_addr()
            .map_or_else(|e| format!("? ({e})"), |a| a.to_string());
        let tls = if server.has_tls() {
            "STARTTLS on"
        } else {
            "STARTTLS off"
        };
        let store = server.store().clone();
        outln!(
            "smtpspec serve: listening on {addr}; {tls}; {}; {limits}; {line}",
            store.describe()
        );
        let ran = server.run(stopped()).await;
        if let Store::Maildir(m) = &store {
            let (messages, fsyncs, rounds) = m.sync_counts();
            outln!(
                "smtpspec serve: stored {messages} message(s) with {fsyncs} fsync(s) in \
                 {rounds} round(s): {:.2} fsyncs per message",
                fsyncs as f64 / messages.max(1) as f64
            );
        }
        ran.map(|()| Exit::Conformant)
            .map_err(|e| CliError::untestable(e.to_string()))
    })
}

/// Worker threads when `--threads` is not given: one per core, but a single thread
/// on two cores or fewer, where the client under load (or the harness) needs a core
/// of its own and a second worker only adds handoffs between the two.
fn default_threads() -> usize {
    match std::thread::available_parallelism().map_or(1, std::num::NonZero::get) {
        ..=2 => 1,
        n => n,
    }
}

/// Ctrl-C or SIGTERM (what service managers and `kill` send): a graceful shutdown.
async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    eprintln!("smtpspec serve: shutting down");
}

/// The deviations and variants the server runs with, for its first line.
fn describe(settings: &reference_server::Settings) -> String {
    let deviations: Vec<&str> = settings
        .protocol
        .deviations
        .iter()
        .map(|d| d.name())
        .collect();
    let deviations = if deviations.is_empty() {
        "no deviations".to_owned()
    } else {
        format!("DEVIATING: {}", deviations.join(", "))
    };
    if settings.variants.is_empty() {
        deviations
    } else {
        format!("{deviations}; variants: {}", settings.variants.join(", "))
    }
}

fn settings(args: ServeArgs) -> Result<reference_server::Settings, CliError> {
    let mut file = match &args.config {
        Some(path) => FileSettings::load(path).map_err(|e| CliError::usage(e.to_string()))?,
        None => FileSettings::default(),
    };
    if let Some(listen) = args.listen {
        file.listen = listen;
    }
    if let Some(host) = args.hostname {
        file.hostname = host;
    }
    if let Some(dir) = args.maildir {
        file.maildir = Some(dir);
        file.store = StoreKind::Maildir;
    }
    if let Some(how) = args.maildir_sync {
        file.maildir_sync = how;
    }
    match args.store {
        Some(StoreArg::Discard) => file.store = StoreKind::Discard,
        Some(StoreArg::Maildir) => file.store = StoreKind::Maildir,
        None => {}
    }
    file.deviations.extend(args.deviate);
    file.variants.extend(args.variant);
    file.resolve().map_err(|e| CliError::usage(e.to_string()))
}
