//! Step v1 → v0: a v1 `ExperimentFile` becomes the bare v0 `Experiment` it holds.
//!
//! Exact for every file that came from v0: the defaults that v0 → v1 made explicit
//! (`legacy.implicit_defaults`) are unset again unless their value was changed since, and the
//! unknown fields kept in `legacy.unknown_fields` go back into their messages, so v0 → v1 → v0
//! gives back a message equal to the input. The envelope's metadata (architecture, writer,
//! provenance) has no place in v0 and is not carried.
//!
//! A value v0 cannot express is an error naming its field: a `_UNSPECIFIED` enum value, a field
//! unknown to the v1 snapshot, a field without v0 counterpart, a v0 required field left unset.

use std::collections::{HashMap, HashSet};

use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};

use crate::{MigrateError, Step, StepContext, enums, paths, snapshot, v0_to_v1::RENAMED_FIELDS};

/// The v1 → v0 step.
#[derive(Debug, Default)]
pub struct V1ToV0;

impl V1ToV0 {
    /// The step.
    pub fn new() -> Self {
        Self
    }
}

struct Legacy {
    unknown_fields: HashMap<String, Vec<u8>>,
    implicit_defaults: HashSet<String>,
    restored: HashSet<String>,
}

fn rename_down(message: &str, field: &str) -> Option<&'static str> {
    // `message` is a v1 message; renames are listed by v0 message, matched here by short name.
    let short = message.rsplit('.').next().unwrap_or(message);
    RENAMED_FIELDS
        .iter()
        .find(|(m, _, to)| m.rsplit('.').next() == Some(short) && *to == field)
        .map(|(_, from, _)| *from)
}

fn unknown_to_v1(message: &DynamicMessage, path: &str) -> Option<MigrateError> {
    message.unknown_fields().next().map(|field| {
        MigrateError::not_expressible(
            path,
            format!(
                "field number {} is unknown to the format v1 schema, so its format v0 meaning is \
                 unknown",
                field.number()
            ),
        )
    })
}

fn convert_message(
    source: &DynamicMessage,
    target: &MessageDescriptor,
    path: &str,
    legacy: &mut Legacy,
) -> Result<DynamicMessage, MigrateError> {
    if let Some(error) = unknown_to_v1(source, path) {
        return Err(error);
    }
    let mut out = DynamicMessage::new(target.clone());
    for (field, value) in source.fields() {
        let field_path = paths::join(path, field.name());
        let v0 = crate::v0_to_v1::counterpart(&field, target, rename_down).ok_or_else(|| {
            MigrateError::not_expressible(&field_path, "this v1 field has no format v0 counterpart")
        })?;
        let value = convert_field(value, &field, &v0, &field_path, legacy)?;
        if !field.is_list()
            && !field.is_map()
            && legacy.implicit_defaults.contains(&field_path)
            && value == v0.default_value()
        {
            continue; // unset in the v0 source, made explicit by v0 → v1, unchanged since
        }
        out.set_field(&v0, value);
    }
    if let Some(bytes) = legacy.unknown_fields.get(path) {
        out.merge(bytes.as_slice()).map_err(|e| {
            MigrateError::not_expressible(path, format!("legacy unknown fields do not decode: {e}"))
        })?;
        legacy.restored.insert(path.to_owned());
    }
    Ok(out)
}

