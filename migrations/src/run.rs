//! The file-tree driver behind `oef-migrate`: which files, what happens to each, the report.
//!
//! * [`collect`] expands files and directories (recursively, sorted) into [`Input`]s.
//! * [`run`] processes them on `jobs` threads. Each file is read, detected from content,
//!   decoded through its version's snapshot, migrated by the [`Registry`] and written
//!   crash-safely: to a temporary file in the destination's directory, flushed to disk, then
//!   renamed over the destination with the source's permissions. A file already at the target
//!   version (and encoding) is not touched: same bytes, same mtime.
//! * Every file gets a [`FileReport`]; a failure is reported with its reason and never stops the
//!   other files. The [`Report`] renders as text or JSON and gives the exit code.
//!
//! Durability: on Linux, the temporary files of a batch (up to [`BATCH`] per thread) are
//! flushed by one `syncfs(2)` before any of them is renamed, and a last `syncfs` after the run
//! makes the renames durable; elsewhere each temporary file is `fsync`ed. Either way a file is
//! at every moment the complete old or the complete new version, even on a crash or `SIGKILL`.
//! Temporary files are named `.<name>.oef-migrate-<pid>-<n>.tmp`; those of a process that no
//! longer runs are removed by the next run over the same tree.
//!
//! A new tree: when `--out-dir DIR` does not exist yet, the run builds the whole tree in a
//! hidden sibling, `.<DIR's name>.oef-migrate-<pid>.tmp` ([`HiddenDir`]), writing each file under its final
//! name (no temporary file, no rename per file: a third less kernel time per file on tmpfs),
//! flushes it once, then renames it to `DIR` (never over a `DIR` created meanwhile: then each
//! file is renamed into it instead). `DIR` appears complete or not at all; the hidden tree of a
//! run that was killed is removed by the next run into the same `DIR`.

use std::{
    collections::{HashMap, HashSet},
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
    time::SystemTime,
};

use oef_fs::{HiddenDir, Placed, directory_of, process_alive, sync_filesystem_of};
use oef_proto::codec::Encoding;
use prost_reflect::Value;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    MigrateError, Registry, StepContext, Tool,
    diff::{self, DiffSummary},
    document, snapshot,
};

/// Temporary files staged per thread before one flush and the renames.
pub const BATCH: usize = 512;

/// Files a thread reads before it migrates them, and migrates before it writes them (fewer
/// bytes when they are large: [`GROUP_BYTES`]). System calls and migration each run over a
/// group in turn instead of alternating file by file, so the migration's tables stay in the
/// processor's caches between files: about 8 % more files per second on tmpfs with 2 threads.
const GROUP: usize = 32;

/// A group ends early once its files hold this many bytes.
const GROUP_BYTES: usize = 4 << 20;

/// From this many input files, each of several worker threads decodes its own copy of the
/// schema snapshots ([`snapshot::use_thread_pools`]): a few milliseconds per thread, repaid
/// many times over a large run, not by a handful of files. Only the general route uses them:
/// a thread decodes its copy when its first file takes that route, not before.
const THREAD_POOLS_FROM: usize = 256;

thread_local! {
    /// This worker thread is to decode its own snapshot pools before its first file that takes
    /// the general route.
    static OWN_POOLS_WANTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What to do with the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Rewrite each file in place.
    InPlace,
    /// Write each result under this directory, mirroring the relative paths.
    OutDir(PathBuf),
    /// Write nothing; report what would change.
    DryRun,
    /// Write nothing; report the files not at the target version (and fail if any).
    Check,
}

/// Encoding of the files written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    /// The encoding of each input.
    Keep,
    /// This encoding for every file.
    To(Encoding),
}

impl FormatChoice {
    /// The encoding written for an input in `input` encoding.
    fn resolve(self, input: Encoding) -> Encoding {
        match self {
            FormatChoice::Keep => input,
            FormatChoice::To(e) => e,
        }
    }
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Target format version.
    pub to: u32,
    /// What to do.
    pub mode: Mode,
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Architecture key for every v0 file, instead of inference.
    pub architecture: Option<String>,
    /// Encoding of the output.
    pub format: FormatChoice,
    /// The tool recorded in provenance.
    pub tool: Tool,
    /// The time recorded in provenance (one per run).
    pub time: SystemTime,
}

impl Options {
    /// Where `input`'s result goes: `None` when nothing is written (`--dry-run`, `--check`).
    fn destination(&self, input: &Input) -> Option<PathBuf> {
        match &self.mode {
            Mode::OutDir(dir) => Some(dir.join(&input.relative)),
            Mode::InPlace => Some(input.path.clone()),
            Mode::DryRun | Mode::Check => None,
        }
    }

    /// The file a result for `destination` is written to: in place, a symlink's target (the
    /// link stays a link, as the file it names is what was read and migrated); otherwise
    /// `destination` itself. Asked only of files about to be written.
    fn written_path(&self, destination: PathBuf) -> PathBuf {
        if self.mode != Mode::InPlace {
            return destination;
        }
        match fs::symlink_metadata(&destination) {
            Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(&destination).unwrap_or(destination),
            _ => destination,
        }
    }

