//! `oef`: the Open Experiment Format command line.
//!
//! One module per command under [`commands`]; this file only parses the command line and maps
//! outcomes to exit codes: 0 success, 1 a build or validation failure (message on stderr,
//! nothing written), 2 a usage error.

mod commands;
mod io;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: the builder and the catalog make many small,
/// short-lived allocations, and with glibc's malloc page faults and arena growth were a fifth
/// of `oef export-catalog`'s CPU time (perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Build, validate, convert and compare Open Experiment Format (OEF) experiments.
///
/// An experiment is "architecture key + a few overrides": `oef models` lists the 404
/// architectures, `oef build KEY` turns one into a complete experiment.
#[derive(Debug, Parser)]
#[command(name = "oef", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Build(commands::build::Args),
    ExportCatalog(commands::export_catalog::Args),
    Validate(commands::validate::Args),
    Convert(commands::convert::Args),
    Diff(commands::diff::Args),
    Models(commands::models::Args),
    Serve(commands::serve::Args),
    Keys(commands::keys::Args),
    Launch(commands::launch::Args),
    Trainings(commands::trainings::Args),
    Worker(commands::worker::Args),
}

/// A failure that is the input's fault (exit 1), as opposed to a usage error (exit 2).
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// A usage error detected after parsing (exit 2).
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => commands::build::run(args),
        Command::ExportCatalog(args) => commands::export_catalog::run(args),
        Command::Validate(args) => commands::validate::run(args),
        Command::Convert(args) => commands::convert::run(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Models(args) => commands::models::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Keys(args) => commands::keys::run(args),
        Command::Launch(args) => commands::launch::run(args),
        Command::Trainings(args) => commands::trainings::run(args),
        Command::Worker(args) => commands::worker::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<Usage>().is_some() { ExitCode::from(2) } else { ExitCode::from(1) }
        }
    }
}
