//! Single file-system operations, each with its portable fallback.

use std::{
    fs::File,
    io,
    path::Path,
};

/// The directory holding `path` (`.` for a bare file name).
pub fn directory_of(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Whether a process with this id runs. Never `false` where that cannot be told (not Linux), so
/// that nothing belonging to another live run is ever removed on its word.
pub fn process_alive(pid: u32) -> bool {
    !cfg!(target_os = "linux") || pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Renames `from` to `to` unless `to` exists: an error of kind
/// [`AlreadyExists`](io::ErrorKind::AlreadyExists) then. Atomic on Linux
/// (`renameat2(RENAME_NOREPLACE)`); elsewhere a check followed by the rename.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        Ok(renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE)?)
    }
    #[cfg(not(target_os = "linux"))]
    {
        if std::fs::symlink_metadata(to).is_ok() {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        std::fs::rename(from, to)
    }
}

/// Flushes the whole file system holding `file` to disk (Linux `syncfs(2)`): every file written
/// there so far is durable afterwards. Elsewhere this flushes `file` only, so writers on other
/// platforms `fsync` each file they write.
pub fn sync_filesystem(file: &File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::fs::syncfs(file)?;
    #[cfg(not(target_os = "linux"))]
    file.sync_all()?;
    Ok(())
}

/// [`sync_filesystem`] of the file system holding `path` (a file or a directory), which is
/// opened for it.
pub fn sync_filesystem_of(path: &Path) -> io::Result<()> {
    sync_filesystem(&File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_of_a_bare_name_is_the_current_directory() {
        assert_eq!(directory_of(Path::new("x.pb")), Path::new("."));
        assert_eq!(directory_of(Path::new("a/b/x.pb")), Path::new("a/b"));
        assert_eq!(directory_of(Path::new("/x")), Path::new("/"));
    }

    #[test]
    fn rename_noreplace_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let error = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&b).unwrap(), b"b");
        std::fs::remove_file(&b).unwrap();
        rename_noreplace(&a, &b).unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"a");
        assert!(!a.exists());
    }

    #[test]
    fn this_process_is_alive_and_an_impossible_pid_is_not() {
        assert!(process_alive(std::process::id()));
        // Above the kernel's largest process id (2^22).
        assert_eq!(process_alive(4_194_305), !cfg!(target_os = "linux"));
    }
}
