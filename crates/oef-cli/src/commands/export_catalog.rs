//! `oef export-catalog`: the default experiment of every architecture, one file per key.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, Result};
use oef_catalog::Catalog;
use oef_proto::codec::Encoding;

use crate::{
    Failure,
    commands::build,
    io::{self, Format},
};

const EXAMPLES: &str = "\
Examples:
  oef export-catalog --format-version 0 --format binary -o defaults/ \\
      --set config_path=gs://bucket/dataset/config.prototxt
  oef export-catalog --format json -o catalog-json/ --set config_path=gs://b/c.prototxt

Writes DIR/<key>.pb, .json or .pbtxt for each of the catalog's architectures; each file is
written whole or not at all (temporary files, one flush, renames). Exit status: 0 all written, 1 some architecture failed to build (the others are
still written), 2 usage error.";

/// Write the default experiment of every architecture, one file per key.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Format version of the files: 1 (oef.v1 ExperimentFile) or 0 (deepomatic-oef Experiment).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1))]
    pub format_version: u32,

    /// Encoding of the files.
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,

    /// Directory to write into (created if missing).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,

    /// Set NAME to VALUE in every experiment (see `oef build --help`).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

/// Runs `oef export-catalog`.
pub fn run(args: Args) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("{}: cannot create directory", args.output.display()))?;
    let encoding: Encoding = args.format.into();
    let mut failures = Vec::new();
    let mut batch = io::BatchWriter::new(&args.output);
    for architecture in Catalog::global().iter() {
        match build::build_bytes(&architecture.key, &args.set, &[], args.format_version, encoding) {
            Ok(bytes) => {
                batch.add(&format!("{}.{}", architecture.key, encoding.extension()), &bytes)?;
            }
            Err(error) if error.downcast_ref::<Failure>().is_some() => {
                failures.push(format!("{}: {error}", architecture.key));
            }
            Err(error) => return Err(error),
        }
    }
    let written = batch.commit()?;
    for failure in &failures {
        eprintln!("error: {failure}");
    }
    eprintln!("wrote {written} files to {}, {} failed", args.output.display(), failures.len());
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
