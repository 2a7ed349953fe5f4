//! The in-memory part of `oef-migrate --to 1` per file: the SHA-256 of the source and the
//! byte-level route v0 → v1 ([`Registry::migrate_encoded`], format kept), over the 404 catalog
//! defaults as `deepomatic-oef` wrote them, once in binary and once in JSON: the work
//! `scripts/bench-migrate.sh` times together with the file system, without the file system.
//!
//! ```text
//! cargo bench -p oef-migrations --bench migrate_bytes
//! ```
//!
//! Prints criterion's timings per group (binary, JSON) with throughput in files/s.

use std::{path::Path, sync::Arc, time::SystemTime};

use criterion::{Criterion, Throughput};
use oef_migrations::{ArchitectureIndex, CatalogDefaults, Registry, StepContext, Tool};
use oef_proto::codec::Encoding;
use sha2::{Digest, Sha256};

/// The defaults of `tests/fixtures/legacy-oef/defaults` with this extension, sorted by name.
fn fixtures(extension: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/legacy-oef/defaults");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension) && !p.to_string_lossy().ends_with(".args.json"))
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).expect("read")).collect()
}

/// What `oef-migrate` does in memory for one file: hash it, migrate it.
fn migrate(registry: &Registry, bytes: &[u8], encoding: Encoding, time: SystemTime) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut sha = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        sha.push(char::from(HEX[usize::from(b >> 4)]));
        sha.push(char::from(HEX[usize::from(b & 15)]));
    }
    let context = StepContext { source_sha256: sha, tool: Tool::oef_migrate(), time, architecture: None };
    let (_, out) = registry.migrate_encoded(bytes, encoding, 1, encoding, &context).expect("fast route applies");
    out
}

// As `oef-migrate`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let registry = Registry::standard(Arc::new(ArchitectureIndex::new(CatalogDefaults)));
    let time = SystemTime::now();
    let mut criterion = Criterion::default().configure_from_args();
    for (name, extension, encoding) in [("binary", "pb", Encoding::Binary), ("json", "json", Encoding::Json)] {
        let files = fixtures(extension);
        assert_eq!(files.len(), 404, "{extension} defaults");
        // The architecture index is built on first use, outside the timings.
        migrate(&registry, &files[0], encoding, time);
        let mut group = criterion.benchmark_group(format!("migrate_bytes/{name}"));
        group.throughput(Throughput::Elements(files.len() as u64));
        group.bench_function("404 files", |b| {
            b.iter(|| files.iter().map(|f| migrate(&registry, f, encoding, time).len()).sum::<usize>())
        });
        group.finish();
    }
    criterion.final_summary();
}