    /// The step context of a file with this SHA-256.
    fn context(&self, source_sha256: String) -> StepContext {
        StepContext {
            source_sha256,
            tool: self.tool.clone(),
            time: self.time,
            architecture: self.architecture.clone(),
        }
    }
}

/// One file to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The file.
    pub path: PathBuf,
    /// Its path relative to the PATH argument it was found under (its file name for a file
    /// argument): where it goes under `--out-dir`.
    pub relative: PathBuf,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Written at the target version (or re-encoded).
    Migrated,
    /// Already at the target version and encoding: left untouched.
    Current,
    /// `--dry-run`: would be migrated.
    WouldMigrate,
    /// `--check`: not at the target version or encoding.
    NotCurrent,
    /// Could not be processed; see the reason.
    Failed,
}

/// The report of one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    /// The file, as found.
    pub path: PathBuf,
    /// What happened.
    pub outcome: Outcome,
    /// Detected format version of the input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_version: Option<u32>,
    /// Detected encoding of the input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `--dry-run`: the field paths that would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<DiffSummary>,
}

impl FileReport {
    fn failed(path: &Path, error: impl ToString) -> Self {
        Self {
            path: path.to_owned(),
            outcome: Outcome::Failed,
            from_version: None,
            encoding: None,
            error: Some(error.to_string()),
            diff: None,
        }
    }
}

/// Counts per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Files processed.
    pub total: usize,
    /// Written (or would be, with `--dry-run`; not current, with `--check`).
    pub migrated: usize,
    /// Already at the target.
    pub current: usize,
    /// Failed.
    pub failed: usize,
}

/// The report of a run: one entry per file, sorted by path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Target format version.
    pub target_version: u32,
    /// `in-place`, `out-dir`, `dry-run` or `check`.
    pub mode: &'static str,
    /// Counts.
    pub summary: Summary,
    /// Every file.
    pub files: Vec<FileReport>,
}

impl Report {
    /// A report over `files` (sorted here), e.g. to merge [`collect`]'s failures into [`run`]'s.
    pub fn rebuild(target_version: u32, mode: &Mode, files: Vec<FileReport>) -> Self {
        Self::new(target_version, mode, files)
    }

    fn new(target_version: u32, mode: &Mode, mut files: Vec<FileReport>) -> Self {
        if !files.is_sorted_by(|a, b| a.path <= b.path) {
            files.sort_by(|a, b| a.path.cmp(&b.path));
        }
        let mut summary = Summary { total: files.len(), ..Summary::default() };
        for file in &files {
            match file.outcome {
                Outcome::Migrated | Outcome::WouldMigrate | Outcome::NotCurrent => summary.migrated += 1,
                Outcome::Current => summary.current += 1,
                Outcome::Failed => summary.failed += 1,
            }
        }
        let mode = match mode {
            Mode::InPlace => "in-place",
            Mode::OutDir(_) => "out-dir",
            Mode::DryRun => "dry-run",
            Mode::Check => "check",
        };
        Self { target_version, mode, summary, files }
    }

    /// 1 if any file failed, or (`--check`) is not current; else 0.
    pub fn exit_code(&self) -> i32 {
        let not_current = self.mode == "check" && self.summary.migrated > 0;
        i32::from(self.summary.failed > 0 || not_current)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
    }

    /// The report for people: one line per failed file (and per file that would change with
    /// `--dry-run` / `--check`, with its field-path diff summary), then the summary.
    pub fn render_text(&self) -> String {
        const SHOWN: usize = 8;
        let mut out = String::new();
        for file in &self.files {
            let path = file.path.display();
            let from = file.from_version.map(|v| format!("v{v}")).unwrap_or_default();
            let encoding = file.encoding.as_deref().unwrap_or("");
            match file.outcome {
                Outcome::Failed => {
                    out += &format!("failed         {path}: {}\n", file.error.as_deref().unwrap_or(""));
                }
                Outcome::NotCurrent => {
                    out += &format!("not current    {path} ({from} {encoding})\n");
                }
                Outcome::WouldMigrate => {
                    let counts = file.diff.as_ref().map(DiffSummary::counts).unwrap_or_default();
                    out += &format!(
                        "would migrate  {path} ({from} {encoding} -> v{}) {counts}\n",
                        self.target_version
                    );
                    if let Some(diff) = &file.diff {
                        for (sign, list) in [("+", &diff.added), ("-", &diff.removed), ("~", &diff.changed)] {
                            for p in list.iter().take(SHOWN) {
                                out += &format!("    {sign} {p}\n");
                            }
                            if list.len() > SHOWN {
                                out += &format!("    {sign} … {} more\n", list.len() - SHOWN);
                            }
                        }
                    }
                }
                Outcome::Migrated | Outcome::Current => {}
            }
        }
        let s = &self.summary;
        let verb = match self.mode {
            "dry-run" => "would migrate",
            "check" => "not current",
            _ => "migrated",
        };
        out += &format!(
            "{} files: {} {verb}, {} already current, {} failed (target: format v{})\n",
            s.total, s.migrated, s.current, s.failed, self.target_version
        );
        out
    }
}

