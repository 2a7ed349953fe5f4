//! Deterministic encodings: map entries in key order.
//!
//! prost-reflect keeps map fields in a `HashMap`, so its binary, JSON and text output lists map
//! entries in a different order from one run to the next. Stored files must not change from one
//! run to another (idempotence, reproducible `--out-dir` trees), so messages that hold a map
//! with two or more entries are written here piece by piece: fields in number order, map
//! entries in key order. Everything else goes straight through prost-reflect.

use prost::{
    Message as _,
    encoding::{WireType, encode_key, encode_varint},
};
use prost_reflect::{DynamicMessage, Kind, MapKey, SerializeOptions, Value, text_format::FormatOptions};

/// Whether `message` (or a sub-message) holds a map with two or more entries.
pub(crate) fn needs_sorting(message: &DynamicMessage) -> bool {
    message.fields().any(|(_, value)| match value {
        Value::Map(entries) => entries.len() > 1 || entries.values().any(value_needs_sorting),
        other => value_needs_sorting(other),
    })
}

fn value_needs_sorting(value: &Value) -> bool {
    match value {
        Value::Message(sub) => needs_sorting(sub),
        Value::List(items) => items.iter().any(value_needs_sorting),
        Value::Map(entries) => entries.len() > 1 || entries.values().any(value_needs_sorting),
        _ => false,
    }
}

fn sorted_entries(entries: &std::collections::HashMap<MapKey, Value>) -> Vec<(&MapKey, &Value)> {
    let mut sorted: Vec<_> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
}

/// One map entry as a message of the field's entry type.
fn entry_message(field: &prost_reflect::FieldDescriptor, key: &MapKey, value: &Value) -> Option<DynamicMessage> {
    let Kind::Message(entry) = field.kind() else { return None };
    let mut message = DynamicMessage::new(entry.clone());
    message.set_field(&entry.map_entry_key_field(), Value::from(key.clone()));
    message.set_field(&entry.map_entry_value_field(), value.clone());
    Some(message)
}

/// Binary encoding, map entries in key order, unknown fields kept.
///
/// The bytes are prost-reflect's (fields, extensions and unknown fields in number order), but a
/// message with sub-messages is written here field by field, each sub-message into a buffer of
/// its own: prost-reflect computes the length of a nested message again at every level above
/// it (the experiment tree is ~8 deep), which made encoding a quarter of `oef-migrate`'s time.
pub(crate) fn binary(message: &DynamicMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    binary_into(message, &mut out, &mut Vec::new());
    out
}

/// Whether `message` itself (not looking deeper) has a field that `encode_raw` would not write
/// as `binary_into` must: a field holding messages (a sub-message, a list or map of them), or a
/// map of two or more entries (written in key order here).
fn writes_piecewise(message: &DynamicMessage) -> bool {
    message.fields().any(|(field, value)| match value {
        Value::Message(_) => true,
        Value::List(items) => !items.is_empty() && matches!(field.kind(), Kind::Message(_)),
        Value::Map(entries) => entries.len() > 1 || entries.values().any(|v| matches!(v, Value::Message(_))),
        _ => false,
    })
}

/// Appends `message` to `out`; `spare` holds buffers for sub-messages, reused across calls.
fn binary_into(message: &DynamicMessage, out: &mut Vec<u8>, spare: &mut Vec<Vec<u8>>) {
    if message.extensions().next().is_some() || !writes_piecewise(message) {
        // Nothing nested to measure twice (or extensions, which are left to prost-reflect):
        // `encode_raw` writes it as is.
        message.encode_raw(out);
        return;
    }
    let mut unknown: Vec<_> = message.unknown_fields().collect();
    unknown.sort_by_key(|f| f.number());
    let mut unknown = unknown.into_iter().peekable();
    let mut scratch: Option<DynamicMessage> = None;
    for (field, value) in message.fields() {
        while let Some(f) = unknown.next_if(|f| f.number() < field.number()) {
            f.encode(out);
        }
        let sub_message = |sub: &DynamicMessage, out: &mut Vec<u8>, spare: &mut Vec<Vec<u8>>| {
            let mut buffer = spare.pop().unwrap_or_default();
            buffer.clear();
            binary_into(sub, &mut buffer, spare);
            encode_key(field.number(), WireType::LengthDelimited, out);
            encode_varint(buffer.len() as u64, out);
            out.extend_from_slice(&buffer);
            spare.push(buffer);
        };
        match value {
            Value::Map(entries) if field.is_map() => {
                for (key, item) in sorted_entries(entries) {
                    if let Some(entry) = entry_message(&field, key, item) {
                        sub_message(&entry, out, spare);
                    }
                }
            }
            Value::Message(sub) if !field.is_group() => sub_message(sub, out, spare),
            Value::List(items) if matches!(field.kind(), Kind::Message(_)) && !field.is_group() => {
                for item in items {
                    if let Value::Message(sub) = item {
                        sub_message(sub, out, spare);
                    }
                }
            }
            other => {
                if !encode_scalar(&field, other, out) {
                    // Lists of scalars (packed or not), groups: prost-reflect writes the field.
                    let scratch = scratch.get_or_insert_with(|| {
                        DynamicMessage::new(prost_reflect::ReflectMessage::descriptor(message))
                    });
                    scratch.set_field(&field, other.clone());
                    scratch.encode_raw(out);
                    scratch.clear_field(&field);
                }
            }
        }
    }
    for f in unknown {
        f.encode(out);
    }
}

