//! Builds Open Experiment Format experiments from an architecture key and a few overrides.
//!
//! ```
//! use oef_builder::ExperimentBuilder;
//! use serde_json::json;
//!
//! let experiment = ExperimentBuilder::new("image_detection.pretraining_natural_rgb.ssd.mobilenet_v1")?
//!     .set("config_path", json!("gs://bucket/dataset/config.prototxt"))
//!     .set("batch_size", json!(8))
//!     .hyperparameter("trainer.initial_learning_rate", None)
//!     .build()?;
//! assert_eq!(experiment.trainer.batch_size, 8);
//! # Ok::<(), oef_builder::BuildError>(())
//! ```
//!
//! * [`ExperimentBuilder`]: the API: `new(key)` → [`set`](ExperimentBuilder::set) /
//!   [`hyperparameter`](ExperimentBuilder::hyperparameter) → [`build`](ExperimentBuilder::build).
//! * [`BuildError`], [`ErrorKind`]: every way a build fails, typed; messages name the
//!   architecture key, the offending name or dotted field path, and the reason.
//! * [`validate`]: search-space validation of a decoded experiment (every value at a
//!   hyperparameter path within its distribution, distributions well formed).
//! * [`pyvalue`]: the Python value semantics the reference relies on (equality across numeric
//!   types, `repr` for messages).
//!
//! * [`schema`]: the per-message plans the engine walks, precomputed from descriptors.
//!
//! The semantics are those of `deepomatic-oef` 0.23.1 for format v0, written down in
//! `docs/reference-builder-semantics.md`: a switch pass, then a build pass over the descriptor
//! tree in field declaration order; kwargs offered as names; the unused-argument check; the
//! hyperparameter checks; required fields checked last. The engine walks prost-reflect
//! descriptors and builds [`prost_reflect::DynamicMessage`]s, converted to the prost type at
//! the end: the passes name no message, the v0 root and its `hyperparameters` map are chosen in
//! [`schema::Schema::v0`], and v0 prost types appear only at the API edge ([`ExperimentBuilder::build`],
//! typed distributions), so the engine can run over another format's descriptors.
//!
//! Speed: sub-builds that no argument can reach are skipped (the reference runs and discards
//! them), and a subtree built from catalog defaults alone (no argument reaches it, no switch
//! value lies below it) is built once per process and shared, encoded, by later builds.

#![warn(missing_docs)]

mod build;
mod builder;
mod convert;
mod error;
mod hyper;
mod node;
pub mod pyvalue;
pub mod schema;
mod switch;
pub mod validate;

pub use builder::ExperimentBuilder;
pub use error::{BuildError, ErrorKind};
