//! Field-path differences between two documents, possibly of different versions (`--dry-run`).
//!
//! Both sides are flattened to `dotted.path → value`; the experiment of a v1 envelope is
//! flattened at the root so that its paths compare with those of a v0 `Experiment`, and the
//! envelope's own fields keep their names (`architecture`, `migrations[0].source_sha256`, …).
//! Enum values compare by name without the v1 prefix, case-insensitively, so a value that only
//! changed spelling between versions is not a change.
//!
//! Not `oef_proto::diff::flatten`: that one compares two messages of one schema (enum names as
//! declared, no envelope); this one must line up a v0 `Experiment` with a v1 envelope.

use std::collections::BTreeMap;

use prost_reflect::{DynamicMessage, Kind, Value};
use serde::Serialize;

use crate::{Document, paths};

/// The paths that differ between two documents, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    /// Paths set only in the new document.
    pub added: Vec<String>,
    /// Paths set only in the old document.
    pub removed: Vec<String>,
    /// Paths set in both with different values.
    pub changed: Vec<String>,
}

impl DiffSummary {
    /// `+A -R ~C`.
    pub fn counts(&self) -> String {
        format!("+{} -{} ~{}", self.added.len(), self.removed.len(), self.changed.len())
    }

    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The field-path differences from `before` to `after`.
pub fn diff(before: &Document, after: &Document) -> DiffSummary {
    let (old, new) = (flatten(before), flatten(after));
    let mut summary = DiffSummary::default();
    for (path, value) in &new {
        match old.get(path) {
            None => summary.added.push(path.clone()),
            Some(v) if v != value => summary.changed.push(path.clone()),
            Some(_) => {}
        }
    }
    summary.removed = old.keys().filter(|p| !new.contains_key(*p)).cloned().collect();
    // An empty message on one side that has fields on the other is not a removal (or an
    // addition) of its own: its fields are listed.
    let has_children = |map: &BTreeMap<String, String>, path: &str| {
        let prefix = format!("{path}.");
        map.range(prefix.clone()..).next().is_some_and(|(k, _)| k.starts_with(&prefix))
    };
    summary.removed.retain(|p| !(old[p] == EMPTY && has_children(&new, p)));
    summary.added.retain(|p| !(new[p] == EMPTY && has_children(&old, p)));
    summary
}

const EMPTY: &str = "{}";

/// A document as `path → value`.
pub fn flatten(document: &Document) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if document.version == 0 {
        walk(&document.message, "", &mut out);
    } else {
        for (field, value) in document.message.fields() {
            if field.name() == "experiment" {
                if let Value::Message(experiment) = value {
                    walk(experiment, "", &mut out);
                }
            } else if field.name() == "legacy" {
                // One leaf per kind of legacy record, not one per recorded path.
                if let Value::Message(legacy) = value {
                    for (field, value) in legacy.fields() {
                        let count = value.as_list().map(<[Value]>::len).or(value.as_map().map(|m| m.len()));
                        out.insert(
                            format!("legacy.{}", field.name()),
                            format!("{} entries", count.unwrap_or(1)),
                        );
                    }
                }
            } else {
                field_leaves(&field, value, field.name(), &mut out);
            }
        }
    }
    out
}

fn walk(message: &DynamicMessage, path: &str, out: &mut BTreeMap<String, String>) {
    for (field, value) in message.fields() {
        field_leaves(&field, value, &paths::join(path, field.name()), out);
    }
    for field in message.unknown_fields() {
        out.insert(format!("{}#{}", paths::display(path), field.number()), format!("{field}"));
    }
}

fn field_leaves(
    field: &prost_reflect::FieldDescriptor,
    value: &Value,
    field_path: &str,
    out: &mut BTreeMap<String, String>,
) {
    match value {
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                leaf(item, &field.kind(), &paths::index(field_path, i), out);
            }
        }
        Value::Map(entries) => {
            let kind = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other,
            };
            for (key, item) in entries {
                leaf(item, &kind, &paths::key(field_path, key), out);
            }
        }
        value => leaf(value, &field.kind(), field_path, out),
    }
}

fn leaf(value: &Value, kind: &Kind, path: &str, out: &mut BTreeMap<String, String>) {
    match (value, kind) {
        (Value::Message(sub), _) => {
            let before = out.len();
            walk(sub, path, out);
            if out.len() == before {
                out.insert(path.to_owned(), EMPTY.to_owned());
            }
        }
        (Value::EnumNumber(n), Kind::Enum(e)) => {
            let name = e.get_value(*n).map_or_else(|| n.to_string(), |v| v.name().to_owned());
            let prefix = e
                .get_value(0)
                .and_then(|z| z.name().strip_suffix("UNSPECIFIED").map(str::to_owned))
                .filter(|p| name.starts_with(p.as_str()) && p.ends_with('_'))
                .unwrap_or_default();
            out.insert(path.to_owned(), name[prefix.len()..].to_ascii_lowercase());
        }
        (Value::String(s), _) => {
            out.insert(path.to_owned(), format!("{s:?}"));
        }
        (Value::Bytes(b), _) => {
            out.insert(path.to_owned(), format!("{} bytes {:?}", b.len(), b.as_ref()));
        }
        (Value::F32(v), _) => {
            out.insert(path.to_owned(), format!("{v:?}"));
        }
        (Value::F64(v), _) => {
            out.insert(path.to_owned(), format!("{v:?}"));
        }
        (other, _) => {
            out.insert(path.to_owned(), format!("{other:?}"));
        }
    }
}
