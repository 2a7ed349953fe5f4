//! `oef export-catalog`: the default experiment of every architecture, one file per key.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::atomic::{AtomicUsize, Ordering},
};

use anyhow::Result;
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

Writes DIR/<key>.pb, .json or .pbtxt for each of the catalog's architectures. A DIR that does
not exist yet is built in a hidden sibling (.DIR.oef-export-<pid>.tmp) and appears whole at
the end; into an existing DIR each file is written whole or not at all (temporary files, one
flush, renames). A build error shared by several architectures is reported once, with their
number. Exit status: 0 all written, 1 some architecture failed to build (the others are still
written; when none builds, nothing is written and a new DIR is not created), 2 usage error.";

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

/// Runs `oef export-catalog`: the architectures are built on one thread per CPU; this thread
/// builds too and, between two of its builds, writes the files the others have built
/// ([`io::BatchWriter`]), so writing never leaves a core idle. Then the batch is committed.
///
/// Only this thread writes: in a bench run (tmpfs, 404 files) the command took 1.4× as long
/// when each worker also wrote its own files (files created concurrently in one directory
/// contend for its lock in the kernel), and 1.25× as long with a thread of its own for writing
/// (a wake-up per file, three threads on two cores). Writing everything after the last build
/// left one core idle while this thread wrote (on this disk a third of the run).
pub fn run(args: Args) -> Result<ExitCode> {
    let mut batch = io::BatchWriter::new(&args.output)?;
    let encoding: Encoding = args.format.into();
    build::load_schemas_and_catalog(args.format_version);
    let architectures: Vec<&Architecture> = Catalog::global().iter().collect();
    let next = AtomicUsize::new(0);
    let claim = || architectures.get(next.fetch_add(1, Ordering::Relaxed));
    let args = &args;
    let mut failures = Vec::new();
    let mut keep = |outcome: Outcome| -> Result<()> {
        match outcome {
            Outcome::Built { name, bytes } => batch.write(&name, &bytes)?,
            Outcome::Failed(key, message) => failures.push((key, message)),
        }
        Ok(())
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(architectures.len()).max(1);
    std::thread::scope(|scope| -> Result<()> {
        let (sender, built) = std::sync::mpsc::channel::<Result<Outcome>>();
        for _ in 1..threads {
            let sender = sender.clone();
            scope.spawn(move || {
                while let Some(architecture) = claim() {
                    let outcome = build_one(architecture, args, encoding);
                    let fatal = outcome.is_err();
                    // A send fails once this thread has stopped on an error: stop too.
                    if sender.send(outcome).is_err() || fatal {
                        return;
                    }
                }
            });
        }
        drop(sender);
        while let Some(architecture) = claim() {
            for outcome in built.try_iter() {
                keep(outcome?)?;
            }
            keep(build_one(architecture, args, encoding)?)?;
        }
        // The last builds of the other threads (the channel ends when they all have).
        for outcome in built {
            keep(outcome?)?;
        }
        Ok(())
    })?;
    if failures.len() == architectures.len() {
        drop(batch); // nothing built: no empty DIR either
        report_failures(&failures);
        eprintln!("nothing written to {}: every architecture failed", args.output.display());
        return Ok(ExitCode::from(1));
    }
    let written = batch.commit()?;
    report_failures(&failures);
    eprintln!("wrote {written} files to {}, {} failed", args.output.display(), failures.len());
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Prints the failed builds, one error per distinct reason: a reason shared by several
/// architectures (an unset required field fails them all) is printed once, with how many and
/// which (the first few; `oef build KEY` shows one in full).
fn report_failures(failures: &[(String, String)]) {
    const NAMED: usize = 3;
    let mut by_reason: Vec<(String, Vec<&str>)> = Vec::new();
    for (key, message) in failures {
        // The builder's messages start with the key; it is named below instead.
        let reason = message.strip_prefix(&format!("architecture '{key}': ")).unwrap_or(message);
        match by_reason.iter_mut().find(|(r, _)| r == reason) {
            Some((_, keys)) => keys.push(key),
            None => by_reason.push((reason.to_owned(), vec![key])),
        }
    }
    by_reason.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.1[0].cmp(b.1[0])));
    for (reason, mut keys) in by_reason {
        keys.sort_unstable();
        let (first, rest) = reason.split_once('\n').unwrap_or((&reason, ""));
        if let [key] = keys[..] {
            eprintln!("error: {key}: {first}");
        } else {
            let more = keys.len().saturating_sub(NAMED);
            let named = keys[..keys.len().min(NAMED)].join(", ");
            let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
            eprintln!("error: {first} ({} architectures: {named}{tail})", keys.len());
        }
        if !rest.is_empty() {
            eprintln!("{rest}");
        }
    }
}

/// What became of one architecture's build.
enum Outcome {
    /// Built: the file name and its bytes.
    Built { name: String, bytes: Vec<u8> },
    /// Did not build: the key and why.
    Failed(String, String),
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
        .map_err(|e| anyhow::Error::new(build::build_failure(e)))
        .and_then(|builder| build::build_bytes_with(builder, &args.set, &[], args.format_version, encoding));
    match built {
        Ok(bytes) => Ok(Outcome::Built {
            name: format!("{}.{}", architecture.key, encoding.extension()),
            bytes,
        }),
        Err(error) if error.downcast_ref::<Failure>().is_some() => {
            Ok(Outcome::Failed(architecture.key.clone(), error.to_string()))
        }
        Err(error) => Err(error),
    }
}
