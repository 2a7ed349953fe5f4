//! Structural difference of two messages by dotted field path.
//!
//! A message is flattened into its set leaves (`trainer.batch_size = 16`,
//! `trainer.inputs[0].…`, `hyperparameters["trainer.batch_size"].categorical.values[1].…`);
//! present-but-empty messages count as a leaf `{}` so that selecting an empty oneof member
//! (`adam_optimizer {}`) is a difference too. Two flattened messages are then compared path by
//! path. Used by `oef diff`, migration dry runs and architecture inference.

use std::collections::BTreeMap;

use prost_reflect::{DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, Value};

use crate::path as paths;

/// One differing field path, with the value on each side (`None`: unset on that side).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldDifference {
    /// The dotted field path.
    pub path: String,
    /// The value in the first message, in text-format notation.
    pub left: Option<String>,
    /// The value in the second message, in text-format notation.
    pub right: Option<String>,
}

/// The set leaves of `message`, by dotted field path, values in text-format notation.
pub fn flatten(message: &DynamicMessage) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    flatten_into(message, "", &mut out);
    out
}

/// The paths where `left` and `right` differ, sorted by path.
pub fn diff(left: &DynamicMessage, right: &DynamicMessage) -> Vec<FieldDifference> {
    diff_flat(&flatten(left), &flatten(right))
}

/// [`diff`] over already flattened messages (flatten once, compare many times).
pub fn diff_flat(
    left: &BTreeMap<String, String>,
    right: &BTreeMap<String, String>,
) -> Vec<FieldDifference> {
    let mut out = Vec::new();
    let (mut a, mut b) = (left.iter().peekable(), right.iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => Side::Left,
            (None, Some(_)) => Side::Right,
            (Some((ka, _)), Some((kb, _))) => match ka.cmp(kb) {
                std::cmp::Ordering::Less => Side::Left,
                std::cmp::Ordering::Greater => Side::Right,
                std::cmp::Ordering::Equal => Side::Both,
            },
        };
        match next {
            Side::Left => {
                if let Some((k, v)) = a.next() {
                    out.push(FieldDifference { path: k.clone(), left: Some(v.clone()), right: None });
                }
            }
            Side::Right => {
                if let Some((k, v)) = b.next() {
                    out.push(FieldDifference { path: k.clone(), left: None, right: Some(v.clone()) });
                }
            }
            Side::Both => {
                if let (Some((k, va)), Some((_, vb))) = (a.next(), b.next()) {
                    if va != vb {
                        out.push(FieldDifference {
                            path: k.clone(),
                            left: Some(va.clone()),
                            right: Some(vb.clone()),
                        });
                    }
                }
            }
        }
    }
    out
}

/// Number of differing paths, without allocating the differences.
pub fn distance(left: &BTreeMap<String, String>, right: &BTreeMap<String, String>) -> usize {
    let mut count = left.iter().filter(|(k, v)| right.get(*k) != Some(v)).count();
    count += right.keys().filter(|k| !left.contains_key(*k)).count();
    count
}

enum Side {
    Left,
    Right,
    Both,
}

fn flatten_into(message: &DynamicMessage, prefix: &str, out: &mut BTreeMap<String, String>) {
    let mut any = false;
    for (field, value) in message.fields() {
        any = true;
        let path = paths::join(prefix, field.name());
        flatten_value(value, enum_of(&field).as_ref(), &path, out);
    }
    if !any && !prefix.is_empty() {
        out.insert(prefix.to_owned(), "{}".to_owned());
    }
}

/// The enum type of a field's values (of a map's values for map fields), if they are enums.
fn enum_of(field: &FieldDescriptor) -> Option<EnumDescriptor> {
    let kind = match field.kind() {
        Kind::Message(entry) if field.is_map() => entry.map_entry_value_field().kind(),
        kind => kind,
    };
    kind.as_enum().cloned()
}

fn flatten_value(
    value: &Value,
    enum_type: Option<&EnumDescriptor>,
    path: &str,
    out: &mut BTreeMap<String, String>,
) {
    match value {
        Value::Message(sub) => flatten_into(sub, path, out),
        Value::List(items) => {
            if items.is_empty() {
                return;
            }
            for (i, item) in items.iter().enumerate() {
                flatten_value(item, enum_type, &paths::index(path, i), out);
            }
        }
        Value::Map(entries) => {
            for (key, item) in entries {
                flatten_value(item, enum_type, &paths::key(path, key), out);
            }
        }
        Value::EnumNumber(n) => {
            let name = enum_type.and_then(|e| e.get_value(*n)).map(|v| v.name().to_owned());
            out.insert(path.to_owned(), name.unwrap_or_else(|| n.to_string()));
        }
        scalar => {
            out.insert(path.to_owned(), scalar_text(scalar));
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::I32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::F32(x) => x.to_string(),
        Value::F64(x) => x.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Bytes(b) => format!("bytes[{}]", b.len()),
        Value::EnumNumber(n) => n.to_string(),
        Value::Message(_) | Value::List(_) | Value::Map(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor;

    fn experiment(text: &str) -> DynamicMessage {
        DynamicMessage::parse_text_format(descriptor::v0_experiment(), text).unwrap()
    }

    #[test]
    fn reports_changed_added_and_removed_paths() {
        let a = experiment(
            r#"dataset { config_path: "a" } trainer { batch_size: 8 optimizer { adam_optimizer {} } }"#,
        );
        let b = experiment(
            r#"dataset { config_path: "b" } trainer { batch_size: 8 freeze_variables: "x" }"#,
        );
        let d = diff(&a, &b);
        let paths: Vec<_> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["dataset.config_path", "trainer.freeze_variables[0]", "trainer.optimizer.adam_optimizer"]);
        assert_eq!(d[0].left.as_deref(), Some("\"a\""));
        assert_eq!(d[1].left, None);
        assert_eq!(d[2].right, None);
        assert_eq!(distance(&flatten(&a), &flatten(&b)), 3);
        assert!(diff(&a, &a).is_empty());
    }
}
