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
//! * [`pyvalue`]: the Python value semantics the reference relies on (equality across numeric
//!   types, `repr` for messages).
//!
//! The semantics are those of `deepomatic-oef` 0.23.1 for format v0, written down in
//! `docs/reference-builder-semantics.md`. The engine walks protobuf descriptors (prost-reflect),
//! builds a [`prost_reflect::DynamicMessage`] and converts it to the prost type at the end, so
//! it does not depend on the v0 schema beyond [`schema::Schema`].

mod build;
mod builder;
mod convert;
mod node;
mod error;
mod hyper;
pub mod pyvalue;
pub mod schema;
mod switch;

pub use builder::ExperimentBuilder;
pub use error::{BuildError, ErrorKind};
