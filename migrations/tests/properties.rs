//! Property tests: random variations of the corpus (scalar values, enum values, unknown fields,
//! hyperparameters) survive v0 → v1 → v0 exactly, through every encoding the input allows.

mod common;

use common::variations::{DEFAULTS, varied};
use oef_migrations::{Document, document};
use oef_proto::codec::Encoding;
use prost::Message;
use prost_reflect::{DynamicMessage, Kind, Value};
use proptest::prelude::*;

fn case() -> impl Strategy<Value = (usize, Vec<u64>)> {
    (0usize..404, prop::collection::vec(any::<u64>(), 0..24))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_variations_round_trip((index, changes) in case()) {
        let (key, pb) = &DEFAULTS[index];
        let message = varied(pb, &changes, 5);
        let input = Document { version: 0, message };
        let bytes = document::encode(&input, Encoding::Binary).unwrap();
        let (_, v0) = document::decode(&bytes).unwrap();
        let mut context = common::context();
        context.architecture = Some(key.clone());
        let v1 = common::REGISTRY.migrate(&v0, 1, &context).unwrap();
        let back = common::REGISTRY.migrate(&v1, 0, &context).unwrap();
        prop_assert!(back.message == v0.message);
        prop_assert!(document::encode(&back, Encoding::Binary).unwrap() == bytes);
        // Through the v1 file's JSON and text encodings as well.
        for encoding in [Encoding::Json, Encoding::Text] {
            let encoded = document::encode(&v1, encoding).unwrap();
            let (_, reread) = document::decode(&encoded).unwrap();
            let back = common::REGISTRY.migrate(&reread, 0, &context).unwrap();
            prop_assert!(back.message == v0.message, "{} differs through {}", key, encoding);
        }
    }
}

#[test]
fn v1_only_values_are_errors_naming_the_field() {
    let (key, pb) = &DEFAULTS[0];
    let (_, v0) = document::decode(pb).unwrap();
    let mut context = common::context();
    context.architecture = Some(key.clone());
    let v1 = common::REGISTRY.migrate(&v0, 1, &context).unwrap();
    // An _UNSPECIFIED enum value somewhere in the experiment.
    let mut file = v1.message.clone();
    let path = set_first_enum_to_zero(
        file.get_field_by_name_mut("experiment").unwrap().as_message_mut().unwrap(),
        "",
    )
    .expect("the default has an enum field");
    let error = common::REGISTRY
        .migrate(&Document { version: 1, message: file }, 0, &context)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with(&format!("{path}: ")), "{error}");
    assert!(error.contains("UNSPECIFIED"), "{error}");

    // A field unknown to the v1 schema (written by a newer v1 tool).
    let mut file = v1.message.clone();
    let trainer = file.get_field_by_name_mut("experiment").unwrap().as_message_mut().unwrap();
    let trainer = trainer.get_field_by_name_mut("trainer").unwrap().as_message_mut().unwrap();
    trainer.merge(&[0xc0, 0x3e, 0x01][..]).unwrap();
    let error = common::REGISTRY
        .migrate(&Document { version: 1, message: file }, 0, &context)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("trainer: field number 1000"), "{error}");

    // A v1 file without experiment.
    let mut file = v1.message.clone();
    file.clear_field_by_name("experiment");
    let error = common::REGISTRY.migrate(&Document { version: 1, message: file }, 0, &context).unwrap_err();
    assert!(error.to_string().starts_with("experiment: "), "{error}");

    // A required v0 field left unset in a v1 file.
    let mut file = v1.message.clone();
    let experiment = file.get_field_by_name_mut("experiment").unwrap().as_message_mut().unwrap();
    let trainer = experiment.get_field_by_name_mut("trainer").unwrap().as_message_mut().unwrap();
    trainer.clear_field_by_name("batch_size");
    let error = common::REGISTRY.migrate(&Document { version: 1, message: file }, 0, &context).unwrap_err();
    assert_eq!(error.to_string(), "trainer.batch_size: required in format v0 but unset");
}

fn set_first_enum_to_zero(message: &mut DynamicMessage, path: &str) -> Option<String> {
    let fields: Vec<_> = message.fields().map(|(f, _)| f).collect();
    for field in fields {
        let field_path = if path.is_empty() { field.name().to_owned() } else { format!("{path}.{}", field.name()) };
        if field.is_list() || field.is_map() {
            continue;
        }
        match field.kind() {
            Kind::Enum(_) => {
                message.set_field(&field, Value::EnumNumber(0));
                return Some(field_path);
            }
            Kind::Message(_) => {
                if let Some(sub) = message.get_field_mut(&field).as_message_mut() {
                    if let Some(found) = set_first_enum_to_zero(sub, &field_path) {
                        return Some(found);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

#[test]
fn decoded_encodings_are_detected_from_content() {
    let (_, pb) = &DEFAULTS[3];
    let (_, v0) = document::decode(pb).unwrap();
    for encoding in Encoding::ALL {
        let bytes = document::encode(&v0, encoding).unwrap();
        let (found, doc) = document::decode(&bytes).unwrap();
        assert_eq!((found, doc.version), (encoding, 0));
        let v1 = common::REGISTRY.migrate(&doc, 1, &common::context()).unwrap();
        let bytes = document::encode(&v1, encoding).unwrap();
        let (found, doc) = document::decode(&bytes).unwrap();
        assert_eq!((found, doc.version), (encoding, 1));
        let _ = doc.message.encode_to_vec();
    }
}
