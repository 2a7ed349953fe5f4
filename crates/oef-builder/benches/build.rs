//! Builds the default experiment of all 404 architectures (`config_path` set), in-process.
//!
//! "Cold" is the first build of each architecture in the process; "warm" builds reuse the
//! subtrees built from catalog defaults alone (see `oef_builder` docs), as any long-running
//! process does.
//!
//! `cargo bench -p oef-builder --bench build` prints criterion's timings and, at the end,
//! `µs/build` with the ratio to the Python reference (2224 µs/build measured with
//! `target/py-venv/bin/python scripts/py/bench_builder.py`; override with
//! `OEF_PY_BUILD_US`).

use std::{hint::black_box, time::Instant};

use criterion::{Criterion, Throughput};
use oef_builder::ExperimentBuilder;
use oef_catalog::Catalog;
use serde_json::json;

const CONFIG_PATH: &str = "gs://bucket/dataset/config.prototxt";
const PYTHON_US_PER_BUILD: f64 = 2224.0;

fn keys() -> Vec<&'static str> {
    Catalog::global().iter().map(|a| a.key.as_str()).collect()
}

fn build_all(keys: &[&str]) {
    for key in keys {
        let builder = ExperimentBuilder::new(key)
            .expect("catalog key")
            .set("config_path", json!(CONFIG_PATH));
        black_box(builder.build().expect("default build"));
    }
}

fn main() {
    // Test runners (`cargo test --benches`, nextest's `--list`) run benches without `--bench`:
    // the plain figures are for benchmark runs only, and nothing else may be printed.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let start = Instant::now();
    let _ = oef_proto::descriptor::pool();
    let pool_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = Instant::now();
    let keys = keys();
    let catalog_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = Instant::now();
    oef_builder::schema::Schema::v0().expect("schema");
    let schema_ms = start.elapsed().as_secs_f64() * 1e3;
    // Cold: the first build of every architecture in this process (catalog and schema
    // already parsed); default-only subtrees are then shared by later builds.
    let mut cold_us = f64::NAN;
    if benchmarking {
        println!(
            "oef-builder: start-up: descriptor pool {pool_ms:.1} ms, catalog (first use) {catalog_ms:.1} ms, schema plans {schema_ms:.1} ms"
        );
        let start = Instant::now();
        build_all(&keys);
        cold_us = start.elapsed().as_secs_f64() * 1e6 / keys.len() as f64;
    }

    let prepared: Vec<ExperimentBuilder> = keys
        .iter()
        .map(|k| {
            ExperimentBuilder::new(k)
                .expect("catalog key")
                .set("config_path", json!(CONFIG_PATH))
        })
        .collect();

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("builder");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("new_set_build_404", |b| b.iter(|| build_all(&keys)));
    group.bench_function("build_404_prepared", |b| {
        b.iter(|| {
            for builder in &prepared {
                black_box(builder.build().expect("default build"));
            }
        })
    });
    group.finish();
    criterion.final_summary();
    if !benchmarking {
        return;
    }

    // A plain figure for the README: best of 20 rounds of new + set + build over all keys.
    build_all(&keys);
    let best = (0..20)
        .map(|_| {
            let start = Instant::now();
            build_all(&keys);
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let us = best * 1e6 / keys.len() as f64;
    let python = std::env::var("OEF_PY_BUILD_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PYTHON_US_PER_BUILD);
    println!(
        "oef-builder: {us:.1} µs/build warm (best of 20 rounds over {} architectures), {cold_us:.1} µs/build cold (first build of each); \
         Python reference {python:.0} µs/build: {:.0}x faster warm, {:.0}x cold",
        keys.len(),
        python / us,
        python / cold_us
    );
}