/// Whether `name` is one of our temporary files.
fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp") && name.contains(".oef-migrate-")
}

/// The process id in one of our temporary file names (or hidden trees).
fn temp_pid(name: &str) -> Option<u32> {
    oef_fs::hidden_pid(&name[name.rfind(".oef-migrate-")?..], ".oef-migrate-")
}

/// Whether `name` is one of our temporary files (or hidden trees) and its process no longer runs.
fn left_by_ended_run(name: &str) -> bool {
    is_temp_name(name) && temp_pid(name).is_some_and(|pid| !process_alive(pid))
}

/// Removes what an ended run left: a temporary file, or the hidden tree of a new `--out-dir`
/// ([`HiddenDir`]) when `is_dir`.
fn remove_left_over(path: &Path, is_dir: bool) {
    let _ = if is_dir { fs::remove_dir_all(path) } else { fs::remove_file(path) };
}

/// Expands PATH arguments into inputs, recursing into directories (sorted, symlinks to files
/// followed, our temporary files skipped). A PATH that cannot be read is a failed report.
/// Temporary files left by a process that no longer runs are removed when `clean_stale`.
pub fn collect(paths: &[PathBuf], clean_stale: bool) -> (Vec<Input>, Vec<FileReport>) {
    collect_with(paths, &CollectOptions { clean_stale, ..CollectOptions::default() })
}

/// How [`collect_with`] expands PATH arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct CollectOptions<'a> {
    /// Remove temporary files (and hidden trees) left by processes that no longer run.
    pub clean_stale: bool,
    /// A directory not to descend into when it is found below a PATH: the `--out-dir` of a
    /// run, when it lies inside a tree being migrated (its files are the run's output, not its
    /// input, and walking them would nest a copy deeper at every rerun). A PATH that is this
    /// directory itself is still walked: it was asked for.
    pub skip_dir: Option<&'a Path>,
    /// One input per file even when PATH arguments overlap (`exps exps/a.pb`, `exps ./exps`):
    /// for modes where a file's destination does not depend on the PATH it was found under
    /// (in place, check, dry run). Under `--out-dir` each PATH mirrors its own tree.
    pub once_per_file: bool,
}

/// [`collect`] with [`CollectOptions`]. Within one PATH a directory is walked once, so a
/// symlink back to an ancestor is not followed round and round.
pub fn collect_with(paths: &[PathBuf], options: &CollectOptions<'_>) -> (Vec<Input>, Vec<FileReport>) {
    let mut walk = Walk {
        clean_stale: options.clean_stale,
        skip: options.skip_dir.and_then(DirId::of),
        walked: HashSet::new(),
        // One PATH alone cannot give a file twice: each directory is walked once.
        taken: (options.once_per_file && paths.len() > 1).then(HashSet::new),
        inputs: Vec::new(),
        failures: Vec::new(),
    };
    for root in paths {
        match fs::metadata(root) {
            Ok(meta) if meta.is_dir() => {
                walk.walked.clear();
                walk.dir(root, root);
            }
            Ok(_) => {
                let relative = root.file_name().map(PathBuf::from).unwrap_or_else(|| root.clone());
                // Its directory's identity matters only when files are taken once.
                let parent = walk.taken.as_ref().and_then(|_| DirId::of(directory_of(root)));
                walk.take(parent.as_ref(), root.clone(), relative);
            }
            Err(e) => walk.failures.push(FileReport::failed(root, format!("cannot read: {e}"))),
        }
    }
    (walk.inputs, walk.failures)
}

/// What identifies a directory however it is named (a relative or absolute path, `..`, a
/// symlink): its device and inode on Unix, its canonical path elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DirId {
    #[cfg(unix)]
    id: (u64, u64),
    #[cfg(not(unix))]
    id: PathBuf,
}

impl DirId {
    /// The identity of the directory at `path`; `None` when there is none (yet).
    fn of(path: &Path) -> Option<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let meta = fs::metadata(path).ok().filter(fs::Metadata::is_dir)?;
            Some(Self { id: (meta.dev(), meta.ino()) })
        }
        #[cfg(not(unix))]
        {
            Some(Self { id: fs::canonicalize(path).ok()? })
        }
    }
}

/// The state of [`collect_with`].
struct Walk {
    clean_stale: bool,
    skip: Option<DirId>,
    /// The directories walked under the current PATH.
    walked: HashSet<DirId>,
    /// With `once_per_file`: the files taken so far, as (directory, name).
    taken: Option<HashSet<(DirId, std::ffi::OsString)>>,
    inputs: Vec<Input>,
    failures: Vec<FileReport>,
}

impl Walk {
    /// Adds the file `path` (in the directory `dir`) unless it was taken already.
    fn take(&mut self, dir: Option<&DirId>, path: PathBuf, relative: PathBuf) {
        if let (Some(taken), Some(dir), Some(name)) = (&mut self.taken, dir, path.file_name()) {
            if !taken.insert((dir.clone(), name.to_owned())) {
                return;
            }
        }
        self.inputs.push(Input { path, relative });
    }

