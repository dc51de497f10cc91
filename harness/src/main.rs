//! The `smtpspec` command: argument parsing, and one subcommand per file under `cmd/`.
//!
//! Exit status: 0 conformant · 1 non-conformant · 2 usage, configuration or scenario
//! error · 3 the target could not be tested ([`cmd::Exit`]).

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command};
use cmd::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let name = cli.command.name();
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::main(args),
        Command::Dns(args) => cmd::dns::main(args),
        Command::Send(args) => cmd::send::main(args),
        Command::Client(args) => cmd::client::main(args),
        Command::Run(args) => cmd::run::main(args),
        Command::List(args) => cmd::list::main(args),
        Command::Check(args) => cmd::check::main(args),
        Command::Coverage(args) => cmd::coverage::main(args),
        Command::Report(args) => cmd::report::main(args),
        Command::Schema(args) => cmd::schema::main(args),
        Command::Completions(args) => cmd::completions::main(args),
        Command::Fuzz(args) if args.differential || args.target.len() > 1 => {
            cmd::fuzz_diff::main(args)
        }
        Command::Fuzz(args) if args.client.is_some() || !args.command.is_empty() => {
            cmd::fuzz_client::main(&args)
        }
        Command::Fuzz(args) => cmd::fuzz::main(args),
    };
    // Output that could not be written whole (not a reader that went away) is not
    // a success, whatever the command found.
    match result {
        Ok(_) if cmd::out::failed() => Exit::Usage.into(),
        result => cmd::exit(name, result),
    }
}
