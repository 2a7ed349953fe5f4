//! A stored file's content as a message of its version's snapshot, with detection of encoding
//! and version from content.

use oef_proto::{
    CodecError, CodecErrorKind,
    codec::{self, Encoding},
};
use prost_reflect::{DynamicMessage, Value};

use crate::{LATEST_VERSION, MigrateError, paths, snapshot};

/// The root message of a stored file of some format version, decoded through that version's
/// snapshot pool: a v0 `Experiment` or a v1+ `ExperimentFile`. Unknown fields are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The format major version.
    pub version: u32,
    /// The root message.
    pub message: DynamicMessage,
}

/// Detects encoding and format version of `bytes` from content (never from a file name) and
/// decodes them through the snapshot of that version.
///
/// Fails on anything that is not a complete OEF file: truncated or garbage bytes, missing v0
/// required fields, a version this build does not know.
pub fn decode(bytes: &[u8]) -> Result<(Encoding, Document), MigrateError> {
    let (encoding, version, message) = match decode_json(bytes)? {
        Some(decoded) => decoded,
        None => {
            let detected = codec::detect(bytes)?;
            let desc = root(detected.version)?;
            (detected.encoding, detected.version, codec::decode_message(bytes, detected.encoding, &desc)?)
        }
    };
    let desc = root(version)?;
    let context = || format!("{encoding} {}", desc.full_name());
    if version >= 1 {
        codec::check_envelope(&message, version).map_err(|kind| CodecError::new(context(), kind))?;
    }
    let missing = codec::missing_required(&message);
    if !missing.is_empty() {
        return Err(CodecError::new(context(), CodecErrorKind::MissingRequired(missing)).into());
    }
    Ok((encoding, Document { version, message }))
}

/// The root message of `version`'s snapshot, or the error for a version this build lacks.
fn root(version: u32) -> Result<prost_reflect::MessageDescriptor, MigrateError> {
    if version > LATEST_VERSION {
        return Err(MigrateError::UnsupportedVersion { found: version, latest: LATEST_VERSION });
    }
    snapshot::root_message(version)
        .ok_or_else(|| MigrateError::Schema(format!("no snapshot for version {version}")))
}

const BOM: &[u8] = "\u{feff}".as_bytes();

/// Whether [`decode`] takes `bytes` for JSON: an object, after an optional byte order mark and
/// whitespace. Anything else is detected as binary or text.
pub(crate) fn is_json(bytes: &[u8]) -> bool {
    let body = bytes.strip_prefix(BOM).unwrap_or(bytes);
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// JSON content (an object) parsed once for detection and decoding, as `codec::detect` would
/// detect it: `formatVersion` (v1+) or `dataset`/`trainer` (v0). `None` when not JSON.
fn decode_json(bytes: &[u8]) -> Result<Option<(Encoding, u32, DynamicMessage)>, MigrateError> {
    if !is_json(bytes) {
        return Ok(None);
    }
    let body = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let json_error = |kind| MigrateError::from(CodecError::new("JSON input", kind));
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| json_error(CodecErrorKind::Json(e.to_string())))?;
    let Some(object) = value.as_object() else {
        return Err(json_error(CodecErrorKind::Json("not an object".into())));
    };
    let version = if let Some(v) = object.get("formatVersion").or(object.get("format_version")) {
        match v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())) {
            Some(v) if v >= 1 => u32::try_from(v).unwrap_or(u32::MAX),
            _ => {
                return Err(json_error(CodecErrorKind::Unrecognized(format!(
                    "formatVersion {v} is not a version"
                ))));
            }
        }
    } else if object.contains_key("dataset") || object.contains_key("trainer") {
        0
    } else {
        return Err(json_error(CodecErrorKind::Unrecognized(
            "an object with neither formatVersion (v1) nor dataset/trainer (v0)".into(),
        )));
    };
    let desc = root(version)?;
    let message = DynamicMessage::deserialize(desc.clone(), value).map_err(|e| {
        MigrateError::from(CodecError::new(format!("json {}", desc.full_name()), CodecErrorKind::Json(e.to_string())))
    })?;
    Ok(Some((Encoding::Json, version, message)))
}

/// Encodes a document deterministically (map entries in key order): binary (unknown fields
/// included), pretty proto3 JSON (keys sorted when the message holds a map) or text.
///
/// JSON and text have no place for unknown fields: a document holding some can only be written
/// as binary, and asking for another encoding is an error naming the message that holds them.
pub fn encode(document: &Document, encoding: Encoding) -> Result<Vec<u8>, MigrateError> {
    if encoding != Encoding::Binary {
        if let Some(path) = first_unknown(&document.message, "") {
            return Err(MigrateError::Encode {
                encoding,
                reason: format!(
                    "{} holds fields unknown to the format v{} schema, which only binary can carry",
                    paths::display(&path),
                    document.version
                ),
            });
        }
    }
    match encoding {
        Encoding::Binary => Ok(crate::encode::binary(&document.message)),
        Encoding::Json => crate::encode::json(&document.message)
            .map_err(|reason| MigrateError::Encode { encoding, reason }),
        Encoding::Text => Ok(crate::encode::text(&document.message)),
    }
}

/// The path of the first message (depth first) that holds unknown fields.
pub(crate) fn first_unknown(message: &DynamicMessage, path: &str) -> Option<String> {
    let mut buffer = path.to_owned();
    find_unknown(message, &mut buffer).then_some(buffer)
}

/// Whether `message` or a message below it holds unknown fields; if so, `path` is left holding
/// the path of the first one (depth first), else it is restored. Scalars are skipped without
/// touching the path: only messages can hold unknown fields.
fn find_unknown(message: &DynamicMessage, path: &mut String) -> bool {
    if message.unknown_fields().next().is_some() {
        return true;
    }
    for (field, value) in message.fields() {
        match value {
            Value::Message(sub) => {
                let len = paths::push(path, field.name());
                if find_unknown(sub, path) {
                    return true;
                }
                path.truncate(len);
            }
            Value::List(items) if matches!(items.first(), Some(Value::Message(_))) => {
                let len = paths::push(path, field.name());
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(sub) = item {
                        let base = paths::push_index(path, i);
                        if find_unknown(sub, path) {
                            return true;
                        }
                        path.truncate(base);
                    }
                }
                path.truncate(len);
            }
            Value::Map(entries) if matches!(entries.values().next(), Some(Value::Message(_))) => {
                let len = paths::push(path, field.name());
                for (key, item) in entries {
                    if let Value::Message(sub) = item {
                        let base = paths::push_key(path, key);
                        if find_unknown(sub, path) {
                            return true;
                        }
                        path.truncate(base);
                    }
                }
                path.truncate(len);
            }
            _ => {}
        }
    }
    false
}

