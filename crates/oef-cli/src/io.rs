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

/// Writes many files into one directory, each atomically, with one flush for all of them:
/// every file goes to a temporary file first; [`BatchWriter::commit`] flushes them to disk
/// (Linux: one `syncfs`; elsewhere one `fsync` each), renames them into place and flushes the
/// directory. Until the commit, no destination file is touched; after it, every file is
/// complete. Dropping an uncommitted batch removes its temporary files.
pub struct BatchWriter {
    dir: PathBuf,
    pending: Vec<Staged>,
}

/// A file written to a temporary name in a [`BatchWriter`]'s directory, not yet in place.
pub struct Staged {
    file: tempfile::NamedTempFile,
    path: PathBuf,
}

impl BatchWriter {
    /// A batch of files written into `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), pending: Vec::new() }
    }

    /// Writes `bytes` to a temporary file that becomes `dir/name` once [pushed](Self::push)
    /// and committed.
    pub fn stage(&self, name: &str, bytes: &[u8]) -> Result<Staged> {
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)
            .with_context(|| format!("{}: cannot create a temporary file", self.dir.display()))?;
        let path = self.dir.join(name);
        file.write_all(bytes).with_context(|| format!("{}: cannot write", path.display()))?;
        #[cfg(not(target_os = "linux"))]
        file.as_file().sync_all().with_context(|| format!("{}: cannot sync", path.display()))?;
        Ok(Staged { file, path })
    }

    /// Adds a file staged with [`BatchWriter::stage`] to the batch.
    pub fn push(&mut self, staged: Staged) {
        self.pending.push(staged);
    }

    /// Flushes, renames every file into place and flushes the directory.
    pub fn commit(self) -> Result<usize> {
        let dir = std::fs::File::open(&self.dir).with_context(|| format!("{}: cannot open", self.dir.display()))?;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd as _;
            // SAFETY: `dir` is an open descriptor for the duration of the call.
            if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("{}: cannot flush", self.dir.display()));
            }
        }
        let count = self.pending.len();
        for Staged { file, path } in self.pending {
            file.persist(&path).with_context(|| format!("{}: cannot rename into place", path.display()))?;
        }
        dir.sync_all().with_context(|| format!("{}: cannot flush", self.dir.display()))?;
        Ok(count)
    }
}
