//! Encodings of OEF messages, and detection of encoding and format version from content.
//!
//! Two layers:
//! * **lossless** ([`decode`], [`decode_message`], [`encode_message`]) works on
//!   [`prost_reflect::DynamicMessage`]: fields unknown to our schema (written by newer tools)
//!   survive a binary round trip, and binary output is in field-number order like every
//!   deterministic protobuf serializer.
//! * **typed** ([`decode_v0`], [`encode_v0`], [`decode_v1_file`], [`encode_v1_file`]) gives the
//!   prost structs; unknown fields are dropped there, which suits programs that build or read
//!   experiments but not tools that rewrite files written by others.
//!
//! JSON is the canonical proto3 JSON mapping (lowerCamelCase names, enums by name, 64-bit
//! integers as strings), pretty-printed. Text is the protobuf text format.

use std::{fmt, path::Path};

use prost::Message;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, MessageDescriptor, ReflectMessage, SerializeOptions,
    Value, text_format::FormatOptions,
};

use crate::{
    CodecError, CodecErrorKind,
    descriptor::{self, V0_EXPERIMENT, V1_EXPERIMENT_FILE},
    path as paths, v0, v1,
};

/// Format major version of the legacy schema (`deepomatic.oef.*`).
pub const FORMAT_V0: u32 = 0;
/// Format major version of `oef.v1`.
pub const FORMAT_V1: u32 = 1;
/// The newest format version this crate reads and writes.
pub const LATEST_FORMAT: u32 = FORMAT_V1;

/// Field number of `oef.v1.ExperimentFile.format_version`. Numbers 1 to 15 are reserved in the
/// envelope, and a v0 `Experiment` always carries fields 2 and 3 (required), so the field sets
/// of the two never overlap.
const V1_FORMAT_VERSION_FIELD: u32 = 16;

/// A serialization of a protobuf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Protobuf binary wire format (`.pb`).
    Binary,
    /// Canonical proto3 JSON mapping (`.json`).
    Json,
    /// Protobuf text format (`.pbtxt`).
    Text,
}

impl Encoding {
    /// All encodings, in the order detection tries them.
    pub const ALL: [Encoding; 3] = [Encoding::Binary, Encoding::Json, Encoding::Text];

    /// The conventional file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Binary => "pb",
            Encoding::Json => "json",
            Encoding::Text => "pbtxt",
        }
    }

    /// The encoding a file name suggests (`.pb`/`.bin`/`.binpb`, `.json`, `.pbtxt`/`.txtpb`/
    /// `.textproto`), if any. Content detection ([`detect`]) is what decoding trusts.
    pub fn from_path(path: &Path) -> Option<Encoding> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "pb" | "bin" | "binpb" => Some(Encoding::Binary),
            "json" => Some(Encoding::Json),
            "pbtxt" | "txtpb" | "textproto" | "prototxt" => Some(Encoding::Text),
            _ => None,
        }
    }

    /// Parses `binary`, `json` or `text` (as used on command lines).
    pub fn parse(name: &str) -> Option<Encoding> {
        match name {
            "binary" | "pb" => Some(Encoding::Binary),
            "json" => Some(Encoding::Json),
            "text" | "pbtxt" => Some(Encoding::Text),
            _ => None,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Binary => "binary",
            Encoding::Json => "json",
            Encoding::Text => "text",
        })
    }
}

/// What [`detect`] found: how the content is encoded and which format version it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Detected {
    /// The encoding of the content.
    pub encoding: Encoding,
    /// The format major version: [`FORMAT_V0`] (bare `Experiment`) or [`FORMAT_V1`] and later
    /// (`ExperimentFile` envelope).
    pub version: u32,
}

impl Detected {
    /// The full name of the root message for this version.
    pub fn root_message(&self) -> &'static str {
        if self.version == FORMAT_V0 { V0_EXPERIMENT } else { V1_EXPERIMENT_FILE }
    }
}

/// Detects encoding and format version from content alone (file names are never trusted).
///
/// * binary: the top level must be well-formed wire format; a v1 envelope has field 16
///   (`format_version`) and none of fields 1 to 15, a v0 `Experiment` has fields 2 and 3;
/// * JSON: an object with `formatVersion` (v1) or with `dataset`/`trainer` (v0);
/// * text: parsed as a v1 envelope when it sets `format_version`, else as a v0 `Experiment`.
///
/// Detection does not validate the whole message; [`decode`] does.
pub fn detect(bytes: &[u8]) -> Result<Detected, CodecError> {
    detect_and_parse(bytes).map(|(detected, _)| detected)
}

