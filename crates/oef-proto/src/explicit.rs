//! Format v1 states every value: in each message present in a file, each scalar field with
//! presence (proto3 `optional`) outside a oneof must be set, whatever its value. This module
//! finds those left unset, through the generated types (no reflection, no decoding again).
//!
//! The walk is generated from the descriptors (`build/one_pass.rs`, one [`ExplicitValues`] impl
//! per `oef.v1` message): it enters every set `oef.v1` sub-message (singular, repeated item or
//! oneof member; map values are not entered) in field number order. `oef validate` and the
//! platform's LaunchExperiment apply it to v1 files.

use crate::v1;

/// Why an unset value is a problem, as `oef validate` and the platform report it.
pub const UNSET_REASON: &str = "no value: format v1 files state every value";

/// Finds the scalar values a v1 message leaves unset.
pub trait ExplicitValues {
    /// Appends to `out` the dotted path (below `path`, a buffer restored on return) of every
    /// scalar with presence left unset in this message or in a set sub-message.
    fn collect_unset(&self, path: &mut String, out: &mut Vec<String>);
}

/// The dotted paths, under `experiment`, of the values `experiment` leaves unset, in field
/// number order (`experiment.trainer.batch_size`).
pub fn unset_values(experiment: &v1::Experiment) -> Vec<String> {
    let mut path = String::from("experiment");
    let mut out = Vec::new();
    experiment.collect_unset(&mut path, &mut out);
    out
}

/// Records `path.name` as unset (called by the generated code).
fn unset(path: &str, name: &str, out: &mut Vec<String>) {
    out.push(crate::path::join(path, name));
}

/// The generated impls (`build/one_pass.rs`); lints are for hand-written code.
#[allow(clippy::all, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/oef_explicit.rs"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_scalars_are_found_in_set_messages_only() {
        let mut experiment = v1::Experiment {
            seed: Some(1),
            trainer: Some(v1::Trainer { batch_size: Some(8), ..Default::default() }),
            ..Default::default()
        };
        let found = unset_values(&experiment);
        assert!(!found.contains(&"experiment.seed".to_owned()), "{found:?}");
        assert!(!found.contains(&"experiment.trainer.batch_size".to_owned()), "{found:?}");
        assert!(found.contains(&"experiment.trainer.eval_batch_size".to_owned()), "{found:?}");
        assert!(!found.iter().any(|p| p.starts_with("experiment.dataset.")), "dataset unset: not entered");
        experiment.dataset = Some(Default::default());
        assert!(unset_values(&experiment).iter().any(|p| p.starts_with("experiment.dataset.")));
    }
}
