//! The one-pass codec (`oef_proto::decoder`, `oef_proto::encoder`) behaves as prost for random
//! messages built from the descriptors, and for those messages' bytes mutated: same decoded
//! message or both an error, same encoded bytes. The messages cover every field kind and label of both formats, negative and NaN floats,
//! negative enums and integers, empty and non-empty strings, repeated and packed fields, maps
//! with default keys and values, oneofs (boxed or not, one renamed `…OneOf`), nesting.
//! (The corpus and 100 k mutated inputs are checked in `golden_parity` and
//! `decode_never_panics`.)

use oef_proto::{decoder, descriptor, encoder, v0, v1};
use proptest::prelude::*;
use prost::Message;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage, Value};

/// A small deterministic generator (xorshift64*), seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }
}

fn value(kind: &Kind, rng: &mut Rng, depth: u32) -> Value {
    let bits = rng.next();
    match kind {
        Kind::Double => Value::F64(rng.pick(&[0.0, -0.0, 1.5, -2.25, f64::NAN, f64::INFINITY, f64::from_bits(bits)])),
        Kind::Float => Value::F32(rng.pick(&[0.0, -0.0, 0.5, -3.0, f32::NAN, f32::NEG_INFINITY, f32::from_bits(bits as u32)])),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(rng.pick(&[0, 1, -1, 127, 128, i32::MIN, i32::MAX, bits as i32])),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(rng.pick(&[0, 1, -1, 300, i64::MIN, i64::MAX, bits as i64])),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(rng.pick(&[0, 1, 127, 128, 16_384, u32::MAX, bits as u32])),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(rng.pick(&[0, 1, 127, 128, u64::MAX, bits])),
        Kind::Bool => Value::Bool(bits & 1 == 1),
        Kind::String => Value::String(["", "a", "conv_hyperparams", "é✓", &"x".repeat(200)][rng.below(5) as usize].to_owned()),
        Kind::Bytes => Value::Bytes(vec![bits as u8; rng.below(4) as usize].into()),
        Kind::Enum(e) => {
            let numbers: Vec<i32> = e.values().map(|v| v.number()).collect();
            Value::EnumNumber(if rng.chance(8) { -1 } else { rng.pick(&numbers) })
        }
        Kind::Message(m) => Value::Message(message(m, rng, depth + 1)),
    }
}

fn map_key(kind: &Kind, rng: &mut Rng) -> MapKey {
    match value(kind, rng, 0) {
        Value::String(s) => MapKey::String(s),
        Value::I32(i) => MapKey::I32(i),
        Value::I64(i) => MapKey::I64(i),
        Value::U32(i) => MapKey::U32(i),
        Value::U64(i) => MapKey::U64(i),
        Value::Bool(b) => MapKey::Bool(b),
        other => panic!("not a map key: {other:?}"),
    }
}

fn field_value(field: &FieldDescriptor, rng: &mut Rng, depth: u32) -> Value {
    let kind = field.kind();
    if field.is_map() {
        let entry = kind.as_message().expect("map entry").clone();
        let (key, val) = (entry.map_entry_key_field().kind(), entry.map_entry_value_field().kind());
        let entries = (0..rng.below(4)).map(|_| (map_key(&key, rng), value(&val, rng, depth))).collect();
        Value::Map(entries)
    } else if field.is_list() {
        Value::List((0..rng.below(4)).map(|_| value(&kind, rng, depth)).collect())
    } else {
        value(&kind, rng, depth)
    }
}

/// A random message: each field set with probability 1/2 (nested ones less as depth grows).
fn message(desc: &MessageDescriptor, rng: &mut Rng, depth: u32) -> DynamicMessage {
    let mut message = DynamicMessage::new(desc.clone());
    if depth > 6 {
        return message;
    }
    for field in desc.fields() {
        if rng.chance(2 + u64::from(depth) / 2) {
            message.set_field(&field, field_value(&field, rng, depth));
        }
    }
    message
}

/// NaN made comparable: replaced by a number no generator produces, at any depth.
fn without_nan(value: &mut Value) {
    match value {
        Value::F32(f) if f.is_nan() => *f = 1234.5,
        Value::F64(f) if f.is_nan() => *f = 1234.5,
        Value::Message(m) => {
            let fields: Vec<_> = m.fields().map(|(f, _)| f).collect();
            for field in fields {
                without_nan(m.get_field_mut(&field));
            }
        }
        Value::List(items) => items.iter_mut().for_each(without_nan),
        Value::Map(entries) => entries.values_mut().for_each(without_nan),
        _ => {}
    }
}

/// `ours == theirs`, where NaN equals NaN and map order does not matter (`google.protobuf.Struct`
/// is a `HashMap`, so its encoding order differs between two equal messages).
fn same_message<M: Message + PartialEq>(full_name: &str, ours: &M, theirs: &M) -> bool {
    let desc = descriptor::message(full_name).expect(full_name);
    let reflect = |m: &M| {
        let mut value = Value::Message(DynamicMessage::decode(desc.clone(), m.encode_to_vec().as_slice()).unwrap());
        without_nan(&mut value);
        value
    };
    ours == theirs || reflect(ours) == reflect(theirs)
}

