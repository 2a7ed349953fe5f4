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
pub(crate) fn binary(message: &DynamicMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    binary_into(message, &mut out);
    out
}

fn binary_into(message: &DynamicMessage, out: &mut Vec<u8>) {
    if !needs_sorting(message) {
        // `encode_raw` skips the capacity check of `encode` (a second `encoded_len` walk); a
        // Vec grows as needed.
        message.encode_raw(out);
        return;
    }
    let mut unknown: Vec<_> = message.unknown_fields().collect();
    unknown.sort_by_key(|f| f.number());
    let mut unknown = unknown.into_iter().peekable();
    let mut scratch = DynamicMessage::new(prost_reflect::ReflectMessage::descriptor(message));
    for (field, value) in message.fields() {
        while let Some(f) = unknown.next_if(|f| f.number() < field.number()) {
            f.encode(out);
        }
        let length_delimited = |bytes: Vec<u8>, out: &mut Vec<u8>| {
            encode_key(field.number(), WireType::LengthDelimited, out);
            encode_varint(bytes.len() as u64, out);
            out.extend_from_slice(&bytes);
        };
        match value {
            Value::Map(entries) if field.is_map() => {
                for (key, item) in sorted_entries(entries) {
                    if let Some(entry) = entry_message(&field, key, item) {
                        length_delimited(binary(&entry), out);
                    }
                }
            }
            Value::Message(sub) => length_delimited(binary(sub), out),
            Value::List(items) if matches!(field.kind(), Kind::Message(_)) => {
                for item in items {
                    if let Value::Message(sub) = item {
                        length_delimited(binary(sub), out);
                    }
                }
            }
            other => {
                scratch.set_field(&field, other.clone());
                scratch.encode_raw(out);
                scratch.clear_field(&field);
            }
        }
    }
    for f in unknown {
        f.encode(out);
    }
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
        serde_json::to_writer_pretty(&mut out, &value).map_err(|e| e.to_string())?;
    } else {
        let mut serializer = serde_json::Serializer::pretty(&mut out);
        message.serialize_with_options(&mut serializer, &options).map_err(|e| e.to_string())?;
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
