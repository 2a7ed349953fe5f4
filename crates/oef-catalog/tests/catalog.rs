//! The embedded catalog: parsing, lookup, filters, and validation of every entry against the
//! v0 schema (through the descriptor pool of `oef-proto`).

use oef_catalog::{Catalog, CatalogError, Filter, legacy_key};
use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::Value;

#[test]
fn embedded_catalog_parses() {
    let catalog = Catalog::global();
    assert_eq!(catalog.len(), 404);
    let keys: Vec<&str> = catalog.iter().map(|a| a.key.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    for a in catalog {
        assert_eq!(a.key_parts().len(), 4, "{}", a.key);
        assert!(!a.display_name.is_empty(), "{}", a.key);
        assert!(a.default_args.is_object(), "{}", a.key);
    }
}

#[test]
fn catalog_matches_the_reference_list() {
    let text = include_str!("../../../tests/fixtures/legacy-oef/architectures.json");
    let reference: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap();
    let catalog = Catalog::global();
    assert_eq!(reference.len(), catalog.len());
    for (key, entry) in &reference {
        let a = catalog
            .get_exact(key)
            .unwrap_or_else(|| panic!("{key} missing"));
        assert_eq!(entry["display_name"], a.display_name);
        assert_eq!(entry["default_args"], a.default_args, "{key}");
        assert_eq!(
            entry["switch_args"],
            serde_json::to_value(&a.switch_args).unwrap(),
            "{key}"
        );
    }
}

#[test]
fn lookup_and_legacy_keys() {
    let catalog = Catalog::global();
    let key = "image_detection.pretraining_natural_rgb.ssd.mobilenet_v1";
    assert_eq!(catalog.get(key).unwrap().key, key);
    // The legacy order is task, pretraining..., backbone moved second.
    let legacy = "image_detection.ssd.mobilenet_v1.pretraining_natural_rgb";
    assert_eq!(
        legacy_key(legacy),
        "image_detection.pretraining_natural_rgb.ssd.mobilenet_v1"
    );
    assert_eq!(catalog.get(legacy).unwrap().key, key);
    let err = catalog
        .get("image_detection.pretraining_natural_rgb.ssd.mobilenet_v9")
        .unwrap_err();
    let CatalogError::UnknownArchitecture { closest, .. } = &err;
    assert_eq!(closest.len(), 3);
    assert_eq!(
        closest[0],
        "image_detection.pretraining_natural_rgb.ssd.mobilenet_v1"
    );
    insta::assert_snapshot!(err.to_string());
    // A two-part key is its own legacy reordering: the message does not repeat it.
    let err = catalog.get("image_clasification.softmax").unwrap_err();
    assert!(err.to_string().starts_with("unknown architecture 'image_clasification.softmax'; closest: "), "{err}");
}

#[test]
fn from_sources_checks_every_entry_and_global_parses_on_first_read() {
    let good = r#"{"t.p.m.b": {"display_name": "B", "default_args": {"trainer": {"batch_size": 8}}}}"#;
    let catalog = Catalog::from_sources(&[("t", good)]).unwrap();
    assert_eq!(catalog.get("t.p.m.b").unwrap().default_args["trainer"]["batch_size"], 8);

    // Valid JSON text that is no serde_json value (a number beyond f64): named with its key.
    let bad = r#"{"t.p.m.b": {"display_name": "B", "default_args": {"x": 1e999}}}"#;
    let err = Catalog::from_sources(&[("t", bad)]).unwrap_err();
    assert!(err.starts_with("t.p.m.b: default_args:"), "{err}");
    let broken = r#"{"t.p.m.b": {"display_name": "B", "default_args": {"x": }}}"#;
    let err = Catalog::from_sources(&[("t", broken)]).unwrap_err();
    assert!(err.starts_with("catalog/t.json:"), "{err}");

    // The embedded catalog leaves an entry's defaults as text until they are read.
    let entry = Catalog::global()
        .get_exact("image_ocr.pretraining_none.attention.inception_v3")
        .unwrap();
    let copy = entry.clone();
    // (Another test in the same process may have read this entry already.)
    assert!(entry.default_args.is_parsed() || !copy.default_args.is_parsed());
    assert!(copy.default_args.is_object());
    assert!(copy.default_args.is_parsed());
    assert_eq!(copy, *entry);
}

#[test]
fn filters() {
    let catalog = Catalog::global();
    assert_eq!(catalog.by_task("image_classification").count(), 138);
    assert_eq!(catalog.by_task("image_detection").count(), 258);
    assert!(catalog.by_meta_arch("ssd").all(|a| a.meta_arch() == "ssd"));
    assert!(catalog.by_backbone("mobilenet_v1").count() > 1);
    assert!(catalog.by_pretraining("pretraining_none").count() > 1);
    let filter = Filter {
        task: Some("image_detection".into()),
        meta_arch: Some("ssd".into()),
        backbone: Some("mobilenet_v1".into()),
        ..Filter::default()
    };
    let keys: Vec<&str> = catalog.filter(&filter).map(|a| a.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "image_detection.pretraining_natural_rgb.ssd.mobilenet_v1",
            "image_detection.pretraining_none.ssd.mobilenet_v1"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Schema validation

fn check_message(desc: &MessageDescriptor, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(object) = value.as_object() else {
        errors.push(format!(
            "{path}: expected an object for message {}",
            desc.full_name()
        ));
        return;
    };
    for (name, v) in object {
        let here = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        match desc.get_field_by_name(name) {
            None => errors.push(format!("{here}: no such field in {}", desc.full_name())),
            Some(field) => check_field(&field, v, &here, errors),
        }
    }
    // At most one member of each oneof.
    for oneof in desc.oneofs() {
        let set: Vec<&str> = oneof
            .fields()
            .filter(|f| object.contains_key(f.name()))
            .map(|_| "x")
            .collect();
        if set.len() > 1 {
            errors.push(format!("{path}: several members of oneof {}", oneof.name()));
        }
    }
}

fn check_field(field: &FieldDescriptor, value: &Value, path: &str, errors: &mut Vec<String>) {
    // `null` leaves a scalar or repeated field unset (Python constructors skip `None`).
    let is_message = matches!(field.kind(), Kind::Message(_));
    if value.is_null() && (field.is_list() || !is_message) {
        return;
    }
    if field.is_map() {
        errors.push(format!(
            "{path}: map fields are not expected in the catalog"
        ));
    } else if field.cardinality() == Cardinality::Repeated {
        match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_single(field, item, &format!("{path}[{i}]"), errors);
                }
            }
            None => errors.push(format!("{path}: expected a list")),
        }
    } else {
        check_single(field, value, path, errors);
    }
}

