//! Byte and JSON parity with deepomatic-oef 0.23.1 over the whole reference corpus: the 404
//! default experiments and the builder cases with outputs.

mod common;

use oef_proto::{
    codec::{self, Encoding},
    decoder, encoder, v0,
};
use prost::Message;
use prost_reflect as _;

fn corpus() -> Vec<common::Golden> {
    let mut all = common::defaults();
    assert_eq!(all.len(), 404, "404 default experiments in the fixtures");
    all.extend(common::override_outputs());
    all
}

#[test]
fn typed_binary_round_trip_is_byte_identical() {
    for golden in corpus() {
        let experiment = v0::Experiment::decode(golden.pb.as_slice()).unwrap();
        assert_eq!(experiment.encode_to_vec(), golden.pb, "{}: prost re-encoding differs", golden.key);
        assert_eq!(encoder::to_vec(&experiment), golden.pb, "{}: one-pass encoder differs", golden.key);
        assert_eq!(decoder::decode::<v0::Experiment>(&golden.pb).unwrap(), experiment, "{}", golden.key);
        let checked = codec::decode_v0(&golden.pb, Encoding::Binary).unwrap();
        assert_eq!(checked, experiment, "{}", golden.key);
    }
}

#[test]
fn lossless_binary_round_trip_is_byte_identical() {
    for golden in corpus() {
        let (detected, message) = codec::decode(&golden.pb).unwrap();
        assert_eq!(detected.version, codec::FORMAT_V0, "{}", golden.key);
        assert_eq!(detected.encoding, Encoding::Binary, "{}", golden.key);
        let bytes = codec::encode_message(&message, Encoding::Binary).unwrap();
        assert_eq!(bytes, golden.pb, "{}: reflection re-encoding differs", golden.key);
    }
}

#[test]
fn our_json_equals_the_reference_json_by_value() {
    for golden in corpus() {
        let experiment = v0::Experiment::decode(golden.pb.as_slice()).unwrap();
        let expected = common::json_value(golden.json.as_bytes());
        // pbjson serde (typed) and prost-reflect (lossless) must both print the reference JSON.
        let typed = common::json_value(&serde_json::to_vec(&experiment).unwrap());
        assert_eq!(typed, expected, "{}: pbjson JSON differs", golden.key);
        let printed = codec::encode_v0(&experiment, Encoding::Json).unwrap();
        assert_eq!(common::json_value(&printed), expected, "{}: codec JSON differs", golden.key);
    }
}

#[test]
fn reference_json_parses_to_the_binary_message() {
    for golden in corpus() {
        let from_pb = v0::Experiment::decode(golden.pb.as_slice()).unwrap();
        let typed: v0::Experiment = serde_json::from_str(&golden.json).unwrap();
        assert_eq!(typed, from_pb, "{}: pbjson parse differs", golden.key);
        let decoded = codec::decode_v0(golden.json.as_bytes(), Encoding::Json).unwrap();
        assert_eq!(decoded, from_pb, "{}: codec JSON parse differs", golden.key);
        let (detected, lossless) = codec::decode(golden.json.as_bytes()).unwrap();
        assert_eq!(detected, codec::Detected { encoding: Encoding::Json, version: 0 });
        assert_eq!(lossless.encode_to_vec(), golden.pb, "{}", golden.key);
    }
}

#[test]
fn text_format_round_trips() {
    for golden in corpus() {
        let experiment = v0::Experiment::decode(golden.pb.as_slice()).unwrap();
        let text = codec::encode_v0(&experiment, Encoding::Text).unwrap();
        let (detected, message) = codec::decode(&text).unwrap();
        assert_eq!(detected, codec::Detected { encoding: Encoding::Text, version: 0 }, "{}", golden.key);
        assert_eq!(message.encode_to_vec(), golden.pb, "{}: text round trip differs", golden.key);
    }
}

#[test]
fn unknown_fields_survive_the_lossless_path_only() {
    let golden = &common::defaults()[0];
    // A newer writer's field 99 (string) and a field inside `trainer` (tag 9999, varint).
    let mut bytes = golden.pb.clone();
    bytes.extend_from_slice(&[0x9a, 0x06, 3, b'n', b'e', b'w']);
    let (_, message) = codec::decode(&bytes).unwrap();
    assert_eq!(message.encode_to_vec(), bytes, "unknown top-level field kept in place");
    let typed = codec::decode_v0(&bytes, Encoding::Binary).unwrap();
    assert_eq!(typed.encode_to_vec(), golden.pb, "the typed path drops it, by design");
}

#[test]
fn missing_required_fields_are_reported_with_paths() {
    let golden = &common::defaults()[0];
    let mut experiment = v0::Experiment::decode(golden.pb.as_slice()).unwrap();
    experiment.dataset.config_path = String::new();
    let mut message = prost_reflect::DynamicMessage::decode(
        oef_proto::descriptor::v0_experiment(),
        experiment.encode_to_vec().as_slice(),
    )
    .unwrap();
    // Clearing the required `dataset.config_path` through reflection (prost always writes it).
    let dataset = message.get_field_by_name_mut("dataset").unwrap().as_message_mut().unwrap();
    dataset.clear_field_by_name("config_path");
    let bytes = message.encode_to_vec();
    let err = codec::decode(&bytes).unwrap_err();
    assert_eq!(
        err.kind,
        oef_proto::CodecErrorKind::MissingRequired(vec!["dataset.config_path".into()])
    );
    assert!(err.to_string().contains("dataset.config_path"), "{err}");

    // Inside map values: every entry checked, in key order, with the key in the path.
    let mut hyperparameters = std::collections::HashMap::new();
    for key in ["trainer.z", "trainer.a"] {
        let mut uniform = prost_reflect::DynamicMessage::new(
            oef_proto::descriptor::pool()
                .get_message_by_name("deepomatic.oef.hyperparameter.UniformDistribution")
                .unwrap(),
        );
        uniform.set_field_by_name("min", prost_reflect::Value::F32(0.0));
        let mut hp = prost_reflect::DynamicMessage::new(
            oef_proto::descriptor::pool()
                .get_message_by_name("deepomatic.oef.hyperparameter.HyperParameter")
                .unwrap(),
        );
        hp.set_field_by_name("uniform", prost_reflect::Value::Message(uniform));
        hyperparameters.insert(prost_reflect::MapKey::String(key.into()), prost_reflect::Value::Message(hp));
    }
    message.set_field_by_name("hyperparameters", prost_reflect::Value::Map(hyperparameters));
    assert_eq!(
        codec::missing_required(&message),
        vec![
            "dataset.config_path".to_owned(),
            r#"hyperparameters["trainer.a"].uniform.max"#.to_owned(),
            r#"hyperparameters["trainer.z"].uniform.max"#.to_owned(),
        ]
    );
}
