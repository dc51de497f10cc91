//! `smtpspec dns`: the fake DNS server from the command line, for `dig`, for real MTAs
//! in a network namespace, and for `smtpspec send --dns`.

use std::net::SocketAddr;
use std::time::Duration;

use smtpspec::dns;
use smtpspec::outcome::HarnessError;

use super::{CliError, CmdResult, Exit};
use crate::cli::DnsArgs;

pub(crate) fn main(args: DnsArgs) -> CmdResult {
    let zones = dns::read_zones(&args.zone)?;
    let addr: SocketAddr = args.listen.parse().map_err(|_| {
        CliError::usage(format!(
            "--listen {:?} is not an address like 127.0.0.1:5300",
            args.listen
        ))
    })?;
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        // The library's messages name the DNS server already.
        let untestable = |e: HarnessError| CliError::untestable(e.0.trim_start_matches("dns: "));
        let running = dns::serve(&zones, addr).await.map_err(untestable)?;
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
            r = running.wait() => r.map(|()| Exit::Conformant).map_err(untestable),
            _ = tokio::signal::ctrl_c() => Ok(Exit::Conformant),
        }
    })
}
