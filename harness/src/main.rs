//! The `smtpspec` command.
//!
//! Only the protocol core exists so far. Rather than print anything that looks like a
//! verdict, every subcommand says plainly that it is not built yet and exits with
//! status 2 (usage/configuration error in the exit-status contract of DESIGN.md).

use std::process::ExitCode;

const USAGE: &str = "\
smtpspec — certify SMTP implementations (RFC 5321 and extensions)

USAGE: smtpspec <run|client|serve|dns|send|fuzz|report|list|check|coverage|schema> ...

Status of this build: only the sans-IO protocol core (crate smtpspec-protocol) exists.
The subcommands are not implemented yet; each exits with status 2 and says so.

Exit status: 0 conformant · 1 non-conformant · 2 usage, configuration or scenario error
· 3 target could not be tested.";

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        None | Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("smtpspec {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(cmd) => {
            eprintln!(
                "smtpspec: '{cmd}' is not implemented yet: this build has the protocol core \
                 only (see README.md, \"Status\")."
            );
            ExitCode::from(2)
        }
    }
}
