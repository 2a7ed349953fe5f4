//! Reading inputs, choosing output encodings and writing outputs atomically.

use std::{
    io::{IsTerminal, Read, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use oef_proto::codec::Encoding;

use crate::Usage;

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Protobuf binary wire format (.pb).
    Binary,
    /// Canonical proto3 JSON mapping (.json).
    Json,
    /// Protobuf text format (.pbtxt).
    Text,
}

impl From<Format> for Encoding {
    fn from(format: Format) -> Self {
        match format {
            Format::Binary => Encoding::Binary,
            Format::Json => Encoding::Json,
            Format::Text => Encoding::Text,
        }
    }
}

/// The output encoding: `--format` when given, else from the output file's extension, else
/// JSON. Binary is never written to a terminal.
pub fn output_encoding(format: Option<Format>, output: Option<&Path>) -> Result<Encoding> {
    let encoding = match (format, output) {
        (Some(format), _) => format.into(),
        (None, Some(path)) => Encoding::from_path(path).unwrap_or(Encoding::Json),
        (None, None) => Encoding::Json,
    };
    if encoding == Encoding::Binary && output.is_none() && std::io::stdout().is_terminal() {
        return Err(Usage(
            "refusing to write binary protobuf to a terminal; use -o FILE or redirect stdout".into(),
        )
        .into());
    }
    Ok(encoding)
}

/// Reads a file, or standard input for `-`.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("reading standard input")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// Writes `bytes` to `output` atomically (temporary file in the same directory, fsync,
/// rename), or to standard output when `output` is `None` or `-`.
pub fn write_output(output: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match output {
        None => write_stdout(bytes),
        Some(path) if path == Path::new("-") => write_stdout(bytes),
        Some(path) => write_atomic(path, bytes),
    }
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
    match written {
        // The reader went away (`oef models | head`): what it wanted was written.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other.context("writing standard output"),
    }
}

/// Prints a line to standard output (a closed pipe ends the program quietly).
pub fn print_line(line: &str) -> Result<()> {
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    write_stdout(text.as_bytes())
}

/// Writes a whole file or nothing: a reader sees the old content or the new, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("{}: cannot create a temporary file", dir.display()))?;
    file.write_all(bytes).with_context(|| format!("{}: cannot write", path.display()))?;
    file.as_file().sync_all().with_context(|| format!("{}: cannot sync", path.display()))?;
    file.persist(path).with_context(|| format!("{}: cannot rename into place", path.display()))?;
    Ok(())
}

/// Splits `NAME=VALUE` at the first `=`; NAME is kept exactly (no trimming).
pub fn split_assignment(arg: &str, what: &str) -> Result<(String, Option<String>)> {
    match arg.split_once('=') {
        Some(("", _)) => Err(Usage(format!("{what} {arg:?}: empty name")).into()),
        Some((name, value)) => Ok((name.to_owned(), Some(value.to_owned()))),
        None => Ok((arg.to_owned(), None)),
    }
}

/// A `--hp PATH[=DISTRIBUTION_JSON]` argument: the path, and the distribution if given (it
/// must be JSON; a usage error otherwise).
pub fn parse_hp(arg: &str) -> Result<(String, Option<serde_json::Value>)> {
    let (path, distribution) = split_assignment(arg, "--hp")?;
    let distribution = match distribution {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| Usage(format!("--hp {path}: the distribution is not JSON: {e}")))?,
        ),
        None => None,
    };
    Ok((path, distribution))
}

/// A `--set` value: JSON when it parses as JSON, else the string as given.
pub fn parse_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

/// Writes many files into one directory, each whole or not at all, with one flush for all of
/// them (Linux: one `syncfs`; elsewhere one `fsync` per file).
///
/// - Into a directory that does not exist yet, the files are written under their final names
///   into a hidden sibling, `.DIR.oef-export-<pid>.tmp`, which [`BatchWriter::commit`] flushes
///   and renames to DIR (without replacing anything): DIR appears complete, or not at all, and
///   no file needs a rename of its own. Should DIR appear meanwhile, each file is renamed into
///   it instead. A sibling left by a killed run is removed by the next run into the same DIR.
/// - Into an existing directory, each file goes to a temporary file first; the commit flushes
///   them and renames each over its destination. Until then no destination file is touched.
///
/// Either way the commit ends by flushing the directory that received the renames. Dropping an
/// uncommitted batch removes what it wrote.
pub struct BatchWriter {
    dir: PathBuf,
    target: Target,
    /// Set once the files are in place: nothing is left to remove on drop.
    committed: bool,
}