fn convert_field(
    value: &Value,
    field: &FieldDescriptor,
    v0: &FieldDescriptor,
    path: &str,
    legacy: &mut Legacy,
) -> Result<Value, MigrateError> {
    if field.is_map() {
        let (Kind::Message(entry1), Kind::Message(entry0)) = (field.kind(), v0.kind()) else {
            return Err(MigrateError::Schema(format!("{} is not a map in v0", field.full_name())));
        };
        let (kind1, kind0) = (entry1.map_entry_value_field().kind(), entry0.map_entry_value_field().kind());
        let Value::Map(entries) = value else {
            return Err(MigrateError::Schema(format!("{path}: map value expected")));
        };
        let mut out: HashMap<MapKey, Value> = HashMap::with_capacity(entries.len());
        for (key, item) in entries {
            out.insert(key.clone(), convert_single(item, &kind1, &kind0, &paths::key(path, key), legacy)?);
        }
        return Ok(Value::Map(out));
    }
    if field.is_list() {
        let Value::List(items) = value else {
            return Err(MigrateError::Schema(format!("{path}: list value expected")));
        };
        let (kind1, kind0) = (field.kind(), v0.kind());
        let items = items
            .iter()
            .enumerate()
            .map(|(i, item)| convert_single(item, &kind1, &kind0, &paths::index(path, i), legacy))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::List(items));
    }
    convert_single(value, &field.kind(), &v0.kind(), path, legacy)
}

fn convert_single(
    value: &Value,
    kind1: &Kind,
    kind0: &Kind,
    path: &str,
    legacy: &mut Legacy,
) -> Result<Value, MigrateError> {
    Ok(match (value, kind1, kind0) {
        (Value::Message(sub), _, Kind::Message(target)) => {
            Value::Message(convert_message(sub, target, path, legacy)?)
        }
        (Value::EnumNumber(n), Kind::Enum(e1), Kind::Enum(e0)) => {
            Value::EnumNumber(enums::down(e1, e0, *n, path)?)
        }
        (value, _, _) => value.clone(),
    })
}

fn read_legacy(file: &DynamicMessage) -> Result<Legacy, MigrateError> {
    let mut legacy = Legacy { unknown_fields: HashMap::new(), implicit_defaults: HashSet::new(), restored: HashSet::new() };
    let Some(message) = file.get_field_by_name("legacy") else { return Ok(legacy) };
    let Some(message) = message.as_message() else { return Ok(legacy) };
    if let Some(error) = unknown_to_v1(message, "legacy") {
        return Err(error);
    }
    if let Some(Value::Map(entries)) = message.get_field_by_name("unknown_fields").as_deref() {
        for (key, value) in entries {
            if let (MapKey::String(path), Value::Bytes(bytes)) = (key, value) {
                legacy.unknown_fields.insert(path.clone(), bytes.to_vec());
            }
        }
    }
    if let Some(Value::List(items)) = message.get_field_by_name("implicit_defaults").as_deref() {
        legacy.implicit_defaults = items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    }
    Ok(legacy)
}

impl Step for V1ToV0 {
    fn source_version(&self) -> u32 {
        1
    }

    fn target_version(&self) -> u32 {
        0
    }

    fn apply(&self, input: &DynamicMessage, _context: &StepContext) -> Result<DynamicMessage, MigrateError> {
        if let Some(error) = unknown_to_v1(input, "") {
            return Err(error);
        }
        let desc = snapshot::root_message(0)
            .ok_or_else(|| MigrateError::Schema("no v0 snapshot".into()))?;
        let experiment = input
            .get_field_by_name("experiment")
            .filter(|_| input.has_field_by_name("experiment"))
            .and_then(|v| v.as_message().cloned())
            .ok_or_else(|| MigrateError::not_expressible("experiment", "the file holds no experiment"))?;
        let mut legacy = read_legacy(input)?;
        let out = convert_message(&experiment, &desc, "", &mut legacy)?;
        let mut orphans: Vec<&String> =
            legacy.unknown_fields.keys().filter(|path| !legacy.restored.contains(*path)).collect();
        orphans.sort();
        if let Some(path) = orphans.first() {
            return Err(MigrateError::not_expressible(
                &format!("legacy.unknown_fields[{path:?}]"),
                "kept unknown fields whose message is no longer in the experiment",
            ));
        }
        let missing = oef_proto::codec::missing_required(&out);
        if let Some(path) = missing.first() {
            return Err(MigrateError::not_expressible(path, "required in format v0 but unset"));
        }
        Ok(out)
    }
}
