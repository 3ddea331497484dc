//! `ursactl`: the command line of Ursa. kumactl 0.5's commands, flags, configuration file and
//! output, so a script written for kumactl runs with only its name changed, plus what kumactl
//! makes painful: directories of documents, server-side dry runs, diffs, waiting in CI.
//!
//! Exit codes: 0 success, 1 the control plane refused, 2 bad usage, 3 the control plane could
//! not be reached, 4 `wait` timed out.

mod age;
mod args;
mod client;
mod commands;
mod config;
mod diff;
mod documents;
mod error;
mod nouns;
mod render;
mod table;
mod wait;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap exits with 2 on bad usage, 0 for --help and --version.
    let cli = args::Cli::try_parse().unwrap_or_else(|e| e.exit());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = commands::run(cli, &mut out).and_then(|()| Ok(out.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`ursactl get meshes | head -1`) is not an error of ours.
        Err(error::CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
