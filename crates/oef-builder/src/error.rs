//! Build errors.

use std::fmt;

/// Why a build failed. Every message names the architecture key, the offending argument name
/// or dotted field path, and the reason; lists of names are sorted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The key names no architecture, even after the legacy reordering.
    #[error(
        "unknown architecture '{key}'{}; closest: {}",
        oef_catalog::also_tried(key, tried),
        closest.join(", ")
    )]
    UnknownArchitecture {
        /// The key as given.
        key: String,
        /// The legacy reordering that was also tried.
        tried: String,
        /// The closest catalog keys, nearest first.
        closest: Vec<String>,
    },
    /// Arguments that no field of the experiment consumed (names are exact).
    #[error(
        "architecture '{key}': unused argument(s) {}: no field set in the experiment has this name",
        quoted(names)
    )]
    UnusedArgument {
        /// The architecture key.
        key: String,
        /// The unused names, sorted.
        names: Vec<String>,
    },
    /// Two or more members of one oneof are given at the same level.
    #[error(
        "architecture '{key}': oneof '{oneof}' of message {message} (at {}) has several members given: {}",
        or_root(path),
        quoted(members)
    )]
    OneofConflict {
        /// The architecture key.
        key: String,
        /// Dotted path of the message holding the oneof (empty for the root).
        path: String,
        /// Short name of that message.
        message: String,
        /// The oneof's name.
        oneof: String,
        /// The members given, sorted.
        members: Vec<String>,
    },
    /// Two triggered switches (or two switch entries) set one path to different values.
    #[error(
        "architecture '{key}': conflicting switch values for {path}: current value {current}, new value {new}"
    )]
    ConflictingSwitch {
        /// The architecture key.
        key: String,
        /// Dotted path of the conflicting value.
        path: String,
        /// The value already merged.
        current: String,
        /// The value that conflicts with it.
        new: String,
    },
    /// A hyperparameter path segment names no field.
    #[error(
        "architecture '{key}': hyperparameter '{path}': no field '{segment}' in message {message}"
    )]
    UnknownHyperparameterPath {
        /// The architecture key.
        key: String,
        /// The hyperparameter path as given.
        path: String,
        /// The segment that does not resolve.
        segment: String,
        /// Short name of the message searched.
        message: String,
    },
    /// The path is excluded from hyperparameter optimization
    /// (`trainer.num_train_steps`, `trainer.num_train_epochs`).
    #[error(
        "architecture '{key}': hyperparameter '{path}' is not available for hyperparameter optimization"
    )]
    NotOptimizable {
        /// The architecture key.
        key: String,
        /// The hyperparameter path.
        path: String,
    },
    /// A path naming a message, with no distribution given, needs that message to have exactly
    /// one oneof (whose default search space is used).
    #[error(
        "architecture '{key}': hyperparameter '{path}' names message {message}, which has {oneofs} oneofs; \
         without a distribution, a message path must have exactly one"
    )]
    NotAOneof {
        /// The architecture key.
        key: String,
        /// The hyperparameter path.
        path: String,
        /// Short name of the message.
        message: String,
        /// How many oneofs it has.
        oneofs: usize,
    },
    /// No distribution given and the field or oneof declares no default search space.
    #[error(
        "architecture '{key}': hyperparameter '{path}': no distribution given and '{name}' declares no default search space"
    )]
    NoDefaultDistribution {
        /// The architecture key.
        key: String,
        /// The hyperparameter path.
        path: String,
        /// The field or oneof name the path resolved to.
        name: String,
    },
    /// A distribution that cannot be parsed or used.
    #[error("architecture '{key}': hyperparameter '{path}': invalid distribution: {reason}")]
    InvalidDistribution {
        /// The architecture key.
        key: String,
        /// The hyperparameter path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An explicit value outside the search space of a hyperparameter on that field name.
    #[error(
        "architecture '{key}': {path} = {value} is outside the search space of hyperparameter '{hyperparameter}': {reason}"
    )]
    OutOfSpace {
        /// The architecture key.
        key: String,
        /// Dotted path of the field the value is for.
        path: String,
        /// The value, as Python would print it.
        value: String,
        /// The hyperparameter path whose last segment matched the field name.
        hyperparameter: String,
        /// The space and why the value is outside it.
        reason: String,
    },
    /// A value of the wrong type or range for its field.
    #[error("architecture '{key}': invalid value for {path}: {reason}")]
    InvalidValue {
        /// The architecture key.
        key: String,
        /// Dotted path of the field (with `[i]` for list items).
        path: String,
        /// What was expected and what was given.
        reason: String,
    },
    /// Required fields left unset (the reference fails when serializing).
    #[error("architecture '{key}': required field(s) missing: {}", fields.join(", "))]
    MissingRequired {
        /// The architecture key.
        key: String,
        /// Dotted paths of the missing fields.
        fields: Vec<String>,
    },
}

/// The kind of a [`BuildError`], without its details (for matching and exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`BuildError::UnknownArchitecture`]
    UnknownArchitecture,
    /// [`BuildError::UnusedArgument`]
    UnusedArgument,
    /// [`BuildError::OneofConflict`]
    OneofConflict,
    /// [`BuildError::ConflictingSwitch`]
    ConflictingSwitch,
    /// [`BuildError::UnknownHyperparameterPath`]
    UnknownHyperparameterPath,
    /// [`BuildError::NotOptimizable`]
    NotOptimizable,
    /// [`BuildError::NotAOneof`]
    NotAOneof,
    /// [`BuildError::NoDefaultDistribution`]
    NoDefaultDistribution,
    /// [`BuildError::InvalidDistribution`]
    InvalidDistribution,
    /// [`BuildError::OutOfSpace`]
    OutOfSpace,
    /// [`BuildError::InvalidValue`]
    InvalidValue,
    /// [`BuildError::MissingRequired`]
    MissingRequired,
}

impl BuildError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BuildError::UnknownArchitecture { .. } => ErrorKind::UnknownArchitecture,
            BuildError::UnusedArgument { .. } => ErrorKind::UnusedArgument,
            BuildError::OneofConflict { .. } => ErrorKind::OneofConflict,
            BuildError::ConflictingSwitch { .. } => ErrorKind::ConflictingSwitch,
            BuildError::UnknownHyperparameterPath { .. } => ErrorKind::UnknownHyperparameterPath,
            BuildError::NotOptimizable { .. } => ErrorKind::NotOptimizable,
            BuildError::NotAOneof { .. } => ErrorKind::NotAOneof,
            BuildError::NoDefaultDistribution { .. } => ErrorKind::NoDefaultDistribution,
            BuildError::InvalidDistribution { .. } => ErrorKind::InvalidDistribution,
            BuildError::OutOfSpace { .. } => ErrorKind::OutOfSpace,
            BuildError::InvalidValue { .. } => ErrorKind::InvalidValue,
            BuildError::MissingRequired { .. } => ErrorKind::MissingRequired,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<oef_catalog::CatalogError> for BuildError {
    fn from(error: oef_catalog::CatalogError) -> Self {
        match error {
            oef_catalog::CatalogError::UnknownArchitecture {
                key,
                tried,
                closest,
            } => BuildError::UnknownArchitecture {
                key,
                tried,
                closest,
            },
        }
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn or_root(path: &str) -> &str {
    if path.is_empty() { "the root" } else { path }
}
