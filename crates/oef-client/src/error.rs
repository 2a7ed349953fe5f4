//! The error type of the client.

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL is not a valid URI.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The API key cannot be sent as gRPC metadata (non-ASCII or empty).
    #[error("invalid API key: {0}")]
    InvalidApiKey(String),
    /// The connection failed.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The server URL.
        url: String,
        /// The root cause, as the innermost error of the transport's chain says it (the outer
        /// ones only repeat "transport error" and "tcp connect error").
        reason: String,
        /// The transport error (kept for callers; not a `source`, so that a chain printer
        /// does not repeat what `reason` says).
        transport: tonic::transport::Error,
    },
    /// The server answered with an error status.
    #[error("{}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
    /// The server's answer lacks a field it always sets.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// A local I/O failure (worker: experiment file, command).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl ClientError {
    /// The gRPC status, when the server answered with one.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            Self::Status(status) => Some(status),
            _ => None,
        }
    }

    /// A [`ClientError::Connect`] for `url`, with the root cause of `transport` as its reason.
    pub(crate) fn connect(url: &str, transport: tonic::transport::Error) -> Self {
        let mut cause: &dyn std::error::Error = &transport;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        Self::Connect { url: url.to_owned(), reason: cause.to_string(), transport }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}