/// Content already parsed during detection, reused by [`decode`].
enum Parsed {
    Binary,
    Json(serde_json::Value),
    Text(DynamicMessage),
}

fn detect_and_parse(bytes: &[u8]) -> Result<(Detected, Parsed), CodecError> {
    let ctx = "input";
    if bytes.is_empty() {
        return Err(CodecError::new(ctx, CodecErrorKind::Unrecognized("empty input".into())));
    }
    if let Some(fields) = top_level_fields(bytes) {
        let has = |n: u32| fields.iter().any(|(number, _)| *number == n);
        // The last occurrence wins, as in any protobuf decoder.
        let version = fields.iter().rev().find(|(n, _)| *n == V1_FORMAT_VERSION_FIELD);
        if let Some((_, Some(version))) = version {
            if !fields.iter().any(|(n, _)| (1..=15).contains(n)) {
                let version = u32::try_from(*version).unwrap_or(u32::MAX);
                if version == FORMAT_V0 {
                    return Err(CodecError::new(
                        "binary input",
                        CodecErrorKind::Unrecognized("an envelope with format_version 0".into()),
                    ));
                }
                return Ok((Detected { encoding: Encoding::Binary, version }, Parsed::Binary));
            }
        }
        if has(2) && has(3) && !has(V1_FORMAT_VERSION_FIELD) {
            return Ok((Detected { encoding: Encoding::Binary, version: FORMAT_V0 }, Parsed::Binary));
        }
        if !looks_like_text(bytes) {
            let mut numbers: Vec<u32> = fields.iter().map(|(n, _)| *n).collect();
            numbers.sort_unstable();
            numbers.dedup();
            return Err(CodecError::new(
                "binary input",
                CodecErrorKind::Unrecognized(format!(
                    "top-level fields {numbers:?} are neither a v0 Experiment (fields 2 and 3) \
                     nor a v1 ExperimentFile (varint field 16, none of 1-15)"
                )),
            ));
        }
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(CodecError::new(
            ctx,
            CodecErrorKind::Unrecognized(
                "neither well-formed binary protobuf nor UTF-8 text (JSON or text format)".into(),
            ),
        ));
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(trimmed).map_err(|e| {
            CodecError::new("JSON input", CodecErrorKind::Json(e.to_string()))
        })?;
        let Some(object) = value.as_object() else {
            return Err(CodecError::new("JSON input", CodecErrorKind::Json("not an object".into())));
        };
        let version = if let Some(v) = object.get("formatVersion").or(object.get("format_version")) {
            match v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())) {
                Some(v) if v >= 1 => v as u32,
                _ => {
                    return Err(CodecError::new(
                        "JSON input",
                        CodecErrorKind::Unrecognized(format!("formatVersion {v} is not a version")),
                    ));
                }
            }
        } else if object.contains_key("dataset") || object.contains_key("trainer") {
            FORMAT_V0
        } else {
            return Err(CodecError::new(
                "JSON input",
                CodecErrorKind::Unrecognized(
                    "an object with neither formatVersion (v1) nor dataset/trainer (v0)".into(),
                ),
            ));
        };
        return Ok((Detected { encoding: Encoding::Json, version }, Parsed::Json(value)));
    }
    // Protobuf text format: try the envelope when the text names its version field.
    let is_v1 = trimmed.contains("format_version");
    let desc = if is_v1 { descriptor::v1_experiment_file() } else { descriptor::v0_experiment() };
    let message = parse_text(&desc, text)?;
    let version = if is_v1 { envelope_version(&message) } else { FORMAT_V0 };
    Ok((Detected { encoding: Encoding::Text, version }, Parsed::Text(message)))
}

/// The deepest message nesting accepted in text format, as prost's recursion limit for binary.
const MAX_TEXT_NESTING: usize = 100;

/// Parses text format after checking its nesting depth: prost-reflect's text parser recurses
/// once per nested message, so a hostile file could otherwise overflow the stack.
fn parse_text(desc: &MessageDescriptor, text: &str) -> Result<DynamicMessage, CodecError> {
    let context = || format!("text {}", desc.full_name());
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            (None, '{' | '<') => {
                depth += 1;
                if depth > MAX_TEXT_NESTING {
                    return Err(CodecError::new(
                        context(),
                        CodecErrorKind::Text(format!("nesting deeper than {MAX_TEXT_NESTING} messages")),
                    ));
                }
            }
            (None, '}' | '>') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    DynamicMessage::parse_text_format(desc.clone(), text)
        .map_err(|e| CodecError::new(context(), CodecErrorKind::Text(e.to_string())))
}

