//! Every error kind, produced through the public API, with a snapshot of its message.

use oef_builder::{BuildError, ErrorKind, ExperimentBuilder};
use oef_catalog::{Architecture, Catalog, Switch};
use serde_json::{Value, json};

const KEY: &str = "image_classification.pretraining_natural_rgb.sigmoid.darknet_53";
const CONFIG: &str = "gs://bucket/dataset/config.prototxt";

fn builder() -> ExperimentBuilder {
    ExperimentBuilder::new(KEY)
        .unwrap()
        .set("config_path", json!(CONFIG))
}

fn fails(builder: ExperimentBuilder, kind: ErrorKind) -> String {
    let err: BuildError = builder.build().expect_err("the build must fail");
    assert_eq!(err.kind(), kind, "{err}");
    err.to_string()
}

#[test]
fn unknown_architecture() {
    let err =
        ExperimentBuilder::new("image_classification.pretraining_natural_rgb.sigmoid.darknet_5")
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownArchitecture);
    insta::assert_snapshot!(err.to_string());
}

#[test]
fn unused_argument() {
    let b = builder()
        .set("not_a_field", json!(1))
        .set("batch_size ", json!(2))
        .set("dropout", json!(0.5));
    insta::assert_snapshot!(fails(b, ErrorKind::UnusedArgument));
}

#[test]
fn oneof_conflict() {
    let b = builder().set(
        "optimizer",
        json!({"nadam_optimizer": {}, "adam_optimizer": {}}),
    );
    insta::assert_snapshot!(fails(b, ErrorKind::OneofConflict));
}

#[test]
fn conflicting_switch() {
    let mut architecture: Architecture = Catalog::global().get(KEY).unwrap().clone();
    let switch = |lr: f64| Switch {
        field: "trainer.optimizer.optimizer".into(),
        triggering_value: "adam_optimizer".into(),
        target_value: json!({"trainer": {"initial_learning_rate": lr}}),
    };
    architecture.switch_args = vec![switch(0.001), switch(0.002)];
    let b = ExperimentBuilder::from_architecture(architecture)
        .unwrap()
        .set("config_path", json!(CONFIG));
    insta::assert_snapshot!(fails(b, ErrorKind::ConflictingSwitch));
}

#[test]
fn unknown_hyperparameter_path() {
    let b = builder().hyperparameter("trainer.optimizer.nope", None);
    insta::assert_snapshot!(fails(b, ErrorKind::UnknownHyperparameterPath));
}

#[test]
fn not_optimizable() {
    let b = builder().hyperparameter_json(
        "trainer.num_train_epochs",
        Some(&json!({"uniform": {"min": 1, "max": 2}})),
    );
    insta::assert_snapshot!(fails(b, ErrorKind::NotOptimizable));
}

#[test]
fn not_a_oneof() {
    let b = builder().hyperparameter("trainer.optimizer.momentum_optimizer", None);
    insta::assert_snapshot!(fails(b, ErrorKind::NotAOneof));
}

#[test]
fn no_default_distribution() {
    let b = builder().hyperparameter("trainer.batch_size", None);
    insta::assert_snapshot!(fails(b, ErrorKind::NoDefaultDistribution));
}

#[test]
fn invalid_distribution() {
    let b =
        builder().hyperparameter_json("trainer.batch_size", Some(&json!({"gaussian": {"mu": 1}})));
    insta::assert_snapshot!(fails(b, ErrorKind::InvalidDistribution));
}

#[test]
fn out_of_space_range() {
    let b = builder()
        .hyperparameter("trainer.initial_learning_rate", None)
        .set("initial_learning_rate", json!(0.5));
    insta::assert_snapshot!(fails(b, ErrorKind::OutOfSpace));
}

#[test]
fn out_of_space_categorical() {
    let values = json!({"categorical": {"values": [{"string_value": "momentum_optimizer"}, {"string_value": "adam_optimizer"}]}});
    let b = builder()
        .hyperparameter_json("trainer.optimizer", Some(&values))
        .set("optimizer", json!({"nadam_optimizer": {}}));
    insta::assert_snapshot!(fails(b, ErrorKind::OutOfSpace));
}

#[test]
fn invalid_value() {
    let b = builder().set("batch_size", json!("8"));
    insta::assert_snapshot!(fails(b, ErrorKind::InvalidValue));
}

#[test]
fn invalid_value_nested() {
    let b = builder().set(
        "learning_rate_policy",
        json!({"manual_step_learning_rate": {"schedule": [{"step_pct": 0.5}, {"step_pct": "half"}]}}),
    );
    insta::assert_snapshot!(fails(b, ErrorKind::InvalidValue));
}

#[test]
fn missing_required() {
    let b = ExperimentBuilder::new(KEY).unwrap();
    insta::assert_snapshot!(fails(b, ErrorKind::MissingRequired));
}

#[test]
fn missing_required_in_a_distribution() {
    let b =
        builder().hyperparameter_json("trainer.batch_size", Some(&json!({"uniform": {"min": 1}})));
    insta::assert_snapshot!(fails(b, ErrorKind::MissingRequired));
}

#[test]
fn first_hyperparameter_error_wins() {
    let b = builder()
        .hyperparameter("trainer.num_train_steps", None)
        .hyperparameter("trainer.nope", None)
        .set("not_a_field", Value::Null);
    assert_eq!(b.build().unwrap_err().kind(), ErrorKind::NotOptimizable);
}
