//! Random variations of corpus messages, for the property tests.

use std::sync::LazyLock;

use oef_migrations::snapshot;
use prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, MapKey, ReflectMessage, Value};

/// The binary default experiment of every key, as (key, bytes).
pub static DEFAULTS: LazyLock<Vec<(String, Vec<u8>)>> =
    LazyLock::new(|| super::defaults().into_iter().map(|(k, pb, _)| (k, pb)).collect());

/// The binary v0 experiment `pb`, decoded through the v0 snapshot, with one change per entry
/// of `changes`: every `hyperparameter_every`-th adds a hyperparameter, the others [`mutate`].
pub fn varied(pb: &[u8], changes: &[u64], hyperparameter_every: usize) -> DynamicMessage {
    let desc = snapshot::root_message(0).unwrap();
    let mut message = DynamicMessage::decode(desc, pb).unwrap();
    for (i, r) in changes.iter().enumerate() {
        if i % hyperparameter_every == hyperparameter_every - 1 {
            add_hyperparameter(&mut message, *r);
        } else {
            mutate(&mut message, *r, 0);
        }
    }
    message
}

/// A scalar value of `kind` drawn from `r`.
pub fn scalar(kind: &Kind, r: u64) -> Option<Value> {
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
pub fn mutate(message: &mut DynamicMessage, r: u64, depth: u32) {
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

pub fn add_hyperparameter(message: &mut DynamicMessage, r: u64) {
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

