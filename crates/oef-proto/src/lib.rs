//! Rust types for the Open Experiment Format (OEF), generated from `protos/` at build time.
//!
//! * [`v0`]: the legacy format, packages `deepomatic.oef.*` (proto2), wire- and
//!   JSON-compatible with the Python package `deepomatic-oef` 0.23.1. Frozen.
//! * [`v1`]: the current format, package `oef.v1` (proto3), with the stored-file envelope
//!   [`v1::ExperimentFile`].
//! * [`descriptor`]: the encoded `FileDescriptorSet` of both, a shared
//!   [`prost_reflect::DescriptorPool`], and the hyperparameter search spaces declared as custom
//!   options.
//! * [`diff`]: structural difference of two messages by dotted field path.
//! * [`decoder`] / [`encoder`]: a binary codec generated from the descriptors that behaves as
//!   prost's (same results, same bytes), faster: slice reader, one-pass backwards writer.
//! * [`explicit`]: the values a v1 file leaves unset (format v1 states every value).
//! * [`json`]: the pretty JSON printer the codec writes with.
//! * [`path`]: dotted field paths (`trainer.inputs[0]`, `hyperparameters["x"]`).
//! * [`codec`]: binary / proto3 JSON / text encodings, lossless (unknown fields kept) through
//!   prost-reflect, typed through prost + pbjson, and detection of encoding and format version
//!   from content.
//!
//! Every message type implements [`prost::Message`] and, through pbjson, `serde` with the
//! canonical proto3 JSON mapping (one legacy dataset-dump message excepted, see `build.rs`).

pub mod codec;
pub mod decoder;
pub mod descriptor;
pub mod diff;
pub mod encoder;
mod error;
pub mod explicit;
pub mod json;
mod json_number;
mod json_writer;
pub mod path;

pub use error::{CodecError, CodecErrorKind};

/// Includes the prost output of one package and its pbjson serde implementation.
macro_rules! include_package {
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
        include!(concat!(env!("OUT_DIR"), "/", $package, ".serde.rs"));
    };
}

/// Format v1: package `oef.v1` (proto3). Every value a training uses is written explicitly
/// (scalars have explicit presence); [`v1::ExperimentFile`] is the self-describing envelope of a
/// stored experiment.
#[allow(clippy::all)]
pub mod v1 {
    include_package!("oef.v1");
}

/// Format v0: the legacy schema of `deepomatic-oef` (packages `deepomatic.oef.*`, proto2).
///
/// Modules mirror the proto packages below `deepomatic.oef`; the root message is
/// [`v0::experiment::Experiment`]. proto2 defaults are available through the generated getters
/// (`experiment.max_hp_runs()`), never through the `Option` fields themselves.
#[allow(missing_docs, clippy::all)]
pub mod v0 {
    pub use experiment::Experiment;

    /// `deepomatic.oef.dataoperation`: data operations applied before training.
    pub mod dataoperation {
        include_package!("deepomatic.oef.dataoperation");
    }
    /// `deepomatic.oef.dataset`: where the training data comes from.
    pub mod dataset {
        include_package!("deepomatic.oef.dataset");
    }
    /// `deepomatic.oef.dataset_v1`: dataset dump records, version 1 (proto3).
    pub mod dataset_v1 {
        include_package!("deepomatic.oef.dataset_v1");
    }
    /// `deepomatic.oef.dataset_v2`: dataset dump records, version 2 (proto3).
    pub mod dataset_v2 {
        include_package!("deepomatic.oef.dataset_v2");
    }
    /// `deepomatic.oef.experiment`: the root message.
    pub mod experiment {
        include_package!("deepomatic.oef.experiment");
    }
    /// `deepomatic.oef.hyperparameter`: search-space distributions and their custom options.
    pub mod hyperparameter {
        include_package!("deepomatic.oef.hyperparameter");
    }
    /// `deepomatic.oef.losses`: classification and localization losses.
    pub mod losses {
        include_package!("deepomatic.oef.losses");
    }
    /// `deepomatic.oef.optimizer`: optimizers and learning-rate policies.
    pub mod optimizer {
        include_package!("deepomatic.oef.optimizer");
    }
    /// `deepomatic.oef.trainer`: the trainer and the model it trains.
    pub mod trainer {
        include_package!("deepomatic.oef.trainer");
    }
    /// `deepomatic.oef.models`: model architectures.
    pub mod models {
        /// `deepomatic.oef.models.image`: image models.
        pub mod image {
            /// `deepomatic.oef.models.image.backbones`: feature extractors.
            pub mod backbones {
                include_package!("deepomatic.oef.models.image.backbones");
            }
            /// `deepomatic.oef.models.image.classification`: image classification heads.
            pub mod classification {
                include_package!("deepomatic.oef.models.image.classification");
            }
            /// `deepomatic.oef.models.image.detection`: object detection meta-architectures.
            pub mod detection {
                include_package!("deepomatic.oef.models.image.detection");
            }
            /// `deepomatic.oef.models.image.ocr`: text recognition.
            pub mod ocr {
                include_package!("deepomatic.oef.models.image.ocr");
            }
            /// `deepomatic.oef.models.image.preprocessing`: inputs, resizing and augmentation.
            pub mod preprocessing {
                include_package!("deepomatic.oef.models.image.preprocessing");
            }
            /// `deepomatic.oef.models.image.segmentation`: instance segmentation.
            pub mod segmentation {
                include_package!("deepomatic.oef.models.image.segmentation");
            }
            /// `deepomatic.oef.models.image.utils`: shared building blocks.
            pub mod utils {
                /// `deepomatic.oef.models.image.utils.hyperparameters`: conv/FC layer settings.
                pub mod hyperparameters {
                    include_package!("deepomatic.oef.models.image.utils.hyperparameters");
                }
            }
        }
    }
}