    /// Walks `dir`, found under the PATH `root` (or `root` itself), unless it is the directory
    /// to skip (below a PATH only) or was walked already under this PATH.
    fn dir(&mut self, root: &Path, dir: &Path) {
        let id = DirId::of(dir);
        if id.is_some() && id == self.skip && dir != root {
            return;
        }
        if let Some(id) = &id {
            if !self.walked.insert(id.clone()) {
                return; // reached again through a symlink
            }
        }
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => return self.failures.push(FileReport::failed(dir, format!("cannot list: {e}"))),
        };
        let mut entries: Vec<(PathBuf, Option<fs::FileType>)> =
            entries.filter_map(|e| e.ok().map(|e| (e.path(), e.file_type().ok()))).collect();
        // Every path is `dir` joined with a name: their bytes sort as their components do, and
        // compare with one `memcmp` instead of component by component.
        entries.sort_unstable_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
        for (path, file_type) in entries {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if is_temp_name(name) {
                if self.clean_stale && left_by_ended_run(name) {
                    remove_left_over(&path, file_type.is_some_and(|t| t.is_dir()));
                }
                continue;
            }
            // The entry's type comes with the listing; only symlinks need a `stat` to follow them.
            let is_dir = match file_type {
                Some(t) if !t.is_symlink() => Ok(t.is_dir()),
                _ => fs::metadata(&path).map(|m| m.is_dir()),
            };
            match is_dir {
                Ok(true) => self.dir(root, &path),
                Ok(false) => {
                    let relative = path.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| path.clone());
                    self.take(id.as_ref(), path, relative);
                }
                Err(e) => self.failures.push(FileReport::failed(&path, format!("cannot read: {e}"))),
            }
        }
    }
}

/// Hands out runs of consecutive inputs to the worker threads, large first and smaller as the
/// end nears (guided scheduling). Consecutive inputs share a directory, so each thread mostly
/// works in a directory of its own: threads interleaving file by file in one directory
/// contend for its lock in the kernel (10 % of the run time on tmpfs with 2 threads).
struct Chunks {
    next: AtomicUsize,
    len: usize,
    /// Each claim takes this fraction of what is left (at least one input).
    divisor: usize,
}

impl Chunks {
    fn new(len: usize, jobs: usize) -> Self {
        Self { next: AtomicUsize::new(0), len, divisor: jobs.max(1) * 4 }
    }

    /// The next run of input indexes, or `None` when all are handed out.
    fn claim(&self) -> Option<std::ops::Range<usize>> {
        let mut start = self.next.load(Ordering::Relaxed);
        loop {
            if start >= self.len {
                return None;
            }
            let end = start + ((self.len - start) / self.divisor).max(1);
            match self.next.compare_exchange_weak(start, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(start..end),
                Err(now) => start = now,
            }
        }
    }
}

/// Processes `inputs` with `registry` on `options.jobs` threads; `progress` is called once
/// per file as it completes (from any thread). Failures are per file and never stop the run.
pub fn run(
    inputs: &[Input],
    options: &Options,
    registry: &Registry,
    progress: &(dyn Fn(&FileReport) + Sync),
) -> Report {
    let jobs = options.jobs.max(1).min(inputs.len().max(1));
    let chunks = Chunks::new(inputs.len(), jobs);
    let dirs = Dirs::default();
    // A new --out-dir is built in a hidden sibling and renamed into place at the end.
    let staging = match &options.mode {
        Mode::OutDir(dir) if !inputs.is_empty() => HiddenDir::begin(dir, HIDDEN_TAG),
        _ => None,
    };
    let staged_options;
    let (options, direct) = match &staging {
        Some(hidden) => {
            staged_options = Options { mode: Mode::OutDir(hidden.path().to_path_buf()), ..options.clone() };
            (&staged_options, Some(hidden))
        }
        None => (options, None),
    };
    let mut reports: Vec<(usize, FileReport)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| {
                    OWN_POOLS_WANTED.set(jobs > 1 && inputs.len() >= THREAD_POOLS_FROM);
                    let mut writer = Writer::new(&dirs, direct);
                    // (input index, report); staged writes refer to their report by position.
                    let mut done: Vec<(usize, FileReport)> = Vec::new();
                    let mut reads = Vec::with_capacity(GROUP);
                    while let Some(run) = chunks.claim() {
                        let mut next = run.start;
                        while next < run.end {
                            // Read a group, migrate it (writes are staged), write it.
                            let (first, mut bytes) = (next, 0);
                            while next < run.end && reads.len() < GROUP && bytes < GROUP_BYTES {
                                let read = read_with_permissions(&inputs[next].path);
                                bytes += read.as_ref().map_or(0, |(b, _)| b.len());
                                reads.push(read);
                                next += 1;
                            }
                            let reported = done.len();
                            for (index, read) in (first..).zip(reads.drain(..)) {
                                let report = process(&inputs[index], read, options, registry, &mut writer, done.len());
                                done.push((index, report));
                            }
                            writer.write_staged(&mut done);
                            for (_, report) in &done[reported..] {
                                progress(report);
                            }
                        }
                    }
                    writer.flush(&mut done);
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(done) => done,
                Err(_) => vec![(usize::MAX, FileReport::failed(Path::new("(worker)"), "a worker thread panicked"))],
            })
            .collect()
    });
    match staging {
        Some(hidden) => place_tree(hidden, inputs, &mut reports),
        None if matches!(options.mode, Mode::InPlace | Mode::OutDir(_)) => final_sync(inputs, options),
        None => {}
    }
    // Input order is path order already for one PATH argument ([`collect`] walks sorted), which
    // spares [`Report::new`] from sorting by path.
    reports.sort_unstable_by_key(|(index, _)| *index);
    let reports = reports.into_iter().map(|(_, report)| report).collect();
    Report::new(options.to, &options.mode, reports)
}

