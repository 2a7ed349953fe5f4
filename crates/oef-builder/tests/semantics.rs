//! The reference semantics of `docs/reference-builder-semantics.md`, one behaviour per test.

mod common;

use common::json_of;
use oef_builder::{ErrorKind, ExperimentBuilder};
use serde_json::{Value, json};

const CLASSIFICATION: &str = "image_classification.pretraining_natural_rgb.sigmoid.darknet_53";
const SSD: &str = "image_detection.pretraining_natural_rgb.ssd.mobilenet_v1";
const CONFIG: &str = "gs://bucket/dataset/config.prototxt";

fn builder(key: &str) -> ExperimentBuilder {
    ExperimentBuilder::new(key)
        .unwrap()
        .set("config_path", json!(CONFIG))
}

fn built(b: ExperimentBuilder) -> Value {
    json_of(&b.build().unwrap_or_else(|e| panic!("{e}")))
}

/// Every `(path, value)` whose last key is `name`.
fn find_all(value: &Value, name: &str, path: &str, out: &mut Vec<(String, Value)>) {
    if let Value::Object(map) = value {
        for (k, v) in map {
            let here = format!("{path}.{k}");
            if k == name {
                out.push((here.clone(), v.clone()));
            }
            find_all(v, name, &here, out);
        }
    } else if let Value::Array(items) = value {
        for (i, v) in items.iter().enumerate() {
            find_all(v, name, &format!("{path}[{i}]"), out);
        }
    }
}

fn close(v: &Value, x: f64) -> bool {
    v.as_f64().is_some_and(|v| (v - x).abs() < 1e-6)
}

#[test]
fn one_name_sets_several_depths() {
    let base = built(builder(SSD));
    let mut before = Vec::new();
    find_all(&base, "iouThreshold", "", &mut before);
    let after = built(builder(SSD).set("iou_threshold", json!(0.3)));
    let mut found = Vec::new();
    find_all(&after, "iouThreshold", "", &mut found);
    let set: Vec<&String> = found
        .iter()
        .filter(|(_, v)| close(v, 0.3))
        .map(|(p, _)| p)
        .collect();
    assert!(!set.is_empty(), "{found:?}");
    assert!(before.iter().all(|(_, v)| !close(v, 0.3)));
}

#[test]
fn outer_kwargs_override_the_dict() {
    let b = builder(CLASSIFICATION)
        .set(
            "optimizer",
            json!({"momentum_optimizer": {"momentum_optimizer_value": 0.5}}),
        )
        .set("momentum_optimizer_value", json!(0.7));
    let v = built(b);
    assert!(
        close(
            &v["trainer"]["optimizer"]["momentumOptimizer"]["momentumOptimizerValue"],
            0.7
        ),
        "{v}"
    );
}

#[test]
fn dict_keys_are_names_at_deeper_levels() {
    let b = builder(CLASSIFICATION).set(
        "optimizer",
        json!({"rms_prop_optimizer": {}, "momentum_optimizer_value": 0.5}),
    );
    let v = built(b);
    assert!(
        close(
            &v["trainer"]["optimizer"]["rmsPropOptimizer"]["momentumOptimizerValue"],
            0.5
        ),
        "{v}"
    );
    assert!(v["trainer"]["optimizer"].get("momentumOptimizer").is_none());
}

#[test]
fn oneof_shortcut_selects_and_triggers_the_switch() {
    let v = built(builder(CLASSIFICATION).set("nadam_optimizer", json!({})));
    assert!(
        v["trainer"]["optimizer"].get("nadamOptimizer").is_some(),
        "{v}"
    );
    assert!(close(&v["trainer"]["initialLearningRate"], 0.0005));
    assert!(
        v["trainer"]["learningRatePolicy"]
            .get("oneCycleLearningRate")
            .is_some()
    );
}

#[test]
fn explicit_kwargs_beat_switch_values() {
    let b = builder(CLASSIFICATION)
        .set("nadam_optimizer", json!({}))
        .set("initial_learning_rate", json!(0.01));
    let v = built(b);
    assert!(close(&v["trainer"]["initialLearningRate"], 0.01));
    assert!(
        v["trainer"]["learningRatePolicy"]
            .get("oneCycleLearningRate")
            .is_some()
    );
}

#[test]
fn keys_inside_kwarg_dicts_are_not_checked() {
    let v = built(builder(CLASSIFICATION).set("quantization", json!({"nonexistent": 1})));
    assert!(v["trainer"].get("quantization").is_some());
}

#[test]
fn a_name_inside_an_unselected_message_is_dropped() {
    let v = built(builder(CLASSIFICATION).set("delay", json!(5)));
    assert!(v["trainer"].get("quantization").is_none(), "{v}");
}

#[test]
fn names_are_exact() {
    let err = builder(CLASSIFICATION)
        .set("batch_size ", json!(2))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnusedArgument);
}

#[test]
fn categorical_check_quirk() {
    let hp = |b: ExperimentBuilder| {
        b.hyperparameter_json(
            "trainer.optimizer",
            Some(&json!({"categorical": {"values": [{"string_value": "momentum_optimizer"}]}})),
        )
    };
    // Through the oneof's own name: not checked (reference quirk kept for v0).
    assert!(
        hp(builder(CLASSIFICATION))
            .set("nadam_optimizer", json!({}))
            .build()
            .is_ok()
    );
    // Through the message field: checked.
    let err = hp(builder(CLASSIFICATION))
        .set("optimizer", json!({"nadam_optimizer": {}}))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutOfSpace);
}