/// Where a [`BatchWriter`] writes before its commit.
enum Target {
    /// DIR is new: the hidden sibling holding the files, and their names.
    Aside { temp: PathBuf, names: Vec<String> },
    /// DIR exists: the temporary files, each with its destination.
    Existing { pending: Vec<(tempfile::NamedTempFile, PathBuf)> },
}

/// The name of the hidden sibling in which a run builds a new `dir` named `name`, and the prefix
/// shared by every run's.
fn aside_names(name: &str, pid: u32) -> (String, String) {
    let prefix = format!(".{name}.oef-export-");
    let own = format!("{prefix}{pid}.tmp");
    (prefix, own)
}

impl BatchWriter {
    /// A batch of files to be written into `dir`: a hidden sibling is made when `dir` does not
    /// exist (its parents are created), else `dir` is created if needed and written in place.
    pub fn new(dir: &Path) -> Result<Self> {
        if let Some(temp) = Self::begin_aside(dir) {
            let target = Target::Aside { temp, names: Vec::new() };
            return Ok(Self { dir: dir.to_path_buf(), target, committed: false });
        }
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create directory", dir.display()))?;
        Ok(Self { dir: dir.to_path_buf(), target: Target::Existing { pending: Vec::new() }, committed: false })
    }

    /// Makes the hidden sibling of a `dir` that does not exist, after removing the siblings of
    /// runs that no longer run. `None` (write into `dir` itself) when `dir` exists or has no
    /// plain name, or when the sibling cannot be made (creating `dir` then reports why).
    fn begin_aside(dir: &Path) -> Option<PathBuf> {
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            _ => return None,
        }
        let name = dir.file_name()?.to_str()?;
        let parent = directory_of(dir);
        std::fs::create_dir_all(parent).ok()?;
        let (prefix, own) = aside_names(name, std::process::id());
        for entry in std::fs::read_dir(parent).ok()?.flatten() {
            let entry_name = entry.file_name();
            let Some(pid) = entry_name.to_str().and_then(|n| n.strip_prefix(&prefix)?.strip_suffix(".tmp")) else {
                continue;
            };
            let ended = pid.parse::<u32>().is_ok_and(|pid| pid == std::process::id() || !process_alive(pid));
            if ended {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let temp = parent.join(own);
        std::fs::create_dir(&temp).ok()?;
        Some(temp)
    }

    /// Writes `bytes` as the batch's file `name`; it is in place once the batch is committed.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(name);
        let written = match &mut self.target {
            Target::Aside { temp, names } => {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(temp.join(name))
                    .with_context(|| format!("{}: cannot create", path.display()))?;
                names.push(name.to_owned());
                file.write_all(bytes).and_then(|()| sync_one(&file))
            }
            Target::Existing { pending } => {
                let mut file = tempfile::NamedTempFile::new_in(&self.dir)
                    .with_context(|| format!("{}: cannot create a temporary file", self.dir.display()))?;
                let written = file.write_all(bytes).and_then(|()| sync_one(file.as_file()));
                pending.push((file, path.clone()));
                written
            }
        };
        written.with_context(|| format!("{}: cannot write", path.display()))
    }

    /// Flushes the files, puts them in place (see the type's docs) and flushes the directory
    /// that received them. Returns how many files were written.
    pub fn commit(mut self) -> Result<usize> {
        let count = match &mut self.target {
            Target::Aside { temp, names } => {
                commit_aside(temp, &self.dir, names)?;
                names.len()
            }
            Target::Existing { pending } => {
                let dir = std::fs::File::open(&self.dir).with_context(|| format!("{}: cannot open", self.dir.display()))?;
                sync_filesystem(&dir).with_context(|| format!("{}: cannot flush", self.dir.display()))?;
                let count = pending.len();
                for (file, path) in pending.drain(..) {
                    file.persist(&path).with_context(|| format!("{}: cannot rename into place", path.display()))?;
                }
                dir.sync_all().with_context(|| format!("{}: cannot flush", self.dir.display()))?;
                count
            }
        };
        self.committed = true;
        Ok(count)
    }
}

/// Flushes one file where the file system is not flushed whole at the commit (not Linux).
fn sync_one(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(not(target_os = "linux"))]
    file.sync_all()?;
    #[cfg(target_os = "linux")]
    let _ = file;
    Ok(())
}

