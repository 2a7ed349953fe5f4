//! Dotted field paths, as used in errors, `legacy` records and diffs.
//!
//! `trainer.batch_size`, `dataset.operations[0].x`, `hyperparameters["trainer.lr"].uniform.min`;
//! the root message is `""`.

use prost_reflect::MapKey;

/// `prefix.name`, or `name` at the root.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") }
}

/// `path[i]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// `path[key]`, string keys quoted.
pub(crate) fn key(path: &str, key: &MapKey) -> String {
    match key {
        MapKey::String(s) => format!("{path}[{s:?}]"),
        MapKey::Bool(b) => format!("{path}[{b}]"),
        MapKey::I32(v) => format!("{path}[{v}]"),
        MapKey::I64(v) => format!("{path}[{v}]"),
        MapKey::U32(v) => format!("{path}[{v}]"),
        MapKey::U64(v) => format!("{path}[{v}]"),
    }
}

/// `path`, or `(root)` for the empty path, for messages meant for people.
pub(crate) fn display(path: &str) -> &str {
    if path.is_empty() { "(root)" } else { path }
}

/// Appends `.name` (or `name` at the root) to a path buffer; returns the length to truncate
/// back to.
pub(crate) fn push(path: &mut String, name: &str) -> usize {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
    len
}

/// Appends `[i]` to a path buffer; returns the length to truncate back to.
pub(crate) fn push_index(path: &mut String, i: usize) -> usize {
    let len = path.len();
    path.push('[');
    path.push_str(&i.to_string());
    path.push(']');
    len
}

/// Appends `[key]` to a path buffer; returns the length to truncate back to.
pub(crate) fn push_key(path: &mut String, map_key: &MapKey) -> usize {
    let len = path.len();
    let full = key("", map_key);
    path.push_str(&full);
    len
}
