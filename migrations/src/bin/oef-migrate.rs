//! `oef-migrate`: brings stored Open Experiment Format files to any format version.

use std::{
    io::IsTerminal as _,
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::SystemTime,
};

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use oef_migrations::{
    ArchitectureIndex, CatalogDefaults, DirectoryDefaults, LATEST_VERSION, Registry, Tool,
    run::{self, FormatChoice, Mode, Options},
};
use oef_proto::codec::Encoding;

/// mimalloc instead of the system allocator: a migration makes many small, short-lived
/// allocations (reflection messages, paths), and glibc's malloc and free were a tenth of
/// `oef-migrate`'s CPU time (perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLES: &str = "\
Examples:
  # Bring a tree of experiments to the newest format, in place (idempotent, crash-safe):
  oef-migrate --in-place experiments/

  # Write v1 copies as JSON under out/, mirroring relative paths:
  oef-migrate --to 1 --format json --out-dir out/ experiments/

  # What would change, without writing anything:
  oef-migrate --dry-run experiments/old.pb

  # CI: fail if any file is not at format v1:
  oef-migrate --check --to 1 experiments/

  # Downgrade to the legacy format for deepomatic-oef (exact for files that came from v0):
  oef-migrate --to 0 --out-dir legacy/ experiments/

  # A v0 file whose architecture cannot be inferred:
  oef-migrate --in-place --architecture image_detection.pretraining_natural_rgb.ssd.mobilenet_v1 exp.pb

Exit status: 0 when every file is done (or, with --check, current); 1 when a file failed
(or, with --check, is not current); 2 on a usage error.";

/// Brings stored OEF experiment files (v0 deepomatic-oef or v1 envelopes; binary, JSON or text,
/// detected from content) to a format version. Files already at the target are left untouched.
#[derive(Debug, Parser)]
#[command(name = "oef-migrate", version, after_help = EXAMPLES)]
struct Cli {
    /// Target format major version [default: the newest]
    #[arg(long, value_name = "N")]
    to: Option<u32>,

    /// Rewrite each file in place (temporary file, fsync, rename; mode kept; a symlink's target
    /// is rewritten and the link kept)
    #[arg(long, conflicts_with = "out_dir")]
    in_place: bool,

    /// Write results under DIR, mirroring paths relative to each PATH argument (a DIR that does
    /// not exist yet is built aside and appears whole at the end; a DIR inside a PATH is not
    /// read as input)
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,

    /// Write nothing; list what would change (field-path diff per file)
    #[arg(long, conflicts_with = "check")]
    dry_run: bool,

    /// Write nothing; exit 1 if any file is not at the target version (for CI)
    #[arg(long)]
    check: bool,

    /// Worker threads [default: the number of CPUs]
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,

    /// Architecture key to record for v0 files instead of inferring it
    #[arg(long, value_name = "KEY")]
    architecture: Option<String>,

    /// Encoding of the files written (file names are kept as they are)
    #[arg(long, value_enum, default_value_t = Format::Keep)]
    format: Format,

    /// Print the report as JSON (for machines)
    #[arg(long)]
    json: bool,

    /// Directory of `<key>.pb` default experiments used to infer architectures
    #[arg(long, value_name = "DIR", hide = true)]
    defaults_dir: Option<PathBuf>,

