//! The error type of the crate: why one file could not be migrated.

use oef_proto::CodecError;

use crate::architecture::ArchitectureError;

/// Why one file (or one message) could not be migrated. Every variant names the field path or
/// the file-level reason; `oef-migrate` reports it next to the file's path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The content is not a decodable OEF experiment (truncated, garbage, missing required
    /// fields, wrong shape).
    #[error("{0}")]
    Decode(#[from] CodecError),
    /// The content is an OEF file of a format version this build does not know.
    #[error("format version {found} is not supported (this build knows 0 to {latest})")]
    UnsupportedVersion {
        /// The version found in the content.
        found: u32,
        /// The newest version this build knows.
        latest: u32,
    },
    /// The value at `path` has no representation in the target version.
    #[error("{path}: {reason}")]
    NotExpressible {
        /// Dotted field path of the value.
        path: String,
        /// What the target version lacks.
        reason: String,
    },
    /// The snapshots of two versions disagree where a step relies on them (a defect of a step,
    /// not of the input).
    #[error("schema snapshots disagree: {0}")]
    Schema(String),
    /// The architecture of a v0 experiment could not be determined.
    #[error(transparent)]
    Architecture(#[from] ArchitectureError),
    /// The result cannot be written in the requested encoding.
    #[error("cannot encode as {encoding}: {reason}")]
    Encode {
        /// The requested encoding.
        encoding: oef_proto::codec::Encoding,
        /// Why.
        reason: String,
    },
    /// The registry has no chain of steps between the two versions.
    #[error("no migration step from version {from} to version {to}")]
    NoStep {
        /// Version of the input.
        from: u32,
        /// Version asked for.
        to: u32,
    },
    /// Reading or writing a file failed.
    #[error("{operation}: {source}")]
    Io {
        /// What was being done, with the path (`reading /a/b.pb`).
        operation: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl MigrateError {
    /// A [`MigrateError::NotExpressible`] for `path`.
    pub fn not_expressible(path: &str, reason: impl Into<String>) -> Self {
        Self::NotExpressible { path: crate::paths::display(path).to_owned(), reason: reason.into() }
    }

    /// A [`MigrateError::Io`] for `operation`.
    pub fn io(operation: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { operation: operation.into(), source }
    }
}
