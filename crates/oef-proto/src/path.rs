//! Dotted field paths, as errors, diffs and migration records name fields.
//!
//! `trainer.batch_size`, `dataset.operations[0].x`, `hyperparameters["trainer.lr"].uniform.min`;
//! the root message is `""`. The `push*` functions extend a path buffer in place and return the
//! length to truncate back to, for walks that build a path only where they need one.

use std::fmt::Write as _;

use prost_reflect::MapKey;

/// `prefix.name`, or `name` at the root.
pub fn join(prefix: &str, name: &str) -> String {
    let mut path = prefix.to_owned();
    push(&mut path, name);
    path
}

/// `path[i]`.
pub fn index(path: &str, i: usize) -> String {
    let mut out = path.to_owned();
    push_index(&mut out, i);
    out
}

/// `path[key]`, string keys quoted (`["trainer.lr"]`), others as numbers or booleans.
pub fn key(path: &str, key: &MapKey) -> String {
    let mut out = path.to_owned();
    push_key(&mut out, key);
    out
}

/// Appends `.name` (or `name` at the root) to a path buffer; returns the length to truncate
/// back to.
pub fn push(path: &mut String, name: &str) -> usize {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
    len
}

/// Appends `[i]` to a path buffer; returns the length to truncate back to.
pub fn push_index(path: &mut String, i: usize) -> usize {
    let len = path.len();
    // Writing into a String cannot fail.
    let _ = write!(path, "[{i}]");
    len
}

/// Appends `[key]` to a path buffer (see [`key`]); returns the length to truncate back to.
pub fn push_key(path: &mut String, key: &MapKey) -> usize {
    let len = path.len();
    // Writing into a String cannot fail.
    let _ = match key {
        MapKey::String(s) => write!(path, "[{s:?}]"),
        MapKey::Bool(v) => write!(path, "[{v}]"),
        MapKey::I32(v) => write!(path, "[{v}]"),
        MapKey::I64(v) => write!(path, "[{v}]"),
        MapKey::U32(v) => write!(path, "[{v}]"),
        MapKey::U64(v) => write!(path, "[{v}]"),
    };
    len
}

#[cfg(test)]
mod tests {
    use prost_reflect::MapKey;

    use super::*;

    #[test]
    fn paths_read_as_field_access() {
        assert_eq!(join("", "trainer"), "trainer");
        assert_eq!(join("trainer", "batch_size"), "trainer.batch_size");
        assert_eq!(index("dataset.operations", 0), "dataset.operations[0]");
        assert_eq!(key("hyperparameters", &MapKey::String("trainer.lr".into())), "hyperparameters[\"trainer.lr\"]");
        assert_eq!(key("m", &MapKey::I32(-3)), "m[-3]");
        assert_eq!(key("m", &MapKey::U64(7)), "m[7]");
        assert_eq!(key("m", &MapKey::Bool(true)), "m[true]");
        let mut path = String::from("a");
        let back = push(&mut path, "b");
        push_index(&mut path, 2);
        assert_eq!(path, "a.b[2]");
        path.truncate(back);
        assert_eq!(path, "a");
    }
}
