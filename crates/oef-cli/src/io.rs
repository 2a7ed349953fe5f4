//! Reading inputs, choosing output encodings and writing outputs atomically.

use std::{
    io::{IsTerminal, Read, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use oef_fs::{HiddenDir, Placed, directory_of};
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
}

/// Where a [`BatchWriter`] writes before its commit.
enum Target {
    /// DIR is new: the hidden sibling holding the files, and their names.
    Aside { hidden: HiddenDir, names: Vec<String> },
    /// DIR exists: the temporary files, each with its destination.
    Existing { pending: Vec<(tempfile::NamedTempFile, PathBuf)> },
}

/// The tag of the hidden sibling in which a run builds a new DIR (`.DIR.oef-export-<pid>.tmp`).
const HIDDEN_TAG: &str = "oef-export";

impl BatchWriter {
    /// A batch of files to be written into `dir`: a hidden sibling is made when `dir` does not
    /// exist (its parents are created), else `dir` is created if needed and written in place.
    pub fn new(dir: &Path) -> Result<Self> {
        let target = match HiddenDir::begin(dir, HIDDEN_TAG) {
            Some(hidden) => Target::Aside { hidden, names: Vec::new() },
            None => {
                std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create directory", dir.display()))?;
                Target::Existing { pending: Vec::new() }
            }
        };
        Ok(Self { dir: dir.to_path_buf(), target })
    }

    /// Writes `bytes` as the batch's file `name`; it is in place once the batch is committed.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(name);
        let written = match &mut self.target {
            Target::Aside { hidden, names } => {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(hidden.path().join(name))
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
    /// that received them. Returns how many files were written. An uncommitted batch (dropped,
    /// or failed here) leaves nothing of its own behind.
    pub fn commit(self) -> Result<usize> {
        let flush_error = |dir: &Path| format!("{}: cannot flush", dir.display());
        match self.target {
            Target::Aside { hidden, names } => {
                hidden.flush().with_context(|| flush_error(&self.dir))?;
                let Placed::NotRenamed(hidden) = hidden.place().with_context(|| flush_error(directory_of(&self.dir)))?
                else {
                    return Ok(names.len());
                };
                // DIR appeared meanwhile: each file is renamed into it.
                std::fs::create_dir_all(&self.dir)
                    .with_context(|| format!("{}: cannot create directory", self.dir.display()))?;
                for name in &names {
                    let path = self.dir.join(name);
                    std::fs::rename(hidden.path().join(name), &path)
                        .with_context(|| format!("{}: cannot rename into place", path.display()))?;
                }
                drop(hidden);
                sync_directory(&self.dir)?;
                Ok(names.len())
            }
            Target::Existing { mut pending } => {
                oef_fs::sync_filesystem_of(&self.dir).with_context(|| flush_error(&self.dir))?;
                let count = pending.len();
                for (file, path) in pending.drain(..) {
                    file.persist(&path).with_context(|| format!("{}: cannot rename into place", path.display()))?;
                }
                sync_directory(&self.dir)?;
                Ok(count)
            }
        }
    }
}

/// Flushes `dir` itself (the renames into it).
fn sync_directory(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("{}: cannot flush", dir.display()))
}

/// Flushes one file where the file system is not flushed whole at the commit (not Linux).
fn sync_one(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(not(target_os = "linux"))]
    file.sync_all()?;
    #[cfg(target_os = "linux")]
    let _ = file;
    Ok(())
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
