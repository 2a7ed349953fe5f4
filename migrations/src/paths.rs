//! Dotted field paths: the shared helpers of [`oef_proto::path`], and how a path is shown to
//! people.

pub(crate) use oef_proto::path::{index, join, key, push, push_index, push_key};

/// `path`, or `(root)` for the empty path, for messages meant for people.
pub(crate) fn display(path: &str) -> &str {
    if path.is_empty() { "(root)" } else { path }
}
