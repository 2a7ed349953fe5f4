//! The file-system floor under `oef-migrate --out-dir`: the same tree copied with the system
//! calls `oef-migrate` makes per file and nothing else (no decoding, no migration, the bytes
//! written as read), on the same number of threads.
//!
//! ```text
//! cargo bench -p oef-migrations --bench io_floor -- SRC OUT [JOBS]
//! ```
//!
//! Two passes, each into a fresh directory under OUT (which must not exist; each pass's copy is
//! removed after it), each followed by one `syncfs` as `oef-migrate` does:
//!
//! * `plain`: open, fstat, read, close the source; create, write, close the destination: what
//!   `oef-migrate` does per file for an `--out-dir` that does not exist yet (it builds the tree
//!   aside and renames it into place at the end);
//! * `crash-safe`: the same, but the destination is written as a temporary file in its
//!   directory and renamed over, in batches as `oef-migrate` does into an existing directory
//!   (or in place): each thread writes up to [`oef_migrations::run::BATCH`] temporary files,
//!   flushes them (`syncfs`), then renames them.
//!
//! No program that reads and writes every file this way can beat these figures on this
//! machine; `scripts/bench-migrate.sh` prints them beside `oef-migrate`'s and `cp -r`'s.
//! Without `--bench` (as `cargo test --all-targets` runs benches) it does nothing.

use std::{
    fs,
    io::{Read as _, Write as _},
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use oef_migrations::run::BATCH;

/// Files a thread takes at a time: consecutive files share a directory, as in `oef-migrate`.
const RUN: usize = 256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let [src, out, rest @ ..] = args.as_slice() else {
        return Err("usage: io_floor SRC OUT [JOBS]".into());
    };
    let jobs = match rest.first() {
        Some(jobs) => jobs.parse()?,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let (src, out) = (PathBuf::from(src), PathBuf::from(out));
    let mut files = Vec::new();
    walk(&src, &src, &mut files)?;
    fs::create_dir(&out)?;
    for (name, crash_safe) in [("plain", false), ("crash-safe", true)] {
        let dest = out.join(name);
        let start = Instant::now();
        copy_tree(&src, &dest, &files, jobs, crash_safe)?;
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "io floor, {name:<10} {jobs} threads: {seconds:7.2} s  {:9.0} files/s",
            files.len() as f64 / seconds
        );
        // Each pass starts with only the source tree there (more live files slow creation).
        fs::remove_dir_all(&dest)?;
    }
    Ok(())
}

/// The files under `dir`, relative to `root`, in sorted order.
fn walk(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(root, &path, files)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            files.push(relative.to_path_buf());
        }
    }
    Ok(())
}

fn copy_tree(src: &Path, dest: &Path, files: &[PathBuf], jobs: usize, crash_safe: bool) -> std::io::Result<()> {
    let mut dirs: Vec<PathBuf> = files.iter().filter_map(|f| f.parent().map(|p| dest.join(p))).collect();
    dirs.dedup();
    for dir in &dirs {
        fs::create_dir_all(dir)?;
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| -> std::io::Result<()> {
                    let mut buffer = Vec::new();
                    let mut staged = Vec::new();
                    loop {
                        let start = next.fetch_add(RUN, Ordering::Relaxed);
                        let run = files.get(start..files.len().min(start + RUN)).unwrap_or_default();
                        if run.is_empty() {
                            return rename_all(dest, &mut staged);
                        }
                        for relative in run {
                            let to = dest.join(relative);
                            copy_file(&src.join(relative), &to, &mut buffer, crash_safe)?;
                            if crash_safe {
                                staged.push(to);
                                if staged.len() >= BATCH {
                                    rename_all(dest, &mut staged)?;
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })?;
    let dir = fs::File::open(dest)?;
    oef_fs::sync_filesystem(&dir)
}

/// Flushes the staged temporary files, then renames each over its destination.
fn rename_all(dest: &Path, staged: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if staged.is_empty() {
        return Ok(());
    }
    oef_fs::sync_filesystem(&fs::File::open(dest)?)?;
    for to in staged.drain(..) {
        fs::rename(temp_name(&to), &to)?;
    }
    Ok(())
}

fn temp_name(to: &Path) -> PathBuf {
    let name = to.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    to.with_file_name(format!(".{name}.floor.tmp"))
}

/// Copies `from` to `to`, or to `to`'s temporary name when `crash_safe`.
fn copy_file(from: &Path, to: &Path, buffer: &mut Vec<u8>, crash_safe: bool) -> std::io::Result<()> {
    let mut file = fs::File::open(from)?;
    let size = usize::try_from(file.metadata()?.len()).unwrap_or(0);
    buffer.resize(size, 0);
    file.read_exact(buffer)?;
    drop(file);
    let target = if crash_safe { temp_name(to) } else { to.to_path_buf() };
    fs::OpenOptions::new().write(true).create_new(true).open(target)?.write_all(buffer)

}


