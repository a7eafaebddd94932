//! The `gitstate` command line over the `gitstate` library: argument parsing, output and exit
//! codes only; every storage rule lives in the library. A library target so that the
//! end-to-end test crate can build the same program as a binary of its own.

mod args;
mod commands;
mod exit;
mod history;
mod migrate;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// Run the command line with the process's arguments; returns the exit code.
pub fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match commands::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            if let Some(hint) = failure.hint {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(failure.code)
        }
    }
}