/// The file's bytes and permissions, through one open descriptor: one `fstat`, then reads
/// into a buffer of the size it gave (`read_to_end` would `fstat` and `lseek` again to size its
/// buffer) until that many bytes came, or end of file when the size was 0 or the file shrank.
/// A file still being written may grow after the `fstat`: what it held then is what is read.
fn read_with_permissions(path: &Path) -> std::io::Result<(Vec<u8>, fs::Permissions)> {
    use std::io::Read as _;
    let mut file = fs::File::open(path)?;
    let metadata = file.metadata()?;
    let size = usize::try_from(metadata.len()).unwrap_or(0);
    let mut bytes = vec![0u8; size.max(1)];
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            bytes.resize(filled * 2, 0); // a size of 0 (procfs and the like): read to the end
        }
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if filled == size {
                    break; // all the `fstat` announced: no read just to see the end
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    Ok((bytes, metadata.permissions()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// Processes one file, given what reading it gave; a write staged in `writer` is attached to
/// report number `slot` (a failure to write it turns that report into a failure).
fn process(
    input: &Input,
    read: std::io::Result<(Vec<u8>, fs::Permissions)>,
    options: &Options,
    registry: &Registry,
    writer: &mut Writer<'_>,
    slot: usize,
) -> FileReport {
    let path = &input.path;
    let (bytes, permissions) = match read {
        Ok(read) => read,
        Err(e) => return FileReport::failed(path, format!("cannot read: {e}")),
    };
    let destination = options.destination(input);
    // The SHA-256 is recorded in provenance and identifies `--out-dir` reruns; hashed here once
    // for a file to be written, later (when needed) for the others.
    let mut source_sha256 = None;
    if let Some(dest) = &destination {
        let sha = sha256_hex(&bytes);
        let fast = FastRoute { input, options, registry, bytes: &bytes, permissions: &permissions };
        if let Some(report) = fast.run(dest, &sha, writer, slot) {
            return report;
        }
        source_sha256 = Some(sha);
    }
    if OWN_POOLS_WANTED.replace(false) {
        snapshot::use_thread_pools();
    }
    let (encoding, document) = match document::decode(&bytes) {
        Ok(decoded) => decoded,
        Err(e) => return FileReport::failed(path, e),
    };
    let mut report = FileReport {
        path: path.clone(),
        outcome: Outcome::Current,
        from_version: Some(document.version),
        encoding: Some(encoding.to_string()),
        error: None,
        diff: None,
    };
    let fail = |mut report: FileReport, error: MigrateError| {
        report.outcome = Outcome::Failed;
        report.error = Some(error.to_string());
        report
    };
    let target_encoding = options.format.resolve(encoding);
    let current = document.version == options.to && target_encoding == encoding;
    if options.to > registry.latest() {
        return fail(report, MigrateError::UnsupportedVersion { found: options.to, latest: registry.latest() });
    }
    if options.mode == Mode::Check {
        report.outcome = if current { Outcome::Current } else { Outcome::NotCurrent };
        return report;
    }
    if current {
        if let (Mode::OutDir(_), Some(dest)) = (&options.mode, &destination) {
            if fs::read(dest).ok().as_deref() != Some(bytes.as_slice()) {
                writer.stage(dest, bytes, Some(permissions), slot);
            }
        }
        return report;
    }
    let source_sha256 = source_sha256.unwrap_or_else(|| sha256_hex(&bytes));
    // --out-dir reruns: a destination already migrated from these very bytes is left alone.
    if let (Mode::OutDir(_), Some(dest)) = (&options.mode, &destination) {
        if !writer.in_new_dir(dest) && already_migrated(dest, options.to, target_encoding, &source_sha256) {
            return report;
        }
    }
    let context = options.context(source_sha256);
    let migrated = match registry.migrate(&document, options.to, &context) {
        Ok(migrated) => migrated,
        Err(e) => return fail(report, e),
    };
    let output = match document::encode(&migrated, target_encoding) {
        Ok(output) => output,
        Err(e) => return fail(report, e),
    };
    match (&options.mode, destination) {
        (Mode::DryRun, _) => {
            report.outcome = Outcome::WouldMigrate;
            report.diff = Some(diff::diff(&document, &migrated));
        }
        (_, Some(dest)) => {
            if options.to == 0 && fs::read(&dest).ok().as_deref() == Some(output.as_slice()) {
                return report; // an identical downgrade is already there
            }
            let dest = options.written_path(dest);
            writer.stage(&dest, output, Some(permissions), slot);
            report.outcome = Outcome::Migrated;
        }
        (_, None) => {}
    }
    report
}

/// What the byte-level route ([`Registry::migrate_encoded`]) needs of a file to be written.
struct FastRoute<'a> {
    input: &'a Input,
    options: &'a Options,
    registry: &'a Registry,
    bytes: &'a [u8],
    permissions: &'a fs::Permissions,
}

impl FastRoute<'_> {
    /// The file's report after the byte-level route wrote it to `destination` (or found it
    /// there from an earlier run), or `None` when the route does not apply and the general
    /// route is to run.
    fn run(&self, destination: &Path, source_sha256: &str, writer: &mut Writer<'_>, slot: usize) -> Option<FileReport> {
        let options = self.options;
        // Binary when not JSON: text (and anything else) makes the route decline.
        let encoding = if document::is_json(self.bytes) { Encoding::Json } else { Encoding::Binary };
        let target_encoding = options.format.resolve(encoding);
        let context = options.context(source_sha256.to_owned());
        let (from, output) =
            self.registry.migrate_encoded(self.bytes, encoding, options.to, target_encoding, &context)?;
        let mut report = FileReport {
            path: self.input.path.clone(),
            outcome: Outcome::Migrated,
            from_version: Some(from),
            encoding: Some(encoding.to_string()),
            error: None,
            diff: None,
        };
        // --out-dir reruns: a destination already migrated from these very bytes is left alone.
        if matches!(options.mode, Mode::OutDir(_))
            && !writer.in_new_dir(destination)
            && already_migrated(destination, options.to, target_encoding, source_sha256)
        {
            report.outcome = Outcome::Current;
            return Some(report);
        }
        let destination = options.written_path(destination.to_path_buf());
        writer.stage(&destination, output, Some(self.permissions.clone()), slot);
        Some(report)
    }
}

/// Whether `dest` is already the migration of a source with this SHA-256, at `to` in `encoding`.
fn already_migrated(dest: &Path, to: u32, encoding: Encoding, source_sha256: &str) -> bool {
    let Ok(bytes) = fs::read(dest) else { return false };
    let Ok((found, document)) = document::decode(&bytes) else { return false };
    if found != encoding || document.version != to || to == 0 {
        return false;
    }
    let Some(migrations) = document.message.get_field_by_name("migrations") else { return false };
    let Some(Value::Message(last)) = migrations.as_list().and_then(|l| l.last()) else { return false };
    last.get_field_by_name("source_sha256").is_some_and(|v| v.as_str() == Some(source_sha256))
}

/// The destination directories of a run, shared by its worker threads: whether each exists
/// and whether this run created it (then nothing in it can be an earlier run's output, and no
/// destination there needs to be read first). Shared so that a thread working in a directory
/// another thread created knows it too.
#[derive(Default)]
struct Dirs {
    /// Directory → created by this run.
    known: std::sync::Mutex<HashMap<PathBuf, bool>>,
}

impl Dirs {
    /// Makes sure `dir` exists; `true` when this run created it.
    fn ensure(&self, dir: &Path) -> std::io::Result<bool> {
        let mut known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(&new) = known.get(dir) {
            return Ok(new);
        }
        let existed = dir.is_dir();
        fs::create_dir_all(dir)?;
        known.insert(dir.to_owned(), !existed);
        Ok(!existed)
    }

    /// Whether this run created `dir` (as far as it has seen it).
    fn created(&self, dir: &Path) -> bool {
        let known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        known.get(dir).copied().unwrap_or(false)
    }
}

/// Stages crash-safe writes: temporary file, flush, rename; see the module docs. A writer into
/// a new `--out-dir`'s hidden tree writes each file under its final name instead (`direct`).
struct Writer<'a> {
    /// Writes staged by the files of the group being migrated, not made yet.
    staged: Vec<Staged>,
    pending: Vec<Pending>,
    /// Files go straight to their destination: a hidden tree nobody sees before the run ends.
    direct: Option<&'a HiddenDir>,
    /// The run's destination directories.
    dirs: &'a Dirs,
    /// Those this thread has seen, and whether the run created them (spares the lock).
    seen: HashMap<PathBuf, bool>,
}

