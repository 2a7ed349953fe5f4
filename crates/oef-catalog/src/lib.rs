//! The architecture catalog of the Open Experiment Format (OEF).
//!
//! An *architecture* is a named starting point for an experiment: a key
//! `task.pretraining.meta_arch.backbone`, a display name, `default_args` (a nested dict shaped
//! like the v0 `Experiment`) and `switch_args` (values applied when a oneof member is
//! selected). The 404 architectures of `deepomatic-oef` 0.23.1 are project data, not code: they
//! live in `catalog/<task>.json` (one file per task family) and are embedded in the binary at
//! build time. Entries are split when the catalog is first used; each entry's `default_args`
//! is parsed when first read ([`LazyJson`]), so a command that needs one architecture parses one.
//!
//! * [`Catalog`]: the parsed catalog ([`Catalog::global`]), lookup with the reference's
//!   backward-compatible key reordering ([`Catalog::get`]), iteration and [`Filter`]s,
//!   suggestions by edit distance ([`Catalog::closest`]).
//! * [`Architecture`], [`Switch`]: one entry, typed.
//! * [`LazyJson`]: a JSON value parsed from its text on first read.
//! * [`CatalogError`]: what can go wrong (an unknown key, with the closest keys).

#![warn(missing_docs)]

mod architecture;
mod catalog;
mod error;
mod key;
mod lazy;

pub use architecture::{Architecture, Switch};
pub use catalog::{Catalog, Filter, SOURCES};
pub use error::CatalogError;
pub use key::{also_tried, edit_distance, legacy_key};
pub use lazy::LazyJson;