/// Both decoders give the same result: equal messages, or both an error.
pub fn same_decoding<M: Message + Default + PartialEq + decoder::MergeField>(full_name: &str, bytes: &[u8]) -> Option<M> {
    match (M::decode(bytes), decoder::decode::<M>(bytes)) {
        (Ok(theirs), Ok(ours)) => {
            assert!(same_message(full_name, &ours, &theirs), "decoders differ on {bytes:?}");
            Some(ours)
        }
        (Err(_), Err(_)) => None,
        (theirs, ours) => panic!("prost: {:?}\nours: {:?}\ninput: {bytes:?}", theirs.err(), ours.err()),
    }
}

fn check<M>(full_name: &str, seed: u64)
where
    M: Message + Default + PartialEq + encoder::EncodeReverse + decoder::MergeField,
{
    let desc = descriptor::message(full_name).expect(full_name);
    let mut rng = Rng(seed | 1);
    let bytes = message(&desc, &mut rng, 0).encode_to_vec();
    let typed = same_decoding::<M>(full_name, &bytes).expect("both decode what prost-reflect encodes");
    assert_eq!(encoder::to_vec(&typed), typed.encode_to_vec(), "{full_name}, seed {seed}");
    let mut reused = encoder::ReverseBuffer::with_capacity(0);
    assert_eq!(reused.encode(&typed), typed.encode_to_vec().as_slice(), "{full_name}, seed {seed}, growing buffer");
    // The same bytes damaged: a few bytes flipped, inserted, removed or the end cut.
    let mut damaged = bytes.clone();
    for _ in 0..=rng.below(3) {
        if damaged.is_empty() {
            break;
        }
        let at = rng.below(damaged.len() as u64) as usize;
        match rng.below(4) {
            0 => damaged[at] ^= 1 << rng.below(8),
            1 => damaged.insert(at, rng.next() as u8),
            2 => drop(damaged.remove(at)),
            _ => damaged.truncate(at),
        }
    }
    if let Some(message) = same_decoding::<M>(full_name, &damaged) {
        assert_eq!(encoder::to_vec(&message), message.encode_to_vec(), "{full_name}, seed {seed}, damaged");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn v0_experiments(seed in any::<u64>()) {
        check::<v0::Experiment>("deepomatic.oef.experiment.Experiment", seed);
    }

    #[test]
    fn v1_files(seed in any::<u64>()) {
        check::<v1::ExperimentFile>("oef.v1.ExperimentFile", seed);
    }

    #[test]
    fn v1_service_messages(seed in any::<u64>()) {
        check::<v1::LaunchExperimentRequest>("oef.v1.LaunchExperimentRequest", seed);
        check::<v1::WatchTrainingResponse>("oef.v1.WatchTrainingResponse", seed);
        check::<v1::ListTrainingsResponse>("oef.v1.ListTrainingsResponse", seed);
        check::<v1::ClaimTrainingResponse>("oef.v1.ClaimTrainingResponse", seed);
    }

    #[test]
    fn dataset_dumps(seed in any::<u64>()) {
        check::<v0::dataset_v1::DatasetDump>("deepomatic.oef.dataset_v1.DatasetDump", seed);
        check::<v0::dataset_v2::DataPoint>("deepomatic.oef.dataset_v2.DataPoint", seed);
    }
}

/// The reflective statement of format v1's rule, the oracle of the generated walk: each scalar
/// with presence outside a real oneof, unset in a present message, in field number order;
/// set messages (singular, repeated items, oneof members) entered; map values not.
fn unset_by_reflection(message: &DynamicMessage, prefix: &str, out: &mut Vec<String>) {
    for field in message.descriptor().fields() {
        let path = format!("{prefix}.{}", field.name());
        let in_real_oneof = field.containing_oneof().is_some_and(|o| !o.is_synthetic());
        if !message.has_field(&field) {
            if field.supports_presence() && !in_real_oneof && field.kind().as_message().is_none() {
                out.push(path);
            }
            continue;
        }
        match message.get_field(&field).as_ref() {
            Value::Message(sub) => unset_by_reflection(sub, &path, out),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(sub) = item {
                        unset_by_reflection(sub, &format!("{path}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_explicit_values_walk_finds_what_reflection_finds(seed in any::<u64>()) {
        let desc = descriptor::message("oef.v1.Experiment").expect("v1 Experiment");
        let mut rng = Rng(seed | 1);
        let random = message(&desc, &mut rng, 0);
        // As a typed message and back, so both sides see the same (decoded) values.
        let typed = v1::Experiment::decode(random.encode_to_vec().as_slice()).expect("decodes");
        let reflected = DynamicMessage::decode(desc, typed.encode_to_vec().as_slice()).expect("decodes");
        let mut expected = Vec::new();
        unset_by_reflection(&reflected, "experiment", &mut expected);
        prop_assert_eq!(oef_proto::explicit::unset_values(&typed), expected);
    }
}
