//! Shared helpers for the reference tests: fixture paths, running a case, and mapping the
//! reference's error text to our [`ErrorKind`].

#![allow(dead_code)]

use std::path::PathBuf;

use oef_builder::{BuildError, ErrorKind, ExperimentBuilder};
use serde_json::Value;

/// `tests/fixtures/legacy-oef` of the workspace.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/legacy-oef")
}

#[allow(clippy::result_large_err)] // mirrors the builder API
/// Runs a builder case `{model, kwargs, hyperparameters: [{path, distribution}]}`.
pub fn run_case(case: &Value) -> Result<oef_proto::v0::Experiment, BuildError> {
    let model = case["model"].as_str().expect("case.model");
    let mut builder = ExperimentBuilder::new(model)?;
    if let Some(hps) = case.get("hyperparameters").and_then(Value::as_array) {
        for hp in hps {
            let path = hp["path"].as_str().expect("hyperparameter path");
            let distribution = hp.get("distribution").filter(|d| !d.is_null());
            builder = builder.hyperparameter_json(path, distribution);
        }
    }
    if let Some(kwargs) = case.get("kwargs").and_then(Value::as_object) {
        for (name, value) in kwargs {
            builder = builder.set(name.clone(), value.clone());
        }
    }
    builder.build()
}

/// The kind of error we expect for a reference error text (`"<ExceptionClass>: <message>"`).
pub fn expected_kind(reference_error: &str) -> ErrorKind {
    let (class, message) = reference_error
        .split_once(": ")
        .unwrap_or((reference_error, ""));
    let has = |s: &str| message.contains(s);
    if has("Unknown model key") || class == "InvalidNet" {
        ErrorKind::UnknownArchitecture
    } else if has("Unused keyword argument") {
        ErrorKind::UnusedArgument
    } else if has("Two or more values are given for the one-of") {
        ErrorKind::OneofConflict
    } else if has("Conflicting values for") {
        ErrorKind::ConflictingSwitch
    } else if has("field not found in protobuf message") {
        ErrorKind::UnknownHyperparameterPath
    } else if has("is not available for hyperparameter optimization") {
        ErrorKind::NotOptimizable
    } else if has("Number of OneOfs should be 1") {
        ErrorKind::NotAOneof
    } else if has("No distribution given for hyperparemeter") {
        ErrorKind::NoDefaultDistribution
    } else if class == "ParseError" || has("attribute name must be string") {
        ErrorKind::InvalidDistribution
    } else if has("not in the given hyperparameter") || has("should be of lenght one") {
        ErrorKind::OutOfSpace
    } else if has("missing required fields") {
        ErrorKind::MissingRequired
    } else {
        // TypeError, ValueError, AttributeError... from the values handed to protobuf.
        ErrorKind::InvalidValue
    }
}

/// JSON of a built experiment, parsed back (not `to_value`: float32 fields are printed with
/// their shortest float32 digits, like the reference's `.json`).
pub fn json_of(experiment: &oef_proto::v0::Experiment) -> Value {
    let bytes = serde_json::to_vec(experiment).expect("serialize");
    serde_json::from_slice(&bytes).expect("parse")
}
