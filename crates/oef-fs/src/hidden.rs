//! A new directory built aside and renamed into place whole.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use crate::ops::{directory_of, process_alive, rename_noreplace, sync_filesystem_of};

/// A directory that does not exist yet, built in a hidden sibling and then renamed to its name,
/// so that it appears complete or not at all: files are written under their final names into
/// [`HiddenDir::path`], no file needs a temporary file and a rename of its own, and
/// [`HiddenDir::place`] puts the whole tree in place with one rename (never over a directory
/// that appeared meanwhile).
///
/// The sibling is `.<name>.<tag>-<pid>.tmp` beside the directory, `tag` naming the tool
/// (`oef-export`, `oef-migrate`). [`HiddenDir::begin`] first removes the siblings of the same
/// directory and tag left by processes that no longer run (a killed run's). Dropping a
/// `HiddenDir` that was not placed removes its sibling and what it holds.
///
/// One `HiddenDir` per directory and tag in a process at a time: a sibling with this process's
/// id is taken for the leftover of an ended process that had the same id, so a second `begin`
/// for the same directory would remove the first one's tree.
#[derive(Debug)]
pub struct HiddenDir {
    /// The directory asked for.
    dir: PathBuf,
    /// The hidden sibling written into.
    path: PathBuf,
    /// Renamed into place: nothing is left to remove on drop.
    placed: bool,
}

/// What [`HiddenDir::place`] did.
#[derive(Debug)]
pub enum Placed {
    /// The tree was renamed to its directory, and that rename flushed.
    Whole,
    /// The tree could not be renamed (its directory appeared meanwhile, or the file system
    /// cannot rename without replacing): the caller moves the files it wrote into the directory
    /// one by one; dropping the `HiddenDir` then removes what is left of it.
    NotRenamed(HiddenDir),
}

/// The process id in a name `<prefix><pid>.tmp` or `<prefix><pid>-<n>.tmp` (`n` decimal): the
/// names this crate's users give their hidden siblings and temporary files. `None` for any
/// other name.
pub fn hidden_pid(name: &str, prefix: &str) -> Option<u32> {
    let middle = name.strip_prefix(prefix)?.strip_suffix(".tmp")?;
    let (pid, counter) = middle.split_once('-').unwrap_or((middle, "0"));
    let decimal = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !decimal(pid) || !decimal(counter) {
        return None;
    }
    pid.parse().ok()
}

impl HiddenDir {
    /// Starts building `dir` aside when it does not exist (its parents are created). `None`
    /// when `dir` exists, has no plain file name, or the sibling cannot be made: the caller
    /// then writes into `dir` itself (and creating it there says why, if it cannot).
    pub fn begin(dir: &Path, tag: &str) -> Option<Self> {
        match fs::symlink_metadata(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            _ => return None,
        }
        let name = dir.file_name()?.to_str()?;
        let parent = directory_of(dir);
        fs::create_dir_all(parent).ok()?;
        let prefix = format!(".{name}.{tag}-");
        let own = std::process::id();
        for entry in fs::read_dir(parent).ok()?.flatten() {
            let entry_name = entry.file_name();
            let Some(pid) = entry_name.to_str().and_then(|n| hidden_pid(n, &prefix)) else { continue };
            // An ended run's, or one of an ended process that had this process's id.
            if pid == own || !process_alive(pid) {
                let _ = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    fs::remove_dir_all(entry.path())
                } else {
                    fs::remove_file(entry.path())
                };
            }
        }
        let path = parent.join(format!("{prefix}{own}.tmp"));
        fs::create_dir(&path).ok()?;
        Some(Self { dir: dir.to_path_buf(), path, placed: false })
    }

    /// The hidden sibling: write here, under the final names.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory being built.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `inside` (a path under [`HiddenDir::path`]) will be once placed: the path messages
    /// should name. Other paths are returned as they are.
    pub fn final_path(&self, inside: &Path) -> PathBuf {
        match inside.strip_prefix(&self.path) {
            Ok(relative) if relative.as_os_str().is_empty() => self.dir.clone(),
            Ok(relative) => self.dir.join(relative),
            Err(_) => inside.to_path_buf(),
        }
    }

    /// Whether nothing was written into the tree yet.
    pub fn is_empty(&self) -> bool {
        fs::read_dir(&self.path).map(|mut entries| entries.next().is_none()).unwrap_or(false)
    }

    /// Flushes what was written into the tree (Linux: `syncfs` of its file system; elsewhere
    /// the caller `fsync`s each file it writes and this flushes the tree's top directory).
    pub fn flush(&self) -> io::Result<()> {
        sync_filesystem_of(&self.path)
    }

    /// Renames the tree to its directory unless a directory of that name exists, then flushes
    /// the parent directory (the rename itself). Call [`HiddenDir::flush`] first: the rename
    /// must not reach the disk before the files. An error is the parent's flush failing after
    /// the rename was made.
    pub fn place(mut self) -> io::Result<Placed> {
        if rename_noreplace(&self.path, &self.dir).is_err() {
            return Ok(Placed::NotRenamed(self));
        }
        self.placed = true;
        fs::File::open(directory_of(&self.dir))?.sync_all()?;
        Ok(Placed::Whole)
    }
}

