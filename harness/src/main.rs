//! The `smtpspec` command: argument parsing and the exit-status contract of README.md.
//!
//! Exit status: 0 conformant · 1 non-conformant · 2 usage, configuration or scenario
//! error · 3 the target could not be tested.

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command};

/// Exit status 2: usage, configuration or scenario-file error.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Serve(args) => cmd::serve::main(args),
        Command::Dns(args) => cmd::dns::main(args),
        Command::Send(args) => cmd::send::main(args),
        Command::Client(args) => cmd::client::main(args),
        Command::Run(args) => cmd::run::main(args),
        Command::List(args) => cmd::run::list(args),
        Command::Check(args) => cmd::run::check(args),
        Command::Coverage(args) => cmd::coverage::main(args),
        Command::Report(args) => cmd::output::report_main(args),
        Command::Schema(args) => {
            if args.report {
                print!("{}", smtpspec::report::model::json_schema());
            } else {
                print!("{}", smtpspec::scenario::json_schema());
            }
            ExitCode::SUCCESS
        }
        other => {
            eprintln!(
                "smtpspec: '{}' is not implemented yet (see README.md, \"Status\").",
                other.name()
            );
            ExitCode::from(EXIT_USAGE)
        }
    }
}