/// Numbers the temporary files of this process: one counter for every thread, so that two
/// writes of one destination (a file reached through two PATH arguments) never pick one name.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// This process's id, for temporary file names (asked once).
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// The process's umask, when the platform tells it without changing it (Linux:
/// `/proc/self/status`).
fn umask() -> Option<u32> {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(line.trim(), 8).ok()
    })
}

/// A file to write: its bytes, its mode and the report it belongs to.
struct Staged {
    destination: PathBuf,
    bytes: Vec<u8>,
    permissions: Option<fs::Permissions>,
    slot: usize,
}

struct Pending {
    temp: PathBuf,
    destination: PathBuf,
    slot: usize,
}

impl<'a> Writer<'a> {
    /// A writer staging into the run's `dirs`; `direct` for a new `--out-dir`'s hidden tree.
    fn new(dirs: &'a Dirs, direct: Option<&'a HiddenDir>) -> Self {
        Self { staged: Vec::new(), pending: Vec::new(), direct, dirs, seen: HashMap::new() }
    }

    /// Stages `bytes` for `destination`, written by the next [`write_staged`](Self::write_staged).
    fn stage(&mut self, destination: &Path, bytes: Vec<u8>, permissions: Option<fs::Permissions>, slot: usize) {
        self.staged.push(Staged { destination: destination.to_owned(), bytes, permissions, slot });
    }

