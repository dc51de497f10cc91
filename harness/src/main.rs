//! The `smtpspec` command: argument parsing and the exit-status contract of README.md.
//!
//! Exit status: 0 conformant · 1 non-conformant · 2 usage, configuration or scenario
//! error · 3 the target could not be tested.

mod cli;
mod client_cmd;
mod coverage;
mod fake_dns;
mod output;
mod run;
mod send_cmd;
mod serve;

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
        Command::Serve(args) => serve::main(args),
        Command::Dns(args) => fake_dns::main(args),
        Command::Send(args) => send_cmd::main(args),
        Command::Client(args) => client_cmd::main(args),
        Command::Run(args) => run::main(args),
        Command::List(args) => run::list(args),
        Command::Check(args) => run::check(args),
        Command::Coverage(args) => coverage::main(args),
        Command::Report(args) => output::report_main(args),
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
