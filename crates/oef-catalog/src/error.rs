//! Catalog errors.

/// An error looking up the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// Neither the key nor its legacy reordering names an architecture.
    #[error(
        "unknown architecture '{key}'{}; closest: {}",
        crate::also_tried(key, tried),
        closest.join(", ")
    )]
    UnknownArchitecture {
        /// The key as given.
        key: String,
        /// The legacy reordering that was also tried (see [`crate::legacy_key`]).
        tried: String,
        /// The closest catalog keys by edit distance, nearest first.
        closest: Vec<String>,
    },
}