/// Text that the binary walker happened to accept (rare: e.g. a few spaces) is still text.
fn looks_like_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| {
        let t = s.trim_start();
        t.starts_with('{') || t.starts_with('#') || t.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
    })
}

/// The top-level fields of well-formed binary protobuf as (number, varint value if varint), or
/// `None` if it is not well-formed.
fn top_level_fields(mut bytes: &[u8]) -> Option<Vec<(u32, Option<u64>)>> {
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let key = read_varint(&mut bytes)?;
        let number = u32::try_from(key >> 3).ok()?;
        if number == 0 || number > 536_870_911 {
            return None;
        }
        let mut varint = None;
        match key & 7 {
            0 => varint = Some(read_varint(&mut bytes)?),
            1 => bytes = bytes.get(8..)?,
            2 => {
                let len = usize::try_from(read_varint(&mut bytes)?).ok()?;
                bytes = bytes.get(len..)?;
            }
            5 => bytes = bytes.get(4..)?,
            _ => return None, // groups are not used by OEF; anything else is malformed
        }
        fields.push((number, varint));
    }
    Some(fields)
}

fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

fn envelope_version(message: &DynamicMessage) -> u32 {
    message.get_field_by_name("format_version").and_then(|v| v.as_u32()).unwrap_or(0)
}

/// The checks every decoded v1+ envelope (`ExperimentFile`) must pass, whoever decoded it:
/// no field in the reserved range 1–15 (those numbers are v0 `Experiment` fields, so such a
/// field means v0 content), and `format_version` equal to `version`. The error names the field.
pub fn check_envelope(message: &DynamicMessage, version: u32) -> Result<(), CodecErrorKind> {
    if let Some(field) = message.unknown_fields().find(|f| (1..=15).contains(&f.number())) {
        return Err(CodecErrorKind::Unrecognized(format!(
            "field {} is reserved in an ExperimentFile (it is a v0 Experiment field)",
            field.number()
        )));
    }
    let found = envelope_version(message);
    if found != version {
        return Err(CodecErrorKind::WrongVersion { expected: version, found });
    }
    Ok(())
}

/// Decodes any OEF content losslessly: detects encoding and version, parses, checks that the
/// version is supported and that required fields are present. Returns the root message
/// (`Experiment` for v0, `ExperimentFile` for v1).
pub fn decode(bytes: &[u8]) -> Result<(Detected, DynamicMessage), CodecError> {
    let (detected, parsed) = detect_and_parse(bytes)?;
    if detected.version > LATEST_FORMAT {
        return Err(CodecError::new(
            format!("{} input", detected.encoding),
            CodecErrorKind::Unrecognized(format!(
                "format version {} is newer than the newest this build reads ({LATEST_FORMAT})",
                detected.version
            )),
        ));
    }
    let desc = descriptor::message(detected.root_message()).ok_or_else(|| {
        CodecError::new("schema", CodecErrorKind::Unrecognized(detected.root_message().into()))
    })?;
    let context = || format!("{} {}", detected.encoding, desc.full_name());
    let message = match parsed {
        Parsed::Binary => DynamicMessage::decode(desc.clone(), bytes)
            .map_err(|e| CodecError::new(context(), CodecErrorKind::Binary(e.to_string())))?,
        Parsed::Json(value) => DynamicMessage::deserialize(desc.clone(), value)
            .map_err(|e| CodecError::new(context(), CodecErrorKind::Json(e.to_string())))?,
        Parsed::Text(message) => message,
    };
    if detected.version >= FORMAT_V1 {
        check_envelope(&message, detected.version).map_err(|kind| CodecError::new(context(), kind))?;
    }
    check_required(&message).map_err(|kind| CodecError::new(context(), kind))?;
    Ok((detected, message))
}

