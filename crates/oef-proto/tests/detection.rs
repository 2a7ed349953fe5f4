//! Encoding and format-version detection from content: over the whole corpus (v0 as written by
//! deepomatic-oef, v1 envelopes around the same experiments) in all three encodings, and over
//! random bytes and random well-formed protobuf, a v0 Experiment is never taken for a v1
//! ExperimentFile or the other way round.

mod common;

use oef_proto::{
    CodecErrorKind,
    codec::{self, Detected, Encoding, FORMAT_V0, FORMAT_V1},
    v0, v1,
};
use proptest::prelude::*;
use prost::Message;

/// A v1 envelope around a corpus experiment. The v1 `Experiment` keeps every v0 field number
/// and wire type, so the v0 bytes decode as a v1 `Experiment`: enough for detection, which only
/// looks at the envelope (the real v0 → v1 conversion lives in the migrations crate).
fn envelope(golden: &common::Golden) -> v1::ExperimentFile {
    v1::ExperimentFile {
        format_version: FORMAT_V1,
        architecture: golden.key.clone(),
        writer: Some(v1::Tool { name: "detection-test".into(), version: "0".into() }),
        experiment: Some(v1::Experiment::decode(golden.pb.as_slice()).unwrap()),
        ..Default::default()
    }
}

#[test]
fn corpus_v0_is_detected_as_v0_in_every_encoding() {
    for golden in common::defaults() {
        let experiment = v0::Experiment::decode(golden.pb.as_slice()).unwrap();
        for encoding in Encoding::ALL {
            let bytes = codec::encode_v0(&experiment, encoding).unwrap();
            let detected = codec::detect(&bytes).unwrap();
            assert_eq!(detected, Detected { encoding, version: FORMAT_V0 }, "{} {encoding}", golden.key);
            let err = codec::decode_v1_file(&bytes, encoding).unwrap_err();
            assert!(
                matches!(err.kind, CodecErrorKind::WrongVersion { expected: 1, found: 0 }),
                "{} {encoding}: {err}",
                golden.key
            );
        }
    }
}

#[test]
fn corpus_v1_envelopes_are_detected_as_v1_in_every_encoding() {
    for golden in common::defaults() {
        let file = envelope(&golden);
        for encoding in Encoding::ALL {
            let bytes = codec::encode_v1_file(&file, encoding).unwrap();
            let detected = codec::detect(&bytes).unwrap();
            assert_eq!(detected, Detected { encoding, version: FORMAT_V1 }, "{} {encoding}", golden.key);
            assert_eq!(codec::decode_v1_file(&bytes, encoding).unwrap(), file, "{} {encoding}", golden.key);
            let (_, lossless) = codec::decode(&bytes).unwrap();
            assert_eq!(lossless.encode_to_vec(), file.encode_to_vec(), "{} {encoding}", golden.key);
            assert!(codec::decode_v0(&bytes, encoding).is_err(), "{} {encoding}: v1 read as v0", golden.key);
        }
        // The binary envelope starts with its version field (16, varint): bytes 0x80 0x01 0x01.
        assert_eq!(&codec::encode_v1_file(&file, Encoding::Binary).unwrap()[..3], &[0x80, 0x01, 0x01]);
    }
}

#[test]
fn newer_format_versions_are_refused_with_the_version() {
    let golden = &common::defaults()[0];
    let mut file = envelope(golden);
    file.format_version = 7;
    let err = codec::decode(&file.encode_to_vec()).unwrap_err();
    assert!(err.to_string().contains("format version 7"), "{err}");
    let err = codec::decode_v1_file(&file.encode_to_vec(), Encoding::Binary).unwrap_err();
    assert_eq!(err.kind, CodecErrorKind::WrongVersion { expected: 1, found: 7 });
}

#[test]
fn garbage_is_unrecognized_with_a_reason() {
    for bytes in [&b""[..], b"\x00\x01\x02", b"hello world", b"[1, 2]", b"{\"foo\": 1}", b"\xff\xfe\xfd"] {
        let err = codec::detect(bytes).unwrap_err();
        assert!(!err.to_string().is_empty());
    }
}

/// Random well-formed protobuf whose top-level fields mix v0 (1-6) and v1 (16-21) numbers.
fn wire_message() -> impl Strategy<Value = Vec<u8>> {
    let field = (prop_oneof![1u32..=6, 16u32..=21, 7u32..=40], 0u8..3, proptest::collection::vec(any::<u8>(), 0..12));
    proptest::collection::vec(field, 0..8).prop_map(|fields| {
        let mut out = Vec::new();
        for (number, kind, payload) in fields {
            match kind {
                0 => {
                    prost::encoding::encode_key(number, prost::encoding::WireType::Varint, &mut out);
                    prost::encoding::encode_varint(u64::from(payload.first().copied().unwrap_or(1)), &mut out);
                }
                1 => {
                    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, &mut out);
                    prost::encoding::encode_varint(payload.len() as u64, &mut out);
                    out.extend_from_slice(&payload);
                }
                _ => {
                    prost::encoding::encode_key(number, prost::encoding::WireType::ThirtyTwoBit, &mut out);
                    out.extend_from_slice(&[payload.first().copied().unwrap_or(0); 4]);
                }
            }
        }
        out
    })
}

fn never_both(bytes: &[u8]) {
    let as_v0 = codec::decode_v0(bytes, Encoding::Binary);
    let as_v1 = codec::decode_v1_file(bytes, Encoding::Binary);
    assert!(!(as_v0.is_ok() && as_v1.is_ok()), "{bytes:?} decodes as both v0 and v1");
    match codec::decode(bytes) {
        Ok((detected, _)) if detected.encoding == Encoding::Binary => {
            if detected.version == FORMAT_V0 {
                assert!(as_v1.is_err());
            } else {
                assert!(as_v0.is_err());
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_never_both_versions(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        never_both(&bytes);
    }

    #[test]
    fn random_wire_messages_are_never_both_versions(bytes in wire_message()) {
        never_both(&bytes);
    }
}

#[test]
fn a_reserved_field_or_another_version_fails_the_envelope_check() {
    let golden = common::defaults().into_iter().next().unwrap();
    let mut bytes = codec::encode_v1_file(&envelope(&golden), Encoding::Binary).unwrap();
    // Field 5 (length-delimited, empty): a number reserved in an ExperimentFile.
    bytes.extend_from_slice(&[5 << 3 | 2, 0]);
    // Detection already refuses it; decode_v1_file, told the encoding, checks the envelope.
    assert!(codec::detect(&bytes).is_err());
    assert!(codec::decode(&bytes).is_err());
    let err = codec::decode_v1_file(&bytes, Encoding::Binary).unwrap_err();
    assert!(
        matches!(&err.kind, CodecErrorKind::Unrecognized(reason) if reason.contains("field 5 is reserved")),
        "{err}"
    );
    let err = codec::check_envelope(&codec::decode(&bytes[..bytes.len() - 2]).unwrap().1, 2).unwrap_err();
    assert_eq!(err, CodecErrorKind::WrongVersion { expected: 2, found: 1 });
}
