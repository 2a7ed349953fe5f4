//! `oef convert`: binary ↔ JSON ↔ text, same format version, lossless where the target allows.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use oef_proto::codec;

use crate::{
    Failure,
    io::{self, Format},
};

const EXAMPLES: &str = "\
Examples:
  oef convert experiment.pb -o experiment.json
  oef convert experiment.json -o experiment.pbtxt
  cat experiment.json | oef convert - --format binary -o experiment.pb

The input's encoding and format version are detected from its content. Binary output keeps
fields unknown to this schema (written by newer tools); JSON and text cannot hold them.
Exit status: 0 converted, 1 the input is not a valid OEF experiment, 2 usage error.";

/// Convert an experiment file between binary, JSON and text (same format version).
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Input file (`-` for standard input).
    pub input: PathBuf,

    /// Output file (`-` for standard output), written atomically.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Output encoding [default: from the output extension, else json].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// Runs `oef convert`.
pub fn run(args: Args) -> Result<ExitCode> {
    let output = Some(args.output.as_path()).filter(|p| *p != std::path::Path::new("-"));
    let encoding = io::output_encoding(args.format, output)?;
    let bytes = io::read_input(&args.input)?;
    let (_, message) =
        codec::decode(&bytes).map_err(|e| Failure(format!("{}: {e}", args.input.display())))?;
    let out = codec::encode_message(&message, encoding)?;
    io::write_output(output, &out)?;
    Ok(ExitCode::SUCCESS)
}