    /// Files or directories (recursive; symlinks followed, a directory once per PATH; a file
    /// reached through overlapping PATHs is migrated once, except under --out-dir, where each
    /// PATH mirrors its own tree)
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The encoding of each input
    Keep,
    /// Protobuf binary
    Binary,
    /// Canonical proto3 JSON
    Json,
    /// Protobuf text format
    Text,
}

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (the C enum; libmimalloc-sys names no
/// constant for it). Checked by `purge_delay_option_is_the_one_meant` below.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory freed by a worker is kept for reuse instead of returned to the system: a run frees
/// and reallocates the same amounts file after file, and with mimalloc's default (return what
/// was free for a second) each return cost a fresh 2 MiB transparent huge page, zeroed by the
/// kernel, on the next use (~700 page faults for 40k files; 280 without returns; 5 % less CPU
/// time, same-session A/B).
fn keep_freed_memory() {
    // SAFETY: sets a process-wide option of the allocator; callable at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    match run_cli(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("oef-migrate: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_cli(cli: Cli) -> anyhow::Result<ExitCode> {
    let to = cli.to.unwrap_or(LATEST_VERSION);
    if to > LATEST_VERSION {
        bail!("--to {to}: this build knows format versions 0 to {LATEST_VERSION}");
    }
    let mode = if cli.check {
        Mode::Check
    } else if cli.dry_run {
        Mode::DryRun
    } else if cli.in_place {
        Mode::InPlace
    } else if let Some(dir) = &cli.out_dir {
        // Said once here rather than as the same failure for every file.
        match std::fs::metadata(dir) {
            Ok(meta) if !meta.is_dir() => bail!("--out-dir {}: exists and is not a directory", dir.display()),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => bail!("--out-dir {}: {e}", dir.display()),
            _ => {}
        }
        Mode::OutDir(dir.clone())
    } else {
        bail!("say where results go: --in-place or --out-dir DIR (or --dry-run / --check)");
    };
    let jobs = match cli.jobs {
        Some(0) => bail!("--jobs must be at least 1"),
        Some(n) => n,
        // One per CPU: migrating is CPU-bound (2 threads on 2 cores moved ~15 % more files per
        // second than 4 on tmpfs, and 4 were not faster on a disk either).
        None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    let format = match cli.format {
        Format::Keep => FormatChoice::Keep,
        Format::Binary => FormatChoice::To(Encoding::Binary),
        Format::Json => FormatChoice::To(Encoding::Json),
        Format::Text => FormatChoice::To(Encoding::Text),
    };
    let index = match &cli.defaults_dir {
        Some(dir) => ArchitectureIndex::new(DirectoryDefaults::new(dir.clone())),
        None => ArchitectureIndex::new(CatalogDefaults),
    };
    let registry = Registry::standard(Arc::new(index));
    let options = Options {
        to,
        mode: mode.clone(),
        jobs,
        architecture: cli.architecture.clone(),
        format,
        tool: Tool::oef_migrate(),
        time: SystemTime::now(),
    };

    let writes = matches!(mode, Mode::InPlace | Mode::OutDir(_));
    let out_dir = match &mode {
        Mode::OutDir(dir) => Some(dir.as_path()),
        _ => None,
    };
    let collect = run::CollectOptions { clean_stale: writes, skip_dir: out_dir, once_per_file: out_dir.is_none() };
    // The registry's tables are built on a second thread while the inputs are listed (not
    // for --check, which migrates nothing).
    let (inputs, mut failures) = std::thread::scope(|scope| {
        if mode != Mode::Check {
            scope.spawn(|| registry.prepare());
        }
        run::collect_with(&cli.paths, &collect)
    });
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(inputs.len() as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} files {per_sec} eta {eta}")
                .context("progress bar template")?,
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut report = run::run(&inputs, &options, &registry, &|_| bar.inc(1));
    bar.finish_and_clear();
    if !failures.is_empty() {
        failures.append(&mut report.files);
        report = run::Report::rebuild(report.target_version, &mode, failures);
    }
    if cli.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.render_text());
    }
    Ok(ExitCode::from(u8::try_from(report.exit_code()).unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_delay_option_is_the_one_meant() {
        // mimalloc 3's default purge delay is 1000 ms; no neighbouring option defaults to it
        // (deprecated_eager_commit_delay 1, use_numa_nodes 0, os_tag 100, ...).
        // SAFETY: reads a process-wide option of the allocator.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(default, 1000);
        keep_freed_memory();
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, -1);
    }
}
