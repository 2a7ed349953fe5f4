//! Crash-safe file-system steps shared by the tools that write many files: `oef export-catalog`
//! (one directory of 404 files) and `oef-migrate --out-dir` (a mirrored tree).
//!
//! * [`HiddenDir`]: a directory that does not exist yet, built in a hidden sibling and renamed
//!   into place whole, so that it appears complete or not at all; what a killed run left is
//!   removed by the next run.
//! * [`sync_filesystem`], [`sync_filesystem_of`]: one flush for every file written on a file
//!   system (Linux `syncfs(2)`), instead of one `fsync` per file.
//! * [`rename_noreplace`]: a rename that never replaces its destination.
//! * [`directory_of`], [`process_alive`]: the small questions these steps ask.

#![warn(missing_docs)]

mod hidden;
mod ops;

pub use hidden::{HiddenDir, Placed, hidden_pid};
pub use ops::{directory_of, process_alive, rename_noreplace, sync_filesystem, sync_filesystem_of};
