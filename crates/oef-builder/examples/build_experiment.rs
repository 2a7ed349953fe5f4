//! Builds an experiment from an architecture key, a few overrides and a hyperparameter, and
//! prints it as proto3 JSON; then shows what a mistake looks like.
//!
//! `cargo run -p oef-builder --example build_experiment -- image_detection.pretraining_natural_rgb.ssd.mobilenet_v1`

use oef_builder::ExperimentBuilder;
use oef_proto::codec::{Encoding, encode_v0};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = std::env::args().nth(1).unwrap_or_else(|| {
        "image_classification.pretraining_natural_rgb.softmax.efficientnet_b0".into()
    });

    let experiment = ExperimentBuilder::new(&key)?
        .set("config_path", json!("gs://bucket/dataset/config.prototxt"))
        // Names, not paths: `batch_size` reaches `trainer.batch_size`.
        .set("batch_size", json!(8))
        // A oneof member by its own name; its switch sets the learning rate and policy.
        .set("adam_optimizer", json!({}))
        // Search `trainer.initial_learning_rate` in the space the schema declares.
        .hyperparameter("trainer.initial_learning_rate", None)
        .build()?;
    println!(
        "{}",
        String::from_utf8(encode_v0(&experiment, Encoding::Json)?)?
    );

    // Errors name the architecture, the offending name or path, and the reason.
    let mistake = ExperimentBuilder::new(&key)?
        .set("config_path", json!("gs://bucket/dataset/config.prototxt"))
        .set("batch_size ", json!(8))
        .build();
    if let Err(error) = mistake {
        eprintln!("error ({}): {error}", error.kind());
    }
    Ok(())
}