fn check_single(field: &FieldDescriptor, value: &Value, path: &str, errors: &mut Vec<String>) {
    let int_in = |lo: i128, hi: i128| {
        value
            .as_i64()
            .map(i128::from)
            .or(value.as_u64().map(i128::from))
            .is_some_and(|v| lo <= v && v <= hi)
    };
    let ok = match field.kind() {
        Kind::Message(m) => {
            check_message(&m, value, path, errors);
            true
        }
        Kind::Enum(e) => match value {
            Value::String(s) => e.get_value_by_name(s).is_some(),
            Value::Number(n) => n
                .as_i64()
                .is_some_and(|n| i32::try_from(n).is_ok_and(|n| e.get_value(n).is_some())),
            _ => false,
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => int_in(i32::MIN.into(), i32::MAX.into()),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => int_in(i64::MIN.into(), i64::MAX.into()),
        Kind::Uint32 | Kind::Fixed32 => int_in(0, u32::MAX.into()),
        Kind::Uint64 | Kind::Fixed64 => int_in(0, u64::MAX.into()),
        Kind::Float => value
            .as_f64()
            .is_some_and(|v| v.abs() <= f64::from(f32::MAX)),
        Kind::Double => value.is_number(),
        Kind::Bool => value.is_boolean(),
        Kind::String => value.is_string(),
        Kind::Bytes => false,
    };
    if !ok {
        errors.push(format!("{path}: {value} is not a valid {:?}", field.kind()));
    }
}

/// Resolves `trainer.optimizer.optimizer` to the message holding the oneof and the oneof.
fn check_switch_field(path: &str, member: &str) -> Result<(), String> {
    let mut desc = oef_proto::descriptor::v0_experiment();
    let segments: Vec<&str> = path.split('.').collect();
    let (oneof_name, fields) = segments.split_last().ok_or("empty path")?;
    for segment in fields {
        let field = desc
            .get_field_by_name(segment)
            .ok_or_else(|| format!("{path}: no field '{segment}' in {}", desc.full_name()))?;
        desc = match field.kind() {
            Kind::Message(m) if !field.is_list() && !field.is_map() => m,
            _ => {
                return Err(format!(
                    "{path}: '{segment}' is not a singular message field"
                ));
            }
        };
    }
    let oneof = desc
        .oneofs()
        .find(|o| o.name() == *oneof_name)
        .ok_or_else(|| format!("{path}: no oneof '{oneof_name}' in {}", desc.full_name()))?;
    if !oneof.fields().any(|f| f.name() == member) {
        return Err(format!(
            "{path}: '{member}' is not a member of oneof '{oneof_name}'"
        ));
    }
    Ok(())
}

#[test]
fn every_entry_fits_the_v0_schema() {
    let root = oef_proto::descriptor::v0_experiment();
    let mut errors = Vec::new();
    for a in Catalog::global() {
        let mut local = Vec::new();
        check_message(&root, &a.default_args, "", &mut local);
        for (i, switch) in a.switch_args.iter().enumerate() {
            if let Err(e) = check_switch_field(&switch.field, &switch.triggering_value) {
                local.push(format!("switch_args[{i}]: {e}"));
            }
            check_message(
                &root,
                &switch.target_value,
                &format!("switch_args[{i}]"),
                &mut local,
            );
        }
        errors.extend(local.into_iter().map(|e| format!("{}: {e}", a.key)));
    }
    assert!(
        errors.is_empty(),
        "{} problems:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn validation_catches_bad_entries() {
    let root = oef_proto::descriptor::v0_experiment();
    let bad = serde_json::json!({
        "trainer": {"batch_size": 1.5, "nope": 1,
                    "optimizer": {"adam_optimizer": {}, "nadam_optimizer": {}},
                    "image_classification": {"backbone": {"input": {"image_resizer": {
                        "fixed_shape_resizer": {"resize_method": "NOPE"}}}}}}
    });
    let mut errors = Vec::new();
    check_message(&root, &bad, "", &mut errors);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(check_switch_field("trainer.optimizer.optimizer", "adam_optimizer").is_ok());
    assert!(check_switch_field("trainer.optimizer.optimizer", "sgd").is_err());
    assert!(check_switch_field("trainer.optimizer.nope", "adam_optimizer").is_err());
    assert!(check_switch_field("trainer.batch_size.x", "adam_optimizer").is_err());
}

/// The builder relies on it: the reference indexes the selected member of a switched oneof,
/// which fails when the defaults select none (and kwargs can only add selections).
#[test]
fn every_switched_oneof_has_a_default_member() {
    let mut errors = Vec::new();
    for a in Catalog::global() {
        for switch in &a.switch_args {
            let segments: Vec<&str> = switch.field.split('.').collect();
            let (oneof, parents) = segments.split_last().unwrap();
            let mut desc = oef_proto::descriptor::v0_experiment();
            let mut value: &Value = &a.default_args;
            for segment in parents {
                value = value.get(segment).unwrap_or(&Value::Null);
                let Kind::Message(m) = desc.get_field_by_name(segment).unwrap().kind() else {
                    unreachable!()
                };
                desc = m;
            }
            let members: Vec<String> = desc
                .oneofs()
                .find(|o| o.name() == *oneof)
                .unwrap()
                .fields()
                .map(|f| f.name().to_owned())
                .collect();
            let set = members
                .iter()
                .filter(|m| value.get(m.as_str()).is_some())
                .count();
            if set != 1 {
                errors.push(format!(
                    "{}: {} selects {set} members by default",
                    a.key, switch.field
                ));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