/// Decodes `bytes` in the given encoding as the message `desc`, keeping unknown fields
/// (binary). Does not check required fields; see [`missing_required`].
pub fn decode_message(
    bytes: &[u8],
    encoding: Encoding,
    desc: &MessageDescriptor,
) -> Result<DynamicMessage, CodecError> {
    let context = || format!("{encoding} {}", desc.full_name());
    match encoding {
        Encoding::Binary => DynamicMessage::decode(desc.clone(), bytes)
            .map_err(|e| CodecError::new(context(), CodecErrorKind::Binary(e.to_string()))),
        Encoding::Json => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let options = DeserializeOptions::new();
            let message = DynamicMessage::deserialize_with_options(desc.clone(), &mut de, &options)
                .and_then(|m| de.end().map(|()| m))
                .map_err(|e| CodecError::new(context(), CodecErrorKind::Json(e.to_string())))?;
            Ok(message)
        }
        Encoding::Text => {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                CodecError::new(context(), CodecErrorKind::Text(format!("not UTF-8: {e}")))
            })?;
            parse_text(desc, text)
        }
    }
}

/// Encodes a message: binary (unknown fields included, field-number order), pretty canonical
/// JSON, or pretty text format.
pub fn encode_message(message: &DynamicMessage, encoding: Encoding) -> Result<Vec<u8>, CodecError> {
    match encoding {
        Encoding::Binary => Ok(message.encode_to_vec()),
        Encoding::Json => {
            let mut out = Vec::with_capacity(1024);
            crate::json::extend_pretty(&mut out, &crate::json::WithOptions(message, &SerializeOptions::new()))
                .map_err(|e| {
                    CodecError::new(
                        format!("json {}", message.descriptor().full_name()),
                        CodecErrorKind::Encode(e.to_string()),
                    )
                })?;
            out.push(b'\n');
            Ok(out)
        }
        Encoding::Text => {
            let mut text = message.to_text_format_with_options(&FormatOptions::new().pretty(true));
            if !text.ends_with('\n') {
                text.push('\n');
            }
            Ok(text.into_bytes())
        }
    }
}

/// Dotted paths of every proto2 `required` field missing in `message` or its sub-messages
/// (`trainer.batch_size`, `hyperparameters["x"].uniform.min`, `inputs[0].…`), in field order,
/// map entries by key.
pub fn missing_required(message: &DynamicMessage) -> Vec<String> {
    let mut out = Vec::new();
    collect_missing_required(message, &mut String::new(), &mut out);
    out
}

fn check_required(message: &DynamicMessage) -> Result<(), CodecErrorKind> {
    let missing = missing_required(message);
    if missing.is_empty() { Ok(()) } else { Err(CodecErrorKind::MissingRequired(missing)) }
}

/// Appends to `out` the paths of the required fields missing in `message` or below it, each
/// prefixed by `path` (a path buffer, as it was on return). Paths are only built for what is
/// missing and for the messages on the way to it.
pub fn collect_missing_required(message: &DynamicMessage, path: &mut String, out: &mut Vec<String>) {
    for field in message.descriptor().fields() {
        let set = message.has_field(&field);
        if !set {
            if field.cardinality() == prost_reflect::Cardinality::Required {
                let len = paths::push(path, field.name());
                out.push(path.clone());
                path.truncate(len);
            }
        } else if matches!(field.kind(), prost_reflect::Kind::Message(_)) {
            descend(field.name(), &message.get_field(&field), path, out);
        }
    }
}

/// [`collect_missing_required`] below the fields set in `message` only (its own required
/// fields are not checked): for a message whose other sub-messages the caller holds apart.
pub fn collect_missing_below(message: &DynamicMessage, path: &mut String, out: &mut Vec<String>) {
    for (field, value) in message.fields() {
        descend(field.name(), value, path, out);
    }
}

/// Checks the messages held by field `name`'s value (a message, or a list or map of them;
/// scalars hold none and are skipped without touching the path).
fn descend(name: &str, value: &Value, path: &mut String, out: &mut Vec<String>) {
    let holds_messages = match value {
        Value::Message(_) => true,
        Value::List(items) => matches!(items.first(), Some(Value::Message(_))),
        Value::Map(entries) => matches!(entries.values().next(), Some(Value::Message(_))),
        _ => false,
    };
    if !holds_messages {
        return;
    }
    let len = paths::push(path, name);
    match value {
        Value::Message(sub) => collect_missing_required(sub, path, out),
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                if let Value::Message(sub) = item {
                    let base = paths::push_index(path, i);
                    collect_missing_required(sub, path, out);
                    path.truncate(base);
                }
            }
        }
        Value::Map(entries) => {
            let mut keyed: Vec<_> = entries.iter().collect();
            keyed.sort_by(|a, b| a.0.cmp(b.0));
            for (key, item) in keyed {
                if let Value::Message(sub) = item {
                    let base = paths::push_key(path, key);
                    collect_missing_required(sub, path, out);
                    path.truncate(base);
                }
            }
        }
        _ => {}
    }
    path.truncate(len);
}

