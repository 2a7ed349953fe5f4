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
    let detected = codec::detect(bytes)?;
    let version = detected.version;
    if version > LATEST_VERSION {
        return Err(MigrateError::UnsupportedVersion { found: version, latest: LATEST_VERSION });
    }
    let desc = snapshot::root_message(version)
        .ok_or_else(|| MigrateError::Schema(format!("no snapshot for version {version}")))?;
    let message = codec::decode_message(bytes, detected.encoding, &desc)?;
    let context = || format!("{} {}", detected.encoding, desc.full_name());
    if version >= 1 {
        let found = message.get_field_by_name("format_version").and_then(|v| v.as_u32());
        if found != Some(version) {
            return Err(CodecError::new(
                context(),
                CodecErrorKind::Unrecognized("format_version is missing or inconsistent".into()),
            )
            .into());
        }
        if let Some(field) = message.unknown_fields().find(|f| (1..=15).contains(&f.number())) {
            return Err(CodecError::new(
                context(),
                CodecErrorKind::Unrecognized(format!(
                    "field {} is reserved in an ExperimentFile",
                    field.number()
                )),
            )
            .into());
        }
    }
    let missing = codec::missing_required(&message);
    if !missing.is_empty() {
        return Err(CodecError::new(context(), CodecErrorKind::MissingRequired(missing)).into());
    }
    Ok((detected.encoding, Document { version, message }))
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
    if message.unknown_fields().next().is_some() {
        return Some(path.to_owned());
    }
    for (field, value) in message.fields() {
        let field_path = paths::join(path, field.name());
        match value {
            Value::Message(sub) => {
                if let Some(p) = first_unknown(sub, &field_path) {
                    return Some(p);
                }
            }
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(sub) = item {
                        if let Some(p) = first_unknown(sub, &paths::index(&field_path, i)) {
                            return Some(p);
                        }
                    }
                }
            }
            Value::Map(entries) => {
                for (key, item) in entries {
                    if let Value::Message(sub) = item {
                        if let Some(p) = first_unknown(sub, &paths::key(&field_path, key)) {
                            return Some(p);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    None
}
