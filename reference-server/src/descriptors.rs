//! How many connections the process can hold: each takes a file descriptor, and a
//! message being stored takes one more until its round is durable. A fixed default
//! (it was 256) refused the 257th client of a load test with 421 on a machine that
//! could hold thousands; a limit above what the descriptors allow would turn into
//! failed accepts instead. So the default follows the descriptor limit it finds.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors kept for everything but connections: a round of the Maildir's group
/// commit holds up to [`crate::commit::ROUND`] files open, plus 64 for the listener,
/// logs, TLS files, the directory and the runtime.
const RESERVED: u64 = crate::commit::ROUND as u64 + 64;
/// The most connections chosen by default, whatever the limit.
const MOST: u64 = 1 << 20;

/// The descriptor limit of this process as it stands.
pub fn limit() -> u64 {
    getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft)
}

/// Raise the soft descriptor limit to the hard one (an unprivileged process may do
/// that), as a server does at start; the limit in force after.
pub fn raise() -> u64 {
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok()
    {
        return hard;
    }
    limit()
}

/// Connections that fit in `limit` descriptors: an eighth of them, and at least
/// [`RESERVED`] (half of a small limit), kept for files being stored and the rest of
/// the process.
pub fn connections_for(limit: u64) -> usize {
    let reserved = (limit / 8).max(RESERVED.min(limit / 2));
    usize::try_from(limit.saturating_sub(reserved).clamp(1, MOST)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::connections_for;

    #[test]
    fn the_default_leaves_room_for_stores_and_the_process() {
        assert_eq!(connections_for(20_000), 17_500);
        assert_eq!(connections_for(1024), 704);
        assert_eq!(connections_for(256), 128);
        assert_eq!(connections_for(10), 5);
        assert_eq!(connections_for(1), 1);
        assert_eq!(connections_for(u64::MAX), 1 << 20);
    }
}
