//! Step v0 → v1: a bare v0 `Experiment` becomes a v1 `ExperimentFile`.
//!
//! * Every message and field is carried over by field number (v1 keeps every v0 message name,
//!   field name and number); [`RENAMED_FIELDS`] lists the fields v1 renamed (none).
//! * Every proto2 default is made explicit: in each message present in the source, each
//!   singular scalar field outside a oneof that was unset gets its v0 default, and its dotted
//!   path is recorded in `legacy.implicit_defaults`.
//! * Enum values are mapped by name (see the v1 conventions in `oef/v1/experiment.proto`).
//! * Fields unknown to the v0 schema (written by newer tools) are kept as raw bytes in
//!   `legacy.unknown_fields`, keyed by the dotted path of the message that held them.
//! * The envelope records the format version, the architecture key (given, or inferred by
//!   [`ArchitectureIndex`]), the writer and a `Migration` provenance record.
//!
//! Works only on the frozen snapshots of v0 and v1 ([`crate::snapshot`]).

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::UNIX_EPOCH,
};

use oef_proto::codec::Encoding;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage, Value,
};

use crate::{
    MigrateError, Step, StepContext,
    architecture::ArchitectureIndex,
    enums, paths,
    registry::Tool,
    snapshot, transcode,
};

/// Fields renamed between v0 and v1, as (v0 message full name, v0 field, v1 field). v1 kept
/// every name, so this is empty; a field listed here is matched by number and the listed names.
pub const RENAMED_FIELDS: &[(&str, &str, &str)] = &[];

/// The v0 → v1 step.
pub struct V0ToV1 {
    architectures: Arc<ArchitectureIndex>,
}

impl V0ToV1 {
    /// The step, inferring architecture keys with `architectures`.
    pub fn new(architectures: Arc<ArchitectureIndex>) -> Self {
        Self { architectures }
    }
}

/// What the v1 envelope keeps of a v0 source that v1 has no field for.
#[derive(Debug, Default)]
struct Legacy {
    unknown_fields: BTreeMap<String, Vec<u8>>,
    implicit_defaults: Vec<String>,
}

fn v1_message(name: &str) -> Result<MessageDescriptor, MigrateError> {
    snapshot::message(1, name)
        .ok_or_else(|| MigrateError::Schema(format!("{name} missing from the v1 snapshot")))
}

/// The v1 field matching v0 field `field` in `v1_parent`: same number and same name (or a
/// listed rename).
pub(crate) fn counterpart(
    field: &FieldDescriptor,
    other_parent: &MessageDescriptor,
    renames: impl Fn(&str, &str) -> Option<&'static str>,
) -> Option<FieldDescriptor> {
    let other = other_parent.get_field(field.number())?;
    let expected = renames(field.parent_message().full_name(), field.name()).unwrap_or(field.name());
    (other.name() == expected).then_some(other)
}

pub(crate) fn rename_up(message: &str, field: &str) -> Option<&'static str> {
    RENAMED_FIELDS.iter().find(|(m, f, _)| *m == message && *f == field).map(|(_, _, to)| *to)
}

fn v1_field(field: &FieldDescriptor, v1_parent: &MessageDescriptor) -> Result<FieldDescriptor, MigrateError> {
    counterpart(field, v1_parent, rename_up).ok_or_else(|| {
        MigrateError::Schema(format!(
            "v0 field {} has no v1 counterpart in {}",
            field.full_name(),
            v1_parent.full_name()
        ))
    })
}

/// Converts one message; `path` is a buffer holding its dotted path, restored on return.
fn convert_message(
    source: &DynamicMessage,
    target: &MessageDescriptor,
    path: &mut String,
    legacy: &mut Legacy,
) -> Result<DynamicMessage, MigrateError> {
    let mut out = DynamicMessage::new(target.clone());
    for (field, value) in source.fields() {
        let v1 = v1_field(&field, target)?;
        let len = paths::push(path, field.name());
        let value = convert_field(value, &field, &v1, path, legacy)?;
        path.truncate(len);
        out.set_field(&v1, value);
    }
    for field in source.descriptor().fields() {
        if field.is_list()
            || field.is_map()
            || field.containing_oneof().is_some()
            || matches!(field.kind(), Kind::Message(_))
            || source.has_field(&field)
        {
            continue;
        }
        let v1 = v1_field(&field, target)?;
        let len = paths::push(path, field.name());
        let value = convert_single(&field.default_value(), &field.kind(), &v1.kind(), path, legacy)?;
        out.set_field(&v1, value);
        legacy.implicit_defaults.push(path.clone());
        path.truncate(len);
    }
    let mut unknown = Vec::new();
    for field in source.unknown_fields() {
        field.encode(&mut unknown);
    }
    if !unknown.is_empty() {
        legacy.unknown_fields.insert(path.clone(), unknown);
    }
    Ok(out)
}

fn convert_field(
    value: &Value,
    field: &FieldDescriptor,
    v1: &FieldDescriptor,
    path: &mut String,
    legacy: &mut Legacy,
) -> Result<Value, MigrateError> {
    if field.is_map() {
        let (Kind::Message(entry0), Kind::Message(entry1)) = (field.kind(), v1.kind()) else {
            return Err(MigrateError::Schema(format!("{} is not a map in v1", field.full_name())));
        };
        let (kind0, kind1) = (entry0.map_entry_value_field().kind(), entry1.map_entry_value_field().kind());
        let Value::Map(entries) = value else {
            return Err(MigrateError::Schema(format!("{path}: map value expected")));
        };
        let mut out: HashMap<MapKey, Value> = HashMap::with_capacity(entries.len());
        for (key, item) in entries {
            let len = paths::push_key(path, key);
            out.insert(key.clone(), convert_single(item, &kind0, &kind1, path, legacy)?);
            path.truncate(len);
        }
        return Ok(Value::Map(out));
    }
    if field.is_list() {
        let Value::List(items) = value else {
            return Err(MigrateError::Schema(format!("{path}: list value expected")));
        };
        let (kind0, kind1) = (field.kind(), v1.kind());
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            // Scalars need no path: only messages and enums can record or fail.
            if matches!(item, Value::Message(_) | Value::EnumNumber(_)) {
                let len = paths::push_index(path, i);
                out.push(convert_single(item, &kind0, &kind1, path, legacy)?);
                path.truncate(len);
            } else {
                out.push(item.clone());
            }
        }
        return Ok(Value::List(out));
    }
    convert_single(value, &field.kind(), &v1.kind(), path, legacy)
}

