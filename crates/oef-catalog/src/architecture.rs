//! One catalog entry.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::LazyJson;

/// One architecture: the defaults an experiment starts from, and its switches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// The key, `task.pretraining.meta_arch.backbone`
    /// (e.g. `image_detection.pretraining_natural_rgb.ssd.mobilenet_v1`).
    pub key: String,
    /// A human-readable name (e.g. `SSD - MobileNet V1`).
    pub display_name: String,
    /// Default values, a nested JSON object shaped like the v0 `Experiment` message
    /// (field names as in the `.proto` files, enums by name). Reads as a [`Value`]; the
    /// catalog's entries are parsed on first read.
    pub default_args: LazyJson,
    /// Values applied when a oneof member is selected, in catalog order.
    #[serde(default)]
    pub switch_args: Vec<Switch>,
}

/// A switch: when the oneof `field` selects `triggering_value`, `target_value` is merged into
/// the experiment (explicit arguments still take precedence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Switch {
    /// Dotted path from the root message to the oneof, ending with the oneof's name
    /// (e.g. `trainer.optimizer.optimizer`).
    pub field: String,
    /// The name of the oneof member that triggers the switch (e.g. `nadam_optimizer`).
    pub triggering_value: String,
    /// A nested JSON object relative to the root message, applied when triggered.
    pub target_value: Value,
}

impl Architecture {
    /// The parts of the key: `[task, pretraining, meta_arch, backbone]` for catalog keys.
    pub fn key_parts(&self) -> Vec<&str> {
        self.key.split('.').collect()
    }

    /// The task family (first part of the key), e.g. `image_classification`.
    pub fn task(&self) -> &str {
        self.part(0)
    }

    /// The pretraining (second part of the key), e.g. `pretraining_natural_rgb`.
    pub fn pretraining(&self) -> &str {
        self.part(1)
    }

    /// The meta-architecture (third part of the key), e.g. `ssd` or `softmax`.
    pub fn meta_arch(&self) -> &str {
        self.part(2)
    }

    /// The backbone (last part of the key), e.g. `mobilenet_v1`.
    pub fn backbone(&self) -> &str {
        self.key.rsplit('.').next().unwrap_or_default()
    }

    /// `default_args` as a JSON object (empty if the entry holds something else, which the
    /// catalog tests rule out).
    pub fn default_object(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
        self.default_args.as_object().unwrap_or(&EMPTY)
    }

    fn part(&self, index: usize) -> &str {
        self.key.split('.').nth(index).unwrap_or_default()
    }
}