/// Writes a singular scalar field as prost-reflect does; `false` for anything else.
fn encode_scalar(field: &prost_reflect::FieldDescriptor, value: &Value, out: &mut Vec<u8>) -> bool {
    use prost::encoding as e;
    let n = field.number();
    match (value, field.kind()) {
        (Value::Bool(v), Kind::Bool) => e::bool::encode(n, v, out),
        (Value::I32(v), Kind::Int32) => e::int32::encode(n, v, out),
        (Value::I32(v), Kind::Sint32) => e::sint32::encode(n, v, out),
        (Value::I32(v), Kind::Sfixed32) => e::sfixed32::encode(n, v, out),
        (Value::I64(v), Kind::Int64) => e::int64::encode(n, v, out),
        (Value::I64(v), Kind::Sint64) => e::sint64::encode(n, v, out),
        (Value::I64(v), Kind::Sfixed64) => e::sfixed64::encode(n, v, out),
        (Value::U32(v), Kind::Uint32) => e::uint32::encode(n, v, out),
        (Value::U32(v), Kind::Fixed32) => e::fixed32::encode(n, v, out),
        (Value::U64(v), Kind::Uint64) => e::uint64::encode(n, v, out),
        (Value::U64(v), Kind::Fixed64) => e::fixed64::encode(n, v, out),
        (Value::F32(v), Kind::Float) => e::float::encode(n, v, out),
        (Value::F64(v), Kind::Double) => e::double::encode(n, v, out),
        (Value::String(v), Kind::String) => e::string::encode(n, v, out),
        (Value::Bytes(v), Kind::Bytes) => e::bytes::encode(n, v, out),
        (Value::EnumNumber(v), Kind::Enum(_)) => e::int32::encode(n, v, out),
        _ => return false,
    }
    true
}

/// Pretty canonical proto3 JSON (objects' keys sorted), newline-terminated.
pub(crate) fn json(message: &DynamicMessage) -> Result<Vec<u8>, String> {
    let options = SerializeOptions::new();
    let mut out = Vec::with_capacity(4096);
    if needs_sorting(message) {
        // serde_json's Map is a BTreeMap: going through a Value sorts every object's keys.
        let value = message
            .serialize_with_options(serde_json::value::Serializer, &options)
            .map_err(|e| e.to_string())?;
        oef_proto::json::extend_pretty(&mut out, &value).map_err(|e| e.to_string())?;
    } else {
        oef_proto::json::extend_pretty(&mut out, &oef_proto::json::WithOptions(message, &options))
            .map_err(|e| e.to_string())?;
    }
    out.push(b'\n');
    Ok(out)
}

/// Pretty protobuf text format, map entries in key order.
pub(crate) fn text(message: &DynamicMessage) -> Vec<u8> {
    let mut out = String::new();
    text_into(message, 0, &mut out);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.into_bytes()
}

fn push_indented(text: &str, indent: usize, out: &mut String) {
    for line in text.lines() {
        out.extend(std::iter::repeat_n(' ', indent));
        out.push_str(line);
        out.push('\n');
    }
}

fn text_into(message: &DynamicMessage, indent: usize, out: &mut String) {
    let options = FormatOptions::new().pretty(true);
    if !needs_sorting(message) {
        push_indented(&message.to_text_format_with_options(&options), indent, out);
        return;
    }
    let desc = prost_reflect::ReflectMessage::descriptor(message);
    let mut scratch = DynamicMessage::new(desc);
    let nested = |name: &str, sub: &DynamicMessage, out: &mut String| {
        out.extend(std::iter::repeat_n(' ', indent));
        out.push_str(name);
        out.push_str(" {\n");
        text_into(sub, indent + 2, out);
        out.extend(std::iter::repeat_n(' ', indent));
        out.push_str("}\n");
    };
    for (field, value) in message.fields() {
        match value {
            Value::Map(entries) if field.is_map() => {
                for (key, item) in sorted_entries(entries) {
                    if let Some(entry) = entry_message(&field, key, item) {
                        nested(field.name(), &entry, out);
                    }
                }
            }
            Value::Message(sub) => nested(field.name(), sub, out),
            Value::List(items) if matches!(field.kind(), Kind::Message(_)) => {
                for item in items {
                    if let Value::Message(sub) = item {
                        nested(field.name(), sub, out);
                    }
                }
            }
            other => {
                scratch.set_field(&field, other.clone());
                push_indented(&scratch.to_text_format_with_options(&options), indent, out);
                scratch.clear_field(&field);
            }
        }
    }
}
