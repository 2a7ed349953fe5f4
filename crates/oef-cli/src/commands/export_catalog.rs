//! `oef export-catalog`: the default experiment of every architecture, one file per key.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::atomic::{AtomicUsize, Ordering},
};

use anyhow::{Context, Result};
use oef_builder::ExperimentBuilder;
use oef_catalog::{Architecture, Catalog};
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

/// Runs `oef export-catalog`: the architectures are built in memory on one thread per CPU,
/// then this thread alone stages their files and commits them together (one flush, renames).
///
/// Writing only after building, and from one thread: in a bench run (tmpfs, 404 files) the
/// command took 1.4× as long when each worker also wrote its own files (files created
/// concurrently in one directory contend for its lock in the kernel) and 1.25× as long when
/// this thread wrote the files as the workers sent them (a wake-up per file, three threads on
/// two cores).
pub fn run(args: Args) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("{}: cannot create directory", args.output.display()))?;
    let encoding: Encoding = args.format.into();
    build::load_schemas_and_catalog(args.format_version);
    let architectures: Vec<&Architecture> = Catalog::global().iter().collect();
    let next = AtomicUsize::new(0);
    let build_some = || -> Result<Vec<(usize, Outcome)>> {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(architecture) = architectures.get(index) else { return Ok(done) };
            done.push((index, build_one(architecture, &args, encoding)?));
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(architectures.len()).max(1);
    let results: Vec<Result<Vec<(usize, Outcome)>>> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(build_some)).collect();
        let mut results = vec![build_some()];
        results.extend(helpers.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))));
        results
    });
    let mut outcomes = Vec::with_capacity(architectures.len());
    for result in results {
        outcomes.extend(result?);
    }
    outcomes.sort_by_key(|(index, _)| *index);
    let mut batch = io::BatchWriter::new(&args.output);
    let mut failures = Vec::new();
    for (_, outcome) in outcomes {
        match outcome {
            Outcome::Built { name, bytes } => {
                let staged = batch.stage(&name, &bytes)?;
                batch.push(staged);
            }
            Outcome::Failed(message) => failures.push(message),
        }
    }
    let written = batch.commit()?;
    for failure in &failures {
        eprintln!("error: {failure}");
    }
    eprintln!("wrote {written} files to {}, {} failed", args.output.display(), failures.len());
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What became of one architecture's build.
enum Outcome {
    /// Built: the file name and its bytes.
    Built { name: String, bytes: Vec<u8> },
    /// Did not build: `key: reason`.
    Failed(String),
}

/// Builds one architecture's experiment and encodes it; a build error is an outcome, any
/// other error ends the command.
///
/// Each architecture is built from its own copy of the catalog entry (its `default_args` still
/// text): every entry is used once, so its parsed defaults are dropped after the build instead
/// of being kept by the catalog for the life of the process (~15 MB for all 404, which the
/// kernel would have to zero page by page).
fn build_one(architecture: &Architecture, args: &Args, encoding: Encoding) -> Result<Outcome> {
    let built = ExperimentBuilder::from_architecture(architecture.clone())
        .map_err(|e| anyhow::Error::new(Failure(e.to_string())))
        .and_then(|builder| build::build_bytes_with(builder, &args.set, &[], args.format_version, encoding));
    match built {
        Ok(bytes) => Ok(Outcome::Built {
            name: format!("{}.{}", architecture.key, encoding.extension()),
            bytes,
        }),
        Err(error) if error.downcast_ref::<Failure>().is_some() => {
            Ok(Outcome::Failed(format!("{}: {error}", architecture.key)))
        }
        Err(error) => Err(error),
    }
}
