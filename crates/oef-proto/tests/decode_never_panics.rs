//! Decoding never panics: arbitrary bytes and mutations of real experiments (binary, JSON and
//! text) go through every public decode entry point and come back `Ok` or a typed error.
//! 4 × 25 000 cases in the normal test run. Every input prost decodes also checks that the
//! one-pass codec (`oef_proto::decoder`, `oef_proto::encoder`) decodes it as prost does and
//! re-encodes it with prost's bytes.

mod common;

use std::sync::LazyLock;

use oef_proto::{
    codec::{self, Encoding},
    decoder, descriptor, encoder, v0, v1,
};
use proptest::prelude::*;
use prost::Message;
use prost_reflect::ReflectMessage;

const CASES_PER_TEST: u32 = 25_000;

/// A sample of real encodings to mutate: every 8th default, in all three encodings.
static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut seeds = Vec::new();
    for golden in common::defaults().into_iter().step_by(8) {
        let experiment = codec::decode_v0(&golden.pb, Encoding::Binary).unwrap();
        seeds.push(codec::encode_v0(&experiment, Encoding::Text).unwrap());
        seeds.push(golden.json.into_bytes());
        seeds.push(golden.pb);
    }
    seeds
});

/// The one-pass decoder gives prost's result (message or error), and whatever prost decodes,
/// the one-pass encoder writes with prost's bytes.
fn codecs_agree<M: Message + Default + PartialEq + encoder::EncodeReverse + decoder::MergeField>(bytes: &[u8]) {
    match (M::decode(bytes), decoder::decode::<M>(bytes)) {
        (Ok(theirs), Ok(ours)) => {
            assert!(ours == theirs || ours.encode_to_vec() == theirs.encode_to_vec(), "decoders differ");
            assert_eq!(encoder::to_vec(&theirs), theirs.encode_to_vec(), "one-pass encoder differs from prost");
        }
        (Err(_), Err(_)) => {}
        (theirs, ours) => panic!("prost: {:?}\nours: {:?}\ninput: {bytes:?}", theirs.err(), ours.err()),
    }
}

/// Runs `bytes` through every decode entry point; each must return, never panic.
fn decode_everywhere(bytes: &[u8]) {
    codecs_agree::<v0::Experiment>(bytes);
    codecs_agree::<v1::Experiment>(bytes);
    codecs_agree::<v1::ExperimentFile>(bytes);
    let detected = codec::detect(bytes);
    let decoded = codec::decode(bytes);
    if let (Ok(d), Ok((d2, message))) = (&detected, &decoded) {
        assert_eq!(d, d2, "detect and decode agree");
        assert_eq!(message.descriptor().full_name(), d.root_message());
    }
    if let Err(e) = &decoded {
        assert!(!e.to_string().is_empty());
    }
    let roots = [descriptor::v0_experiment(), descriptor::v1_experiment(), descriptor::v1_experiment_file()];
    for encoding in Encoding::ALL {
        let _ = codec::decode_v0(bytes, encoding);
        let _ = codec::decode_v1_file(bytes, encoding);
        for root in &roots {
            if let Ok(message) = codec::decode_message(bytes, encoding, root) {
                let _ = codec::missing_required(&message);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bits: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
    Truncate { at: usize },
    Duplicate { from: usize, len: usize, at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), 1usize..64, any::<usize>())
            .prop_map(|(from, len, at)| Mutation::Duplicate { from, len, at }),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match *m {
            Mutation::Flip { at, bits } => bytes[at % n] ^= bits,
            Mutation::Insert { at, byte } => bytes.insert(at % (n + 1), byte),
            Mutation::Delete { at } => {
                bytes.remove(at % n);
            }
            Mutation::Truncate { at } => bytes.truncate(at % n),
            Mutation::Duplicate { from, len, at } => {
                let from = from % n;
                let chunk: Vec<u8> = bytes[from..(from + len).min(n)].to_vec();
                let at = at % (n + 1);
                bytes.splice(at..at, chunk);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES_PER_TEST, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_everywhere(&bytes);
    }

    #[test]
    fn arbitrary_text(text in "[{}<>\\[\\]:,\" a-z_0-9.\\n-]{0,300}") {
        decode_everywhere(text.as_bytes());
    }

    #[test]
    fn mutated_corpus(seed in any::<prop::sample::Index>(), mutations in proptest::collection::vec(mutation(), 1..6)) {
        let original = SEEDS[seed.index(SEEDS.len())].clone();
        decode_everywhere(&apply(original, &mutations));
    }

    #[test]
    fn mutated_binary_with_detection_invariants(seed in any::<prop::sample::Index>(), mutations in proptest::collection::vec(mutation(), 1..4)) {
        // SEEDS holds (text, JSON, binary) per experiment: take a binary one.
        let experiments = SEEDS.len() / 3;
        let bytes = apply(SEEDS[3 * seed.index(experiments) + 2].clone(), &mutations);
        decode_everywhere(&bytes);
    }
}

#[test]
fn deeply_nested_text_and_json_are_errors_not_stack_overflows() {
    let deep_text = format!("dataset {}{}", "{ a ".repeat(100_000), "}".repeat(100_000));
    assert!(codec::decode(deep_text.as_bytes()).is_err());
    let deep_json = format!("{{\"dataset\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(codec::decode(deep_json.as_bytes()).is_err());
    let deep_binary = {
        // trainer { trainer { ... } } nested far beyond prost's recursion limit.
        let mut b: Vec<u8> = Vec::new();
        for _ in 0..10_000 {
            let mut outer = vec![0x1a];
            let mut len = b.len();
            while len >= 0x80 {
                outer.push((len as u8) | 0x80);
                len >>= 7;
            }
            outer.push(len as u8);
            outer.extend_from_slice(&b);
            b = outer;
        }
        b
    };
    decode_everywhere(&deep_binary);
}

#[test]
fn deeply_nested_recursive_messages_are_errors_not_stack_overflows() {
    let value = descriptor::pool().get_message_by_name("google.protobuf.Value").unwrap();
    let depth = 50_000;
    let text = format!(
        "{}null_value: NULL_VALUE{}",
        "list_value { values { ".repeat(depth),
        " } }".repeat(depth)
    );
    assert!(codec::decode_message(text.as_bytes(), Encoding::Text, &value).is_err());
    let json = format!("{}null{}", "[".repeat(depth), "]".repeat(depth));
    assert!(codec::decode_message(json.as_bytes(), Encoding::Json, &value).is_err());
    // A modest depth still decodes.
    let text = format!("{}null_value: NULL_VALUE{}", "list_value { values { ".repeat(20), " } }".repeat(20));
    assert!(codec::decode_message(text.as_bytes(), Encoding::Text, &value).is_ok());
}
