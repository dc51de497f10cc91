//! `smtpspec dns`: the fake DNS server from the command line, for `dig`, for real MTAs
//! in a network namespace, and for `smtpspec send --dns`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use smtpspec::dns;

use crate::EXIT_USAGE;
use crate::cli::DnsArgs;

pub(crate) fn main(args: DnsArgs) -> ExitCode {
    let zones = match dns::read_zones(&args.zone) {
        Ok(z) => z,
        Err(e) => {
            eprintln!("smtpspec dns: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let addr: SocketAddr = match args.listen.parse() {
        Ok(a) => a,
        Err(_) => {
            eprintln!(
                "smtpspec dns: --listen {:?} is not an address like 127.0.0.1:5300",
                args.listen
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smtpspec dns: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    runtime.block_on(async move {
        let running = match dns::serve(&zones, addr).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("smtpspec {e}");
                return ExitCode::from(3);
            }
        };
        let names: usize = zones.values().map(|n| n.len()).sum();
        eprintln!(
            "smtpspec dns: {} zone(s), {names} name(s) on {} (udp and tcp)",
            zones.len(),
            running.addr
        );
        if args.verbose {
            let log = running.log.clone();
            tokio::spawn(async move {
                let mut seen = 0;
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let Ok(log) = log.lock() else { return };
                    for q in &log[seen..] {
                        eprintln!("dns: {} {} over {}", q.name, q.rtype, q.protocol);
                    }
                    seen = log.len();
                }
            });
        }
        tokio::select! {
            r = running.wait() => match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => { eprintln!("smtpspec {e}"); ExitCode::from(3) }
            },
            _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
        }
    })
}