impl Drop for HiddenDir {
    /// Removes the sibling of a tree that was not placed.
    fn drop(&mut self) {
        if !self.placed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn pids_are_read_from_our_names_only() {
        let prefix = ".out.oef-export-";
        assert_eq!(hidden_pid(".out.oef-export-123.tmp", prefix), Some(123));
        assert_eq!(hidden_pid(".out.oef-export-123-0.tmp", prefix), Some(123));
        assert_eq!(hidden_pid(".out.oef-export-123-77.tmp", prefix), Some(123));
        for other in [
            ".out.oef-export-notes.tmp",
            ".out.oef-export-123",
            ".out.oef-export-.tmp",
            ".out.oef-export-123-.tmp",
            ".out.oef-export-12x.tmp",
            ".out.oef-export-123-4-5.tmp",
            ".other.oef-export-123.tmp",
            "out.oef-export-123.tmp",
        ] {
            assert_eq!(hidden_pid(other, prefix), None, "{other}");
        }
    }

    #[test]
    fn the_tree_appears_whole_at_the_place_only() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("deep/out");
        let hidden = HiddenDir::begin(&dir, "oef-test").unwrap();
        assert!(hidden.is_empty());
        fs::write(hidden.path().join("a.pb"), b"a").unwrap();
        assert!(!hidden.is_empty());
        assert!(!dir.exists());
        assert_eq!(hidden.final_path(&hidden.path().join("a.pb")), dir.join("a.pb"));
        assert_eq!(hidden.final_path(hidden.path()), dir);
        hidden.flush().unwrap();
        assert!(matches!(hidden.place().unwrap(), Placed::Whole));
        assert_eq!(names(&parent.path().join("deep")), ["out"]);
        assert_eq!(fs::read(dir.join("a.pb")).unwrap(), b"a");
    }

    #[test]
    fn an_existing_dir_is_never_replaced() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("out");
        fs::create_dir(&dir).unwrap();
        assert!(HiddenDir::begin(&dir, "oef-test").is_none(), "an existing dir is written in place");
        fs::remove_dir(&dir).unwrap();
        let hidden = HiddenDir::begin(&dir, "oef-test").unwrap();
        fs::write(hidden.path().join("a.pb"), b"new").unwrap();
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("b.pb"), b"theirs").unwrap();
        let Placed::NotRenamed(hidden) = hidden.place().unwrap() else { panic!("renamed over an existing dir") };
        fs::rename(hidden.path().join("a.pb"), dir.join("a.pb")).unwrap();
        drop(hidden);
        assert_eq!(names(parent.path()), ["out"], "the sibling is removed");
        assert_eq!(names(&dir), ["a.pb", "b.pb"]);
    }

    #[test]
    fn dropping_removes_the_sibling_and_begin_removes_ended_runs_only() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("out");
        let sibling = |middle: &str| parent.path().join(format!(".out.oef-test-{middle}.tmp"));
        // Above the kernel's largest process id (2^22): never a live process.
        let (dead, dead_file, stranger) = (sibling("4194305"), sibling("4194306-3"), sibling("notes"));
        let other_tag = parent.path().join(".out.oef-other-4194305.tmp");
        for left in [&dead, &stranger, &other_tag] {
            fs::create_dir_all(left).unwrap();
            fs::write(left.join("x.pb"), b"left").unwrap();
        }
        fs::write(&dead_file, b"left").unwrap();
        let hidden = HiddenDir::begin(&dir, "oef-test").unwrap();
        let own = format!(".out.oef-test-{}.tmp", std::process::id());
        let mut expected = vec![own.clone(), ".out.oef-other-4194305.tmp".to_owned(), ".out.oef-test-notes.tmp".to_owned()];
        expected.sort();
        if cfg!(target_os = "linux") {
            assert_eq!(names(parent.path()), expected);
        }
        fs::write(hidden.path().join("a.pb"), b"a").unwrap();
        drop(hidden);
        expected.retain(|n| *n != own);
        assert!(!dir.exists());
        if cfg!(target_os = "linux") {
            assert_eq!(names(parent.path()), expected);
        }
    }
}
