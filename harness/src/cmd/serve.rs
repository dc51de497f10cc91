//! `smtpspec serve`: the reference server from the command line.

use std::process::ExitCode;

use reference_server::settings::{FileSettings, StoreKind};
use reference_server::{Server, Store, Variant};
use smtp_protocol::server::Deviation;

use crate::EXIT_USAGE;
use crate::cli::{ServeArgs, StoreArg};

pub(crate) fn main(args: ServeArgs) -> ExitCode {
    if args.list_deviations {
        for d in Deviation::ALL {
            println!("{:<32} {}", d.name(), d.description());
        }
        return ExitCode::SUCCESS;
    }
    if args.list_variants {
        for v in Variant::ALL {
            crate::cli::print_variant(v.name(), v.description(), v.allowed_by());
        }
        return ExitCode::SUCCESS;
    }
    let threads = args.threads;
    let settings = match settings(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("smtpspec serve: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match threads {
        Some(0) => {
            eprintln!("smtpspec serve: --threads must be at least 1");
            return ExitCode::from(EXIT_USAGE);
        }
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => tokio::runtime::Runtime::new(),
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smtpspec serve: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    runtime.block_on(async move {
        let deviations: Vec<&str> = settings
            .protocol
            .deviations
            .iter()
            .map(|d| d.name())
            .collect();
        let variants = settings.variants.clone();
        let server = match Server::bind(settings).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("smtpspec serve: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
        let addr = server
            .local_addr()
            .map_or_else(|e| format!("? ({e})"), |a| a.to_string());
        let tls = if server.has_tls() {
            "STARTTLS on"
        } else {
            "STARTTLS off"
        };
        let store = match server.store() {
            Store::Discard => "discarding messages".to_owned(),
            s => s.describe(),
        };
        let deviations = if deviations.is_empty() {
            "no deviations".to_owned()
        } else {
            format!("DEVIATING: {}", deviations.join(", "))
        };
        let deviations = if variants.is_empty() {
            deviations
        } else {
            format!("{deviations}; variants: {}", variants.join(", "))
        };
        println!("smtpspec serve: listening on {addr}; {tls}; {store}; {deviations}");
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("smtpspec serve: shutting down");
        };
        match server.run(stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("smtpspec serve: {e}");
                ExitCode::from(3)
            }
        }
    })
}

fn settings(args: ServeArgs) -> Result<reference_server::Settings, String> {
    let mut file = match &args.config {
        Some(path) => FileSettings::load(path).map_err(|e| e.to_string())?,
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
    match args.store {
        Some(StoreArg::Discard) => file.store = StoreKind::Discard,
        Some(StoreArg::Maildir) => file.store = StoreKind::Maildir,
        None => {}
    }
    file.deviations.extend(args.deviate);
    file.variants.extend(args.variant);
    file.resolve().map_err(|e| e.to_string())
}
