//! Property tests: random variations of the corpus (scalar values, enum values, unknown fields,
//! hyperparameters) survive v0 → v1 → v0 exactly, through every encoding the input allows.

mod common;

use oef_migrations::{Document, document, snapshot};
use oef_proto::codec::Encoding;
use prost::Message;
use prost_reflect::{DynamicMessage, Kind, MapKey, ReflectMessage, Value};
use proptest::prelude::*;

/// A scalar value of `kind` drawn from `r`.
fn scalar(kind: &Kind, r: u64) -> Option<Value> {
    Some(match kind {
        Kind::Bool => Value::Bool(r & 1 == 1),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32((r as i32) >> (r % 31)),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64((r as i64) >> (r % 63)),
        Kind::Uint32 | Kind::Fixed32 => Value::U32((r as u32) >> (r % 31)),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(r >> (r % 63)),
        Kind::Float => Value::F32((r % 1_000_003) as f32 / 7.0 - 5000.0),
        Kind::Double => Value::F64(((r >> 11) as f64) / 3.0),
        Kind::String => Value::String(format!("s{r:x}")),
        Kind::Bytes => Value::Bytes(r.to_le_bytes().to_vec().into()),
        Kind::Enum(e) => {
            let values: Vec<i32> = e.values().map(|v| v.number()).collect();
            Value::EnumNumber(values[(r as usize) % values.len()])
        }
        Kind::Message(_) => return None,
    })
}

/// One random change somewhere in the present part of `message`.
fn mutate(message: &mut DynamicMessage, r: u64, depth: u32) {
    let desc = message.descriptor();
    let fields: Vec<_> = desc.fields().filter(|f| !f.is_map()).collect();
    if fields.is_empty() {
        return;
    }
    // Recurse into a present sub-message half of the time.
    let present: Vec<_> = fields
        .iter()
        .filter(|f| matches!(f.kind(), Kind::Message(_)) && !f.is_list() && message.has_field(f))
        .cloned()
        .collect();
    if depth < 8 && !present.is_empty() && r % 2 == 0 {
        let field = &present[(r as usize / 2) % present.len()];
        if let Some(sub) = message.get_field_mut(field).as_message_mut() {
            mutate(sub, r.rotate_right(7), depth + 1);
        }
        return;
    }
    match (r >> 1) % 8 {
        // An unknown field (written by a newer tool): varint or length-delimited.
        0 => {
            let number = 1000 + (r % 500) as u32;
            let mut bytes = Vec::new();
            prost::encoding::encode_key(number, prost::encoding::WireType::Varint, &mut bytes);
            prost::encoding::encode_varint(r >> 20, &mut bytes);
            let _ = message.merge(bytes.as_slice());
        }
        1 => {
            let number = 2000 + (r % 500) as u32;
            let mut bytes = Vec::new();
            prost::encoding::bytes::encode(number, &r.to_be_bytes().to_vec(), &mut bytes);
            let _ = message.merge(bytes.as_slice());
        }
        _ => {
            let field = &fields[(r as usize >> 4) % fields.len()];
            if field.is_list() {
                if let Some(value) = scalar(&field.kind(), r) {
                    message.set_field(field, Value::List(vec![value.clone(), value]));
                }
            } else if let Some(value) = scalar(&field.kind(), r >> 3) {
                message.set_field(field, value);
            }
        }
    }
}

fn add_hyperparameter(message: &mut DynamicMessage, r: u64) {
    let desc = message.descriptor();
    let Some(field) = desc.get_field_by_name("hyperparameters") else { return };
    let Kind::Message(entry) = field.kind() else { return };
    let Kind::Message(hp) = entry.map_entry_value_field().kind() else { return };
    let mut value = DynamicMessage::new(hp.clone());
    // A uniform distribution {min, max}.
    if let Some(uniform) = hp.get_field_by_name("uniform") {
        if let Kind::Message(u) = uniform.kind() {
            let mut space = DynamicMessage::new(u.clone());
            space.set_field_by_name("min", Value::F32(0.0));
            space.set_field_by_name("max", Value::F32((r % 100) as f32 + 1.0));
            value.set_field(&uniform, Value::Message(space));
        }
    }
    if let Some(map) = message.get_field_mut(&field).as_map_mut() {
        map.insert(MapKey::String(format!("trainer.p{}", r % 7)), Value::Message(value));
    }
}

fn case() -> impl Strategy<Value = (usize, Vec<u64>)> {
    (0usize..404, prop::collection::vec(any::<u64>(), 0..24))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_variations_round_trip((index, changes) in case()) {
        let defaults = &*DEFAULTS;
        let (key, pb) = &defaults[index];
        let desc = snapshot::root_message(0).unwrap();
        let mut message = DynamicMessage::decode(desc, pb.as_slice()).unwrap();
        for (i, r) in changes.iter().enumerate() {
            if i % 5 == 4 {
                add_hyperparameter(&mut message, *r);
            } else {
                mutate(&mut message, *r, 0);
            }
        }
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

static DEFAULTS: std::sync::LazyLock<Vec<(String, Vec<u8>)>> = std::sync::LazyLock::new(|| {
    common::defaults().into_iter().map(|(k, pb, _)| (k, pb)).collect()
});

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
