//! Standard output that a closed pipe ends quietly.
//!
//! `smtpspec list | head -1` closes the pipe after one line; `println!` would then
//! panic (exit 101). Everything a command prints on standard output goes through
//! [`out!`] and [`outln!`]: after a broken pipe nothing more is written and the
//! command ends with its own status, as `cat` does when its reader went away. Any
//! other write error (a full disk under a redirection) is said once on standard
//! error, and the command exits 2 ([`failed`]), since what it printed is not whole.
//!
//! Sockets are untouched: the process keeps ignoring SIGPIPE (Rust's default), so a
//! target that closes is an error on that connection, never the end of the run.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU8, Ordering};

const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const FAILED: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(OPEN);

/// Write to standard output unless it is gone; used through [`out!`].
pub(crate) fn write(args: fmt::Arguments<'_>) {
    if STATE.load(Ordering::Relaxed) != OPEN {
        return;
    }
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            STATE.store(CLOSED, Ordering::Relaxed);
        } else {
            STATE.store(FAILED, Ordering::Relaxed);
            eprintln!("smtpspec: cannot write to standard output: {e}");
        }
    }
}

/// Whether a write failed for another reason than a reader that went away.
pub(crate) fn failed() -> bool {
    STATE.load(Ordering::Relaxed) == FAILED
}

/// `print!` that survives a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cmd::out::write(format_args!($($arg)*))
    };
}
pub(crate) use out;

/// `println!` that survives a closed pipe.
macro_rules! outln {
    () => {
        $crate::cmd::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cmd::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// One line of `--list-variants`, the same for servers and clients, so a script can cut
/// the name off the first column either way.
pub(crate) fn variant_line(name: &str, description: &str, allowed_by: &str) {
    outln!("{name:<26} {description}; allowed by {allowed_by}");
}
