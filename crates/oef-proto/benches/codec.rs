//! Codec throughput over the 404 default experiments of the reference corpus.
//!
//! One iteration processes all 404 messages; `scripts/bench-codec.sh` divides by 404 and
//! prints the ratio to the Python reference measured in the same run.
//!
//! * `binary_decode_encode`: decode + encode of each `.pb` (what upb does in Python) with the
//!   crate's one-pass codec (`oef_proto::decoder` / `oef_proto::encoder`: prost's results and
//!   bytes); `binary_prost_decode_encode` is the same with prost's own `decode` and `encode`.
//! * `json_parse_print`: pbjson parse + pretty print of each `.json` (Python's json_format),
//!   printing into a reused buffer as the binary case encodes into one.

use std::{hint::black_box, path::Path};

use criterion::{Criterion, criterion_group, criterion_main};
use oef_proto::{decoder, encoder::ReverseBuffer, v0};
use prost::Message;

fn corpus() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/legacy-oef/defaults");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".pb").map(str::to_owned))
        .collect();
    names.sort();
    let pb = names.iter().map(|n| std::fs::read(dir.join(format!("{n}.pb"))).expect("pb")).collect();
    let json = names.iter().map(|n| std::fs::read(dir.join(format!("{n}.json"))).expect("json")).collect();
    (pb, json)
}

fn codec(c: &mut Criterion) {
    let (pb, json) = corpus();
    assert_eq!(pb.len(), 404);
    c.bench_function("binary_decode_encode", |b| {
        let mut out = ReverseBuffer::with_capacity(1024);
        b.iter(|| {
            for bytes in &pb {
                let experiment: v0::Experiment = decoder::decode(black_box(bytes.as_slice())).expect("decode");
                black_box(out.encode(&experiment));
            }
        })
    });
    c.bench_function("binary_prost_decode_encode", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            for bytes in &pb {
                let experiment = v0::Experiment::decode(black_box(bytes.as_slice())).expect("decode");
                out.clear();
                experiment.encode(&mut out).expect("encode");
                black_box(&out);
            }
        })
    });
    // The two halves, to see where the time goes (not compared with Python).
    c.bench_function("binary_decode", |b| {
        b.iter(|| {
            for bytes in &pb {
                black_box(decoder::decode::<v0::Experiment>(black_box(bytes.as_slice())).expect("decode"));
            }
        })
    });
    c.bench_function("binary_prost_decode", |b| {
        b.iter(|| {
            for bytes in &pb {
                black_box(v0::Experiment::decode(black_box(bytes.as_slice())).expect("decode"));
            }
        })
    });
    let decoded: Vec<v0::Experiment> =
        pb.iter().map(|bytes| v0::Experiment::decode(bytes.as_slice()).expect("decode")).collect();
    c.bench_function("binary_encode", |b| {
        let mut out = ReverseBuffer::with_capacity(1024);
        b.iter(|| {
            for experiment in &decoded {
                black_box(out.encode(black_box(experiment)));
            }
        })
    });
    c.bench_function("binary_prost_encode", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            for experiment in &decoded {
                out.clear();
                black_box(experiment).encode(&mut out).expect("encode");
                black_box(&out);
            }
        })
    });
    c.bench_function("json_parse_print", |b| {
        let mut out = Vec::with_capacity(16 * 1024);
        b.iter(|| {
            for bytes in &json {
                // UTF-8 checked once for the whole text, then parsed as `str` (serde_json's
                // slice reader would check every string again).
                let text = std::str::from_utf8(black_box(bytes)).expect("UTF-8");
                let experiment: v0::Experiment = serde_json::from_str(text).expect("parse");
                out.clear();
                oef_proto::json::extend_pretty(&mut out, &experiment).expect("print");
                black_box(&out);
            }
        })
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
