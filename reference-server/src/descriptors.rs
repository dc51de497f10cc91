//! How many connections the process can hold: each takes a file descriptor, and a
//! message being stored takes one more until its round is durable. A fixed default
//! (it was 256) refused the 257th client of a load test with 421 on a machine that
//! could hold thousands; a limit above what the descriptors allow would turn into
//! failed accepts instead. So the default follows the descriptor limit it finds.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors kept for everything but connections (listener, logs, TLS files, the
/// Maildir's directory, the runtime), at least.
const RESERVED: u64 = 64;
/// The most connections chosen by default, whatever the limit.
const MOST: u64 = 1 << 20;

/// The descriptor limit of this process, raised first to its hard limit (an
/// unprivileged process may do that).
pub fn limit() -> u64 {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}

/// Connections that fit in `limit` descriptors: an eighth (at least [`RESERVED`])
/// kept for stores in flight and the rest of the process.
pub fn connections_for(limit: u64) -> usize {
    let reserved = (limit / 8).max(RESERVED);
    usize::try_from(limit.saturating_sub(reserved).clamp(1, MOST)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::connections_for;

    #[test]
    fn the_default_leaves_room_for_stores_and_the_process() {
        assert_eq!(connections_for(20_000), 17_500);
        assert_eq!(connections_for(1024), 896);
        assert_eq!(connections_for(256), 192);
        assert_eq!(connections_for(10), 1);
        assert_eq!(connections_for(u64::MAX), 1 << 20);
    }
}
