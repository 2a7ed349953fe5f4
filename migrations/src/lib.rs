//! Migrations of stored Open Experiment Format (OEF) files across format major versions.
//!
//! A stored experiment is a v0 `deepomatic.oef.experiment.Experiment` (the legacy format of
//! `deepomatic-oef`) or a v1 `oef.v1.ExperimentFile` envelope. This crate brings one to any
//! other version without losing a bit, and `oef-migrate` does it for whole directory trees.
//!
//! Table of contents:
//! * [`snapshot`]: the frozen descriptor set of each format version; every step decodes and
//!   encodes through these, never through today's `.proto` files.
//! * [`document`]: content detection (encoding and version) and decoding/encoding of a stored
//!   file as a [`Document`].
//! * [`registry`]: the [`Step`] trait and the [`Registry`] that chains steps, so that `--to`
//!   any version works and a future v2 adds one module.
//! * [`v0_to_v1`], [`v1_to_v0`]: the two steps of format v1; `transcode` is the byte-level
//!   fast route of v0 → v1 for plain files ([`Registry::migrate_encoded`]).
//! * [`architecture`]: inference of the catalog architecture a v0 experiment was built from
//!   ([`ArchitectureDefaults`] supplies the default experiment of each key).
//! * [`diff`]: field-path differences between two documents (`--dry-run`).
//! * [`run`]: the file-tree driver behind `oef-migrate`: walking, per-file outcomes, crash-safe
//!   writes, the [`run::Report`].
//! * [`MigrateError`]: every way one file can fail to migrate, typed.
//!
//! # Compatibility
//!
//! The crate's major version is the newest format major version it writes (1.x writes v0 and
//! v1). It reads and writes every format version from 0 to [`LATEST_VERSION`].

#![warn(missing_docs)]

pub mod architecture;
pub mod diff;
pub mod document;
mod encode;
mod enums;
mod error;
mod paths;
pub mod registry;
pub mod run;
pub mod snapshot;
mod transcode;
pub mod v0_to_v1;
pub mod v1_to_v0;

pub use architecture::{ArchitectureDefaults, ArchitectureIndex, CatalogDefaults, DirectoryDefaults};
pub use document::Document;
pub use error::MigrateError;
pub use registry::{Registry, Step, StepContext, Tool};

/// The newest format major version this crate reads and writes.
pub const LATEST_VERSION: u32 = 1;