fn typed_from_dynamic<T: Message + Default>(message: &DynamicMessage) -> Result<T, CodecError> {
    T::decode(message.encode_to_vec().as_slice()).map_err(|e| {
        CodecError::new(message.descriptor().full_name(), CodecErrorKind::Binary(e.to_string()))
    })
}

fn dynamic_from_typed<T: Message>(
    message: &T,
    desc: MessageDescriptor,
) -> Result<DynamicMessage, CodecError> {
    DynamicMessage::decode(desc.clone(), message.encode_to_vec().as_slice()).map_err(|e| {
        CodecError::new(desc.full_name(), CodecErrorKind::Encode(e.to_string()))
    })
}

/// Decodes a v0 `Experiment` in the given encoding into the prost type, checking required
/// fields. Unknown fields are dropped: use [`decode`] to keep them.
pub fn decode_v0(bytes: &[u8], encoding: Encoding) -> Result<v0::Experiment, CodecError> {
    let desc = descriptor::v0_experiment();
    let message = decode_message(bytes, encoding, &desc).map_err(|e| wrong_version(bytes, FORMAT_V0, e))?;
    if let Ok(found) = detect(bytes).map(|d| d.version) {
        if found != FORMAT_V0 {
            return Err(CodecError::new(
                format!("{encoding} {V0_EXPERIMENT}"),
                CodecErrorKind::WrongVersion { expected: FORMAT_V0, found },
            ));
        }
    }
    check_required(&message)
        .map_err(|kind| CodecError::new(format!("{encoding} {V0_EXPERIMENT}"), kind))?;
    if encoding == Encoding::Binary {
        // prost reads the same bytes directly (no re-encode); the reflection pass above is what
        // sees proto2 presence of required scalars, which prost's plain fields cannot.
        return v0::Experiment::decode(bytes).map_err(|e| {
            CodecError::new(format!("binary {V0_EXPERIMENT}"), CodecErrorKind::Binary(e.to_string()))
        });
    }
    typed_from_dynamic(&message)
}

/// Turns a parse failure into `WrongVersion` when the content is valid OEF of another version.
fn wrong_version(bytes: &[u8], expected: u32, error: CodecError) -> CodecError {
    match detect(bytes) {
        Ok(detected) if detected.version != expected => CodecError::new(
            error.context,
            CodecErrorKind::WrongVersion { expected, found: detected.version },
        ),
        _ => error,
    }
}

/// Encodes a v0 `Experiment` (the same bytes/JSON/text deepomatic-oef writes).
pub fn encode_v0(experiment: &v0::Experiment, encoding: Encoding) -> Result<Vec<u8>, CodecError> {
    match encoding {
        Encoding::Binary => Ok(crate::encoder::to_vec(experiment)),
        _ => encode_message(&dynamic_from_typed(experiment, descriptor::v0_experiment())?, encoding),
    }
}

/// Decodes a v1 `ExperimentFile` in the given encoding into the prost type, checking that it
/// is a format v1 envelope.
pub fn decode_v1_file(bytes: &[u8], encoding: Encoding) -> Result<v1::ExperimentFile, CodecError> {
    let desc = descriptor::v1_experiment_file();
    let message = decode_message(bytes, encoding, &desc).map_err(|e| wrong_version(bytes, FORMAT_V1, e))?;
    if let Ok(found) = detect(bytes).map(|d| d.version) {
        if found != FORMAT_V1 {
            return Err(CodecError::new(
                format!("{encoding} {V1_EXPERIMENT_FILE}"),
                CodecErrorKind::WrongVersion { expected: FORMAT_V1, found },
            ));
        }
    }
    check_envelope(&message, FORMAT_V1)
        .map_err(|kind| CodecError::new(format!("{encoding} {V1_EXPERIMENT_FILE}"), kind))?;
    typed_from_dynamic(&message)
}

/// Encodes a v1 `ExperimentFile`.
pub fn encode_v1_file(file: &v1::ExperimentFile, encoding: Encoding) -> Result<Vec<u8>, CodecError> {
    match encoding {
        Encoding::Binary => Ok(crate::encoder::to_vec(file)),
        _ => encode_message(&dynamic_from_typed(file, descriptor::v1_experiment_file())?, encoding),
    }
}