/// Flushes the hidden sibling `staged` and renames it to `dir`; when `dir` appeared meanwhile,
/// renames each of its files (`names`) into `dir` instead.
fn commit_aside(staged: &Path, dir: &Path, names: &[String]) -> Result<()> {
    let open = |path: &Path| std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()));
    let tree = open(staged)?;
    sync_filesystem(&tree)
        .and_then(|()| tree.sync_all())
        .with_context(|| format!("{}: cannot flush", dir.display()))?;
    let target = if rename_noreplace(staged, dir).is_ok() {
        directory_of(dir)
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create directory", dir.display()))?;
        for name in names {
            let path = dir.join(name);
            std::fs::rename(staged.join(name), &path)
                .with_context(|| format!("{}: cannot rename into place", path.display()))?;
        }
        let _ = std::fs::remove_dir(staged);
        dir
    };
    open(target)?.sync_all().with_context(|| format!("{}: cannot flush", target.display()))
}

impl Drop for BatchWriter {
    /// An uncommitted batch removes its hidden sibling (its temporary files remove themselves).
    fn drop(&mut self) {
        if let (Target::Aside { temp, .. }, false) = (&self.target, self.committed) {
            let _ = std::fs::remove_dir_all(temp);
        }
    }
}

/// The directory holding `path` (`.` for a bare name).
fn directory_of(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Whether a process with this id runs (never `false` where that cannot be told: nothing of
/// another live run is removed).
fn process_alive(pid: u32) -> bool {
    !cfg!(target_os = "linux") || Path::new(&format!("/proc/{pid}")).exists()
}

/// Flushes the file system holding `file` (Linux `syncfs`); elsewhere each file was synced
/// when written.
fn sync_filesystem(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::fs::syncfs(file)?;
    #[cfg(not(target_os = "linux"))]
    let _ = file;
    Ok(())
}

/// Renames `from` to `to` unless `to` exists (Linux: atomically, `RENAME_NOREPLACE`).
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        Ok(renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE)?)
    }
    #[cfg(not(target_os = "linux"))]
    {
        if std::fs::symlink_metadata(to).is_ok() {
            return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
        }
        std::fs::rename(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_new_dir_appears_at_the_commit_only() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("out");
        let mut batch = BatchWriter::new(&dir).unwrap();
        batch.write("a.pb", b"a").unwrap();
        batch.write("b.pb", b"b").unwrap();
        assert!(!dir.exists());
        assert_eq!(names(parent.path()), [format!(".out.oef-export-{}.tmp", std::process::id())]);
        assert_eq!(batch.commit().unwrap(), 2);
        assert_eq!(names(parent.path()), ["out"]);
        assert_eq!(names(&dir), ["a.pb", "b.pb"]);
        assert_eq!(std::fs::read(dir.join("b.pb")).unwrap(), b"b");
    }

    #[test]
    fn a_dir_that_appears_meanwhile_receives_the_files_one_by_one() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("out");
        let mut batch = BatchWriter::new(&dir).unwrap();
        batch.write("a.pb", b"new").unwrap();
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a.pb"), b"old").unwrap();
        std::fs::write(dir.join("other"), b"kept").unwrap();
        assert_eq!(batch.commit().unwrap(), 1);
        assert_eq!(names(parent.path()), ["out"], "the hidden sibling is gone");
        assert_eq!(names(&dir), ["a.pb", "other"]);
        assert_eq!(std::fs::read(dir.join("a.pb")).unwrap(), b"new");
    }

    #[test]
    fn an_uncommitted_batch_leaves_nothing() {
        let parent = tempfile::tempdir().unwrap();
        let existing = parent.path().join("existing");
        std::fs::create_dir(&existing).unwrap();
        let new = parent.path().join("new");
        let mut batch = BatchWriter::new(&new).unwrap();
        batch.write("a.pb", b"a").unwrap();
        // An error names the file's final path, not its place in the hidden sibling.
        let error = batch.write("a/b.pb", b"b").unwrap_err();
        assert_eq!(format!("{error}"), format!("{}: cannot create", new.join("a/b.pb").display()));
        drop(batch);
        let mut batch = BatchWriter::new(&existing).unwrap();
        batch.write("a.pb", b"a").unwrap();
        assert_eq!(names(&existing).len(), 1, "a temporary file");
        drop(batch);
        assert_eq!(names(parent.path()), ["existing"]);
        assert!(names(&existing).is_empty());
    }
}