#[test]
fn defaults_are_not_checked_against_spaces() {
    // Default batch size 16 is outside {2, 4} but comes from default_args.
    let b = builder(CLASSIFICATION).hyperparameter_json(
        "trainer.batch_size",
        Some(&json!({"categorical": {"values": [{"integer_value": 2}, {"integer_value": 4}]}})),
    );
    assert!(b.clone().build().is_ok());
    assert_eq!(
        b.set("batch_size", json!(8)).build().unwrap_err().kind(),
        ErrorKind::OutOfSpace
    );
}

#[test]
fn python_equality_in_categorical() {
    let b = builder(CLASSIFICATION).hyperparameter_json(
        "trainer.batch_size",
        Some(&json!({"categorical": {"values": [{"integer_value": 1}, {"integer_value": 8}]}})),
    );
    assert!(b.clone().set("batch_size", json!(true)).build().is_ok()); // True == 1
    // 8.0 is in the space (8 == 8.0) but not an int: the protobuf constructor refuses it.
    assert_eq!(
        b.set("batch_size", json!(8.0)).build().unwrap_err().kind(),
        ErrorKind::InvalidValue
    );
}

#[test]
fn later_path_segments_after_a_scalar_are_ignored() {
    let b = builder(CLASSIFICATION).hyperparameter_json(
        "trainer.batch_size.x",
        Some(&json!({"uniform": {"min": 1, "max": 2}})),
    );
    let v = built(b);
    assert!(v["hyperparameters"].get("trainer.batch_size.x").is_some());
}

#[test]
fn default_distribution_of_a_oneof() {
    let v = built(builder(CLASSIFICATION).hyperparameter("trainer.optimizer", None));
    let values = &v["hyperparameters"]["trainer.optimizer"]["categorical"]["values"];
    assert_eq!(values.as_array().map(Vec::len), Some(6), "{v}");
}

#[test]
fn legacy_key_order_is_accepted() {
    let legacy = "image_classification.sigmoid.darknet_53.pretraining_natural_rgb";
    let b = ExperimentBuilder::new(legacy).unwrap();
    assert_eq!(b.architecture().key, CLASSIFICATION);
}

#[test]
fn floats_are_stored_as_float32() {
    let experiment = builder(CLASSIFICATION)
        .set("initial_learning_rate", json!(0.1))
        .build()
        .unwrap();
    assert_eq!(experiment.trainer.initial_learning_rate, Some(0.1f32));
}

#[test]
fn null_unsets_and_required_fields_are_checked_last() {
    let err = builder(CLASSIFICATION)
        .set("batch_size", Value::Null)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingRequired);
    assert!(err.to_string().contains("trainer.batch_size"), "{err}");
}

#[test]
fn enums_by_name_or_number() {
    assert!(
        builder(CLASSIFICATION)
            .set("resize_method", json!("BILINEAR"))
            .build()
            .is_ok()
    );
    assert!(
        builder(CLASSIFICATION)
            .set("resize_method", json!(1))
            .build()
            .is_ok()
    );
    let err = builder(CLASSIFICATION)
        .set("resize_method", json!("NOPE"))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue);
}

#[test]
fn the_builder_is_reusable() {
    let b = builder(SSD).set("batch_size", json!(4));
    assert_eq!(b.build().unwrap(), b.build().unwrap());
}

#[test]
fn dynamic_and_typed_builds_agree_cold_and_warm() {
    use prost::Message as _;
    for key in [
        SSD,
        CLASSIFICATION,
        "image_ocr.pretraining_none.attention.inception_v3",
    ] {
        for round in 0..2 {
            let b = builder(key).set("batch_size", json!(4));
            let typed = b.build().unwrap();
            let dynamic = b.build_dynamic().unwrap();
            let decoded =
                oef_proto::v0::Experiment::decode(dynamic.encode_to_vec().as_slice()).unwrap();
            assert_eq!(typed, decoded, "{key} round {round}");
        }
    }
}

#[test]
fn custom_architectures_are_not_shared() {
    let mut architecture = oef_catalog::Catalog::global()
        .get(CLASSIFICATION)
        .unwrap()
        .clone();
    architecture.default_args["trainer"]["batch_size"] = json!(3);
    architecture.default_args["trainer"]["image_classification"]["dropout_keep_prob"] = json!(0.25);
    let custom = ExperimentBuilder::from_architecture(architecture.clone())
        .unwrap()
        .set("config_path", json!(CONFIG));
    let experiment = custom.build().unwrap();
    assert_eq!(experiment.trainer.batch_size, 3);
    let v = json_of(&experiment);
    assert!(
        close(
            &v["trainer"]["imageClassification"]["dropoutKeepProb"],
            0.25
        ),
        "{v}"
    );
    // The catalog entry still builds with its own defaults.
    let v = built(builder(CLASSIFICATION));
    assert!(
        close(&v["trainer"]["imageClassification"]["dropoutKeepProb"], 0.5),
        "{v}"
    );
}