    /// Writes the staged files (a failure turns the file's report, in `reports` by slot, into
    /// a failure), then flushes and renames the temporary files when there are enough of them.
    fn write_staged(&mut self, reports: &mut [(usize, FileReport)]) {
        let mut staged = std::mem::take(&mut self.staged);
        for file in staged.drain(..) {
            if let Err(e) = self.write(&file.destination, &file.bytes, file.permissions, file.slot) {
                fail_slot(reports, file.slot, &e);
            }
        }
        self.staged = staged; // its allocation, for the next group
        if self.pending.len() >= BATCH {
            self.flush(reports);
        }
    }

    /// Writes `bytes` to a new temporary file beside `destination` (not yet renamed), or, for a
    /// direct writer, to `destination` itself, which must not exist yet.
    fn write(
        &mut self,
        destination: &Path,
        bytes: &[u8],
        permissions: Option<fs::Permissions>,
        slot: usize,
    ) -> Result<(), MigrateError> {
        let dir = directory_of(destination);
        if !self.seen.contains_key(dir) {
            let new = self.dirs.ensure(dir).map_err(|e| MigrateError::io(format!("creating {}", self.shown(dir).display()), e))?;
            self.seen.insert(dir.to_owned(), new);
        }
        let name = destination.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let temp = if self.direct.is_some() {
            destination.to_owned()
        } else {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
            dir.join(format!(".{name}.oef-migrate-{}-{n}.tmp", pid()))
        };
        let mut created = false;
        let result = (|| {
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            // The mode is given at creation when the umask leaves it whole (no `fchmod`).
            let mut exact = false;
            #[cfg(unix)]
            if let (Some(permissions), Some(umask)) = (&permissions, umask()) {
                use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
                let mode = permissions.mode() & 0o7777;
                if mode & 0o7000 == 0 && mode & umask == 0 {
                    options.mode(mode);
                    exact = true;
                }
            }
            let mut file = options.open(&temp).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists if self.direct.is_some() => std::io::Error::new(
                    e.kind(),
                    "another input of this run has the same destination (PATH arguments with files of the same relative path)",
                ),
                _ => e,
            })?;
            created = true;
            file.write_all(bytes)?;
            if let (Some(permissions), false) = (permissions, exact) {
                file.set_permissions(permissions)?;
            }
            if !cfg!(target_os = "linux") {
                file.sync_all()?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            if created {
                let _ = fs::remove_file(&temp);
            }
            return Err(MigrateError::io(format!("writing {}", self.shown(&temp).display()), e));
        }
        if self.direct.is_none() {
            self.pending.push(Pending { temp, destination: destination.to_owned(), slot });
        }
        Ok(())
    }

    /// `path` as messages name it: in a hidden tree, the path it will have.
    fn shown(&self, path: &Path) -> PathBuf {
        match self.direct {
            Some(hidden) => hidden.final_path(path),
            None => path.to_owned(),
        }
    }

    /// Whether `destination`'s directory was created by this run (so it cannot hold an
    /// earlier run's output).
    fn in_new_dir(&mut self, destination: &Path) -> bool {
        if self.direct.is_some() {
            return true; // the hidden tree was made empty by this run, and all below it
        }
        let Some(dir) = destination.parent() else { return false };
        if let Some(&new) = self.seen.get(dir) {
            return new;
        }
        // Not written to by this thread yet: perhaps by another. Only a positive answer is
        // kept: a directory not seen by any thread may still be created by this run later.
        let new = self.dirs.created(dir);
        if new {
            self.seen.insert(dir.to_owned(), true);
        }
        new
    }

