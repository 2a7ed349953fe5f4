//! v0 → v1 → v0 gives back the input, for the whole corpus; unknown fields survive; every v1
//! file states every value.

mod common;

use common::{REGISTRY, context, defaults, overrides};
use oef_migrations::{Document, document};
use oef_proto::codec::Encoding;
use prost::Message;
use prost_reflect::{DynamicMessage, ReflectMessage, Value};

fn round_trip(name: &str, bytes: &[u8]) -> (Document, Document, Document) {
    round_trip_as(name, bytes, None)
}

fn round_trip_as(name: &str, bytes: &[u8], architecture: Option<&str>) -> (Document, Document, Document) {
    let (_, v0) = document::decode(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(v0.version, 0, "{name}");
    let mut ctx = context();
    ctx.architecture = architecture.map(str::to_owned);
    let v1 = REGISTRY.migrate(&v0, 1, &ctx).unwrap_or_else(|e| panic!("{name}: v0→v1: {e}"));
    // Every value stated, as format v1 requires (the platform rejects a file that leaves one unset).
    let typed = oef_proto::v1::ExperimentFile::decode(document::encode(&v1, Encoding::Binary).unwrap().as_slice()).unwrap();
    let unset = oef_proto::explicit::unset_values(typed.experiment.as_ref().expect("experiment"));
    assert!(unset.is_empty(), "{name}: unset in v1: {unset:?}");
    // The v1 file survives every encoding through the v1 snapshot.
    for encoding in Encoding::ALL {
        let encoded = document::encode(&v1, encoding).unwrap();
        assert!(encoded == document::encode(&v1.clone(), encoding).unwrap(), "{name}: not deterministic");
        let (found, again) = document::decode(&encoded).unwrap_or_else(|e| panic!("{name} {encoding}: {e}"));
        assert_eq!(found, encoding);
        let binary = |d: &Document| document::encode(d, Encoding::Binary).unwrap();
        assert!(binary(&again) == binary(&v1), "{name} {encoding}");
    }
    let back = REGISTRY.migrate(&v1, 0, &context()).unwrap_or_else(|e| panic!("{name}: v1→v0: {e}"));
    assert_eq!(back.message, v0.message, "{name}: v0→v1→v0 changed the message");
    assert!(document::encode(&back, Encoding::Binary).unwrap() == document::encode(&v0, Encoding::Binary).unwrap(), "{name}");
    (v0, v1, back)
}

#[test]
fn every_default_round_trips_binary_and_json() {
    let defaults = defaults();
    assert_eq!(defaults.len(), 404);
    for (key, pb, json) in &defaults {
        let (_, v1, back) = round_trip(key, pb);
        // The deterministic binary of the reference comes back byte for byte.
        assert!(&document::encode(&back, Encoding::Binary).unwrap() == pb, "{key}");
        // The default of a key is inferred as that key.
        assert_eq!(
            v1.message.get_field_by_name("architecture").unwrap().as_str(),
            Some(key.as_str()),
            "{key}"
        );
        round_trip(&format!("{key}.json"), json);
    }
}

#[test]
fn every_override_case_round_trips() {
    let cases = overrides();
    assert!(cases.len() >= 20, "{}", cases.len());
    let mut inferred = 0;
    for (name, model, pb, json) in &cases {
        let (_, v1, back) = round_trip_as(name, pb, Some(model));
        assert!(document::encode(&back, Encoding::Binary).unwrap() == *pb, "{name}");
        assert_eq!(v1.message.get_field_by_name("architecture").unwrap().as_str(), Some(model.as_str()));
        round_trip_as(&format!("{name}.json"), json, Some(model));
        // Inference finds the case's model, or reports a tie that includes it.
        let (_, v0) = document::decode(pb).unwrap();
        match common::INDEX.infer(&v0.message) {
            Ok(found) => {
                assert_eq!(&found.key, model, "{name}");
                inferred += 1;
            }
            Err(oef_migrations::architecture::ArchitectureError::Ambiguous { candidates, .. }) => {
                assert!(candidates.contains(model), "{name}: {candidates:?}");
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
    assert!(inferred + 2 >= cases.len(), "{inferred} of {}", cases.len());
}

#[test]
fn defaults_are_explicit_and_recorded() {
    let (_, pb, _) = &defaults()[0];
    let (v0, v1, _) = round_trip("first", pb);
    let experiment = v1.message.get_field_by_name("experiment").unwrap();
    let experiment = experiment.as_message().unwrap();
    // max_hp_runs has a proto2 default of 1; unset in the builder's output, explicit in v1.
    assert!(!v0.message.has_field_by_name("max_hp_runs"));
    assert!(experiment.has_field_by_name("max_hp_runs"));
    assert_eq!(experiment.get_field_by_name("max_hp_runs").unwrap().as_i32(), Some(1));
    let legacy = v1.message.get_field_by_name("legacy").unwrap();
    let implicit = legacy.as_message().unwrap().get_field_by_name("implicit_defaults").unwrap();
    let implicit: Vec<&str> = implicit.as_list().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(implicit.contains(&"max_hp_runs"), "{implicit:?}");
    assert!(implicit.iter().any(|p| p.starts_with("trainer.")), "{implicit:?}");
}

/// Appends unknown fields (numbers no schema uses) to the root and to `trainer`.
pub fn with_unknown_fields(pb: &[u8]) -> Vec<u8> {
    let desc = oef_migrations::snapshot::root_message(0).unwrap();
    let mut message = DynamicMessage::decode(desc, pb).unwrap();
    // root: varint field 900 and a length-delimited field 901
    message.merge(&[0xa0, 0x38, 0x2a, 0xaa, 0x38, 0x03, b'n', b'e', b'w'][..]).unwrap();
    let trainer = message.get_field_by_name_mut("trainer").unwrap().as_message_mut().unwrap();
    // trainer: fixed32 field 777
    trainer.merge(&[0xcd, 0x30, 1, 2, 3, 4][..]).unwrap();
    message.encode_to_vec()
}

/// `document::encode` writes nested messages itself (each length computed once); the bytes
/// must be prost-reflect's wherever no map needs ordering: the 404 defaults, before and after
/// migration, with unknown fields too.
#[test]
fn binary_encoding_is_prost_reflects() {
    for (key, pb, _) in &defaults() {
        let (v0, v1, _) = round_trip(key, pb);
        for (label, document) in [("v0", &v0), ("v1", &v1)] {
            assert!(
                document::encode(document, Encoding::Binary).unwrap() == document.message.encode_to_vec(),
                "{key} {label}"
            );
        }
    }
    for (key, pb, _) in defaults().iter().step_by(37) {
        let (_, v0) = document::decode(&with_unknown_fields(pb)).unwrap();
        assert!(document::encode(&v0, Encoding::Binary).unwrap() == v0.message.encode_to_vec(), "{key}");
    }
}

/// The one-pass encoder of `oef_proto::encoder` gives prost's bytes for real v1 files (every
/// default and builder case migrated).
#[test]
fn one_pass_encoder_writes_v1_files_as_prost() {
    let cases = overrides().into_iter().map(|(name, model, pb, _)| (name, Some(model), pb));
    for (name, model, pb) in defaults().into_iter().map(|(key, pb, _)| (key, None, pb)).chain(cases) {
        let (_, v1, _) = round_trip_as(&name, &pb, model.as_deref());
        let bytes = document::encode(&v1, Encoding::Binary).unwrap();
        let file = oef_proto::v1::ExperimentFile::decode(bytes.as_slice()).unwrap();
        assert!(oef_proto::encoder::to_vec(&file) == file.encode_to_vec(), "{name}: encoders differ");
    }
}

#[test]
fn unknown_fields_survive_v0_v1_v0() {
    for (key, pb, _) in defaults().iter().step_by(37) {
        let input = with_unknown_fields(pb);
        let (v0, v1, back) = round_trip(key, &input);
        assert!(document::encode(&back, Encoding::Binary).unwrap() == input, "{key}");
        assert!(v0.message.unknown_fields().count() == 2);
        let legacy = v1.message.get_field_by_name("legacy").unwrap();
        let unknown = legacy.as_message().unwrap().get_field_by_name("unknown_fields").unwrap();
        let map = unknown.as_map().unwrap();
        let keys: std::collections::BTreeSet<String> =
            map.keys().map(|k| format!("{k:?}")).collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        // Unknown fields only fit in binary: JSON/text of the restored v0 is refused.
        let error = document::encode(&back, Encoding::Json).unwrap_err().to_string();
        assert!(error.contains("(root)") || error.contains("trainer"), "{error}");
    }
}

/// The catalog defaults (built by oef-builder) are the reference defaults, so inference through
/// `oef-migrate`'s provider gives the same keys as through the fixtures.
#[test]
fn catalog_defaults_equal_the_fixtures() {
    use oef_migrations::{ArchitectureDefaults, CatalogDefaults};
    let built = CatalogDefaults.defaults().unwrap();
    let fixtures = defaults();
    assert_eq!(built.len(), fixtures.len());
    let mut built = built;
    built.sort_by(|a, b| a.0.cmp(&b.0));
    for ((key, experiment), (fixture_key, pb, _)) in built.iter().zip(&fixtures) {
        assert_eq!(key, fixture_key);
        assert!(experiment.encode_to_vec() == *pb, "{key}");
    }
}

#[test]
fn threads_with_their_own_schema_pools_migrate_the_same_bytes() {
    use oef_migrations::snapshot;
    let defaults = defaults();
    let sample: Vec<_> = defaults.iter().step_by(40).collect();
    let migrate = |pb: &[u8]| {
        let (_, v0) = document::decode(pb).unwrap();
        let v1 = REGISTRY.migrate(&v0, 1, &context()).unwrap();
        let back = REGISTRY.migrate(&v1, 0, &context()).unwrap();
        (
            v0.message.descriptor().parent_pool().clone(),
            document::encode(&v1, Encoding::Binary).unwrap(),
            document::encode(&v1, Encoding::Json).unwrap(),
            document::encode(&back, Encoding::Binary).unwrap(),
        )
    };
    let shared: Vec<_> = sample.iter().map(|(_, pb, _)| migrate(pb)).collect();
    let own = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                snapshot::use_thread_pools();
                sample.iter().map(|(_, pb, _)| migrate(pb)).collect::<Vec<_>>()
            })
            .join()
            .unwrap()
    });
    for (((key, pb, _), a), b) in sample.iter().zip(&shared).zip(&own) {
        assert!(&a.0 == snapshot::pool(0).unwrap(), "{key}: the main thread uses the shared pool");
        assert!(b.0 != a.0, "{key}: the worker thread uses its own pool");
        // The context's time is fixed: every encoding is the same byte for byte.
        assert!(a.1 == b.1, "{key}: v1 binary differs");
        assert!(a.2 == b.2, "{key}: v1 JSON differs");
        assert!(a.3 == b.3 && &b.3 == pb, "{key}: v1 → v0 differs");
    }
}
