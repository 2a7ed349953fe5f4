//! The error type of every decode and encode entry point of this crate.

use std::fmt;

/// Why bytes could not be decoded (or a message encoded) as OEF.
///
/// Every variant names what was expected and, where known, the field path and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{context}: {kind}")]
pub struct CodecError {
    /// What was being decoded, e.g. `binary deepomatic.oef.experiment.Experiment`.
    pub context: String,
    /// What went wrong.
    pub kind: CodecErrorKind,
}

/// The kinds of [`CodecError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecErrorKind {
    /// The bytes are not a valid protobuf binary encoding of the message.
    Binary(String),
    /// The text is not valid proto3 JSON for the message.
    Json(String),
    /// The text is not valid protobuf text format for the message.
    Text(String),
    /// The message decoded, but required fields (proto2 `required`) are missing.
    MissingRequired(Vec<String>),
    /// The content is not recognisably any OEF format version or encoding.
    Unrecognized(String),
    /// The content is valid OEF, but of another format version than asked for.
    WrongVersion {
        /// The version the caller asked for.
        expected: u32,
        /// The version found in the content.
        found: u32,
    },
    /// The message could not be encoded.
    Encode(String),
}

impl fmt::Display for CodecErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Binary(reason) => write!(f, "invalid binary protobuf: {reason}"),
            Self::Json(reason) => write!(f, "invalid proto3 JSON: {reason}"),
            Self::Text(reason) => write!(f, "invalid protobuf text format: {reason}"),
            Self::MissingRequired(paths) => {
                write!(f, "missing required field(s): {}", paths.join(", "))
            }
            Self::Unrecognized(reason) => write!(f, "not an OEF experiment: {reason}"),
            Self::WrongVersion { expected, found } => {
                write!(f, "format version {found} found where version {expected} was expected")
            }
            Self::Encode(reason) => write!(f, "cannot encode: {reason}"),
        }
    }
}

impl CodecError {
    /// Builds an error for `context` (what was being decoded) of the given kind.
    pub fn new(context: impl Into<String>, kind: CodecErrorKind) -> Self {
        Self { context: context.into(), kind }
    }
}