    /// Makes every staged temporary file durable, then renames each over its destination. A
    /// failure turns the file's report (in `reports`, by slot) into a failure.
    fn flush(&mut self, reports: &mut [(usize, FileReport)]) {
        if self.pending.is_empty() {
            return;
        }
        let synced = sync_filesystem_of(&self.pending[0].temp);
        for pending in self.pending.drain(..) {
            let result = synced
                .as_ref()
                .map_err(|e| MigrateError::io(format!("flushing {}", pending.temp.display()), clone_io(e)))
                .and_then(|()| {
                    fs::rename(&pending.temp, &pending.destination).map_err(|e| {
                        MigrateError::io(format!("renaming over {}", pending.destination.display()), e)
                    })
                });
            if let Err(e) = result {
                let _ = fs::remove_file(&pending.temp);
                fail_slot(reports, pending.slot, &e);
            }
        }
    }
}

/// Turns report number `slot` of `reports` into a failure for `error` (a write that failed
/// after the file's report was made).
fn fail_slot(reports: &mut [(usize, FileReport)], slot: usize, error: &MigrateError) {
    if let Some((_, report)) = reports.get_mut(slot) {
        report.outcome = Outcome::Failed;
        report.error = Some(error.to_string());
    }
}

/// The tag of the hidden tree in which a run builds a new `--out-dir`
/// (`.DIR.oef-migrate-<pid>.tmp`, see [`HiddenDir`]).
const HIDDEN_TAG: &str = "oef-migrate";

/// Flushes a new `--out-dir`'s hidden tree and renames it into place; when the directory
/// appeared meanwhile, renames each written file into it instead. A file that cannot be moved
/// fails its report (in `reports`, by input index into `inputs`). Nothing written: no
/// directory appears.
fn place_tree(hidden: HiddenDir, inputs: &[Input], reports: &mut [(usize, FileReport)]) {
    let fail = |report: &mut FileReport, error: MigrateError| {
        report.outcome = Outcome::Failed;
        report.error = Some(error.to_string());
    };
    if let Err(e) = hidden.flush() {
        for (index, report) in reports.iter_mut() {
            if inputs.get(*index).is_some_and(|i| hidden.path().join(&i.relative).exists()) {
                fail(report, MigrateError::io(format!("flushing {}", hidden.dir().display()), clone_io(&e)));
            }
        }
        return; // dropping the tree removes it
    }
    if hidden.is_empty() {
        return;
    }
    // Renamed: the tree is in place whole. A failing flush of its parent directory (the
    // rename's own durability) is not a failure of any file, as before this crate existed.
    let Ok(Placed::NotRenamed(hidden)) = hidden.place() else { return };
    let dirs = Dirs::default();
    for (index, report) in reports.iter_mut() {
        let Some(input) = inputs.get(*index) else { continue };
        let from = hidden.path().join(&input.relative);
        if fs::symlink_metadata(&from).is_err() {
            continue;
        }
        let to = hidden.dir().join(&input.relative);
        let dir = to.parent().unwrap_or(hidden.dir());
        if let Err(e) = dirs.ensure(dir).and_then(|_| fs::rename(&from, &to)) {
            fail(report, MigrateError::io(format!("renaming over {}", to.display()), e));
        }
    }
    let dir = hidden.dir().to_path_buf();
    drop(hidden);
    let _ = sync_filesystem_of(&dir);
}

fn clone_io(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

/// Makes the renames durable: one `syncfs` per destination file system (Linux), or an
/// `fsync` of each destination directory elsewhere.
fn final_sync(inputs: &[Input], options: &Options) {
    let probe = match &options.mode {
        Mode::OutDir(dir) => dir.clone(),
        _ => match inputs.first() {
            Some(input) => input.path.clone(),
            None => return,
        },
    };
    if cfg!(target_os = "linux") {
        let _ = sync_filesystem_of(&probe);
    } else {
        let dirs: HashSet<PathBuf> = inputs
            .iter()
            .filter_map(|i| match &options.mode {
                Mode::OutDir(dir) => dir.join(&i.relative).parent().map(Path::to_path_buf),
                _ => i.path.parent().map(Path::to_path_buf),
            })
            .collect();
        for dir in dirs {
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hand_out_every_input_once_in_shrinking_runs() {
        for (len, jobs) in [(0, 2), (1, 4), (7, 2), (1000, 3), (100_000, 2)] {
            let chunks = Chunks::new(len, jobs);
            let runs: Vec<std::ops::Range<usize>> = std::iter::from_fn(|| chunks.claim()).collect();
            let mut next = 0;
            for run in &runs {
                assert_eq!(run.start, next, "runs are consecutive ({len} inputs, {jobs} jobs)");
                assert!(run.end > run.start, "no empty run");
                next = run.end;
            }
            assert_eq!(next, len, "every input handed out");
            assert!(runs.windows(2).all(|w| w[0].len() >= w[1].len()), "runs shrink: {runs:?}");
            if len >= 1000 {
                assert!(runs[0].len() >= len / (jobs * 4), "the first run is large: {:?}", runs[0]);
            }
        }
    }

    #[test]
    fn concurrent_claims_never_overlap() {
        let chunks = Chunks::new(50_000, 4);
        let mut seen: Vec<usize> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| std::iter::from_fn(|| chunks.claim()).flatten().collect::<Vec<_>>()))
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        seen.sort_unstable();
        assert_eq!(seen, (0..50_000).collect::<Vec<_>>());
    }
}