fn convert_single(
    value: &Value,
    kind0: &Kind,
    kind1: &Kind,
    path: &mut String,
    legacy: &mut Legacy,
) -> Result<Value, MigrateError> {
    Ok(match (value, kind0, kind1) {
        (Value::Message(sub), _, Kind::Message(target)) => {
            Value::Message(convert_message(sub, target, path, legacy)?)
        }
        (Value::EnumNumber(n), Kind::Enum(e0), Kind::Enum(e1)) => {
            Value::EnumNumber(enums::up(e0, e1, *n, path)?)
        }
        (value, _, _) => value.clone(),
    })
}

fn tool_message(tool: &Tool) -> Result<DynamicMessage, MigrateError> {
    let mut message = DynamicMessage::new(v1_message("oef.v1.Tool")?);
    message.set_field_by_name("name", Value::String(tool.name.clone()));
    message.set_field_by_name("version", Value::String(tool.version.clone()));
    Ok(message)
}

impl Step for V0ToV1 {
    fn source_version(&self) -> u32 {
        0
    }

    fn target_version(&self) -> u32 {
        1
    }

    fn apply(&self, input: &DynamicMessage, context: &StepContext) -> Result<DynamicMessage, MigrateError> {
        let mut legacy = Legacy::default();
        let experiment =
            convert_message(input, &v1_message("oef.v1.Experiment")?, &mut String::with_capacity(128), &mut legacy)?;
        let architecture = match &context.architecture {
            Some(key) => {
                self.architectures.check_key(key)?;
                key.clone()
            }
            None => self.architectures.infer(input)?.key,
        };

        let mut file = DynamicMessage::new(v1_message("oef.v1.ExperimentFile")?);
        file.set_field_by_name("format_version", Value::U32(1));
        file.set_field_by_name("architecture", Value::String(architecture));
        file.set_field_by_name("writer", Value::Message(tool_message(&context.tool)?));
        file.set_field_by_name("experiment", Value::Message(experiment));

        let since_epoch = context.time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut time = DynamicMessage::new(v1_message("google.protobuf.Timestamp")?);
        time.set_field_by_name("seconds", Value::I64(i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)));
        time.set_field_by_name("nanos", Value::I32(i32::try_from(since_epoch.subsec_nanos()).unwrap_or(0)));
        let mut migration = DynamicMessage::new(v1_message("oef.v1.Migration")?);
        migration.set_field_by_name("from_version", Value::U32(0));
        migration.set_field_by_name("to_version", Value::U32(1));
        migration.set_field_by_name("tool", Value::Message(tool_message(&context.tool)?));
        migration.set_field_by_name("time", Value::Message(time));
        migration.set_field_by_name("source_sha256", Value::String(context.source_sha256.clone()));
        file.set_field_by_name("migrations", Value::List(vec![Value::Message(migration)]));

        if !legacy.unknown_fields.is_empty() || !legacy.implicit_defaults.is_empty() {
            let mut message = DynamicMessage::new(v1_message("oef.v1.LegacyFields")?);
            let unknown: HashMap<MapKey, Value> = legacy
                .unknown_fields
                .into_iter()
                .map(|(path, bytes)| (MapKey::String(path), Value::Bytes(bytes.into())))
                .collect();
            if !unknown.is_empty() {
                message.set_field_by_name("unknown_fields", Value::Map(unknown));
            }
            if !legacy.implicit_defaults.is_empty() {
                let list = legacy.implicit_defaults.into_iter().map(Value::String).collect();
                message.set_field_by_name("implicit_defaults", Value::List(list));
            }
            file.set_field_by_name("legacy", Value::Message(message));
        }
        Ok(file)
    }

    /// The byte-level route of [`crate::transcode`] for binary and JSON v0 files that are plain
    /// experiments (no unknown fields, maps, repeated singular fields, ...): same output bytes
    /// as [`apply`](Step::apply) plus [`crate::document::encode`].
    fn prepare(&self) {
        // Errors are each file's to report, when it needs what failed to build.
        let _ = self.architectures.prepare();
        transcode::prepare();
    }

    fn apply_encoded(
        &self,
        bytes: &[u8],
        input: Encoding,
        output: Encoding,
        context: &StepContext,
    ) -> Option<Vec<u8>> {
        let json;
        let binary = match input {
            Encoding::Binary => bytes,
            Encoding::Json => {
                json = transcode::v0_json_to_binary(bytes)?;
                &json
            }
            Encoding::Text => return None,
        };
        let transcoded = transcode::experiment(binary)?;
        let architecture = match &context.architecture {
            Some(key) => {
                self.architectures.check_key(key).ok()?;
                key.clone()
            }
            None => self.architectures.infer_leaves(&transcoded.leaves).ok()?.key,
        };
        let file = transcode::envelope(&transcoded, &architecture, context);
        match output {
            Encoding::Binary => Some(file),
            Encoding::Json => transcode::v1_json(&file),
            Encoding::Text => None,
        }
    }
}
