//! Shared helpers of the integration tests.
#![allow(dead_code)]

pub mod variations;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, LazyLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use oef_migrations::{ArchitectureIndex, DirectoryDefaults, Registry, StepContext, Tool, architecture};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/legacy-oef")
}

pub static INDEX: LazyLock<Arc<ArchitectureIndex>> = LazyLock::new(|| {
    Arc::new(ArchitectureIndex::new(DirectoryDefaults::new(architecture::fixture_defaults_dir())))
});

pub static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry::standard(INDEX.clone()));

pub fn context() -> StepContext {
    StepContext {
        source_sha256: "0".repeat(64),
        tool: Tool { name: "test".into(), version: "0".into() },
        time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        architecture: None,
    }
}

pub fn fixed_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Every default fixture as (key, binary bytes, JSON bytes).
pub fn defaults() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let dir = fixtures().join("defaults");
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for path in names {
        if path.extension().is_some_and(|e| e == "pb") {
            let key = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let json = std::fs::read(path.with_extension("json")).unwrap();
            out.push((key, std::fs::read(&path).unwrap(), json));
        }
    }
    out
}

/// Every `ok` override case as (name, model key, binary bytes, JSON bytes).
pub fn overrides() -> Vec<(String, String, Vec<u8>, Vec<u8>)> {
    let dir = fixtures().join("overrides");
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for path in names {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(stem) = name.strip_suffix(".case.json") else { continue };
        let case: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if case["expect"] != "ok" {
            continue;
        }
        let model = case["model"].as_str().unwrap().to_owned();
        let pb = std::fs::read(dir.join(format!("{stem}.pb"))).unwrap();
        let json = std::fs::read(dir.join(format!("{stem}.json"))).unwrap();
        out.push((stem.to_owned(), model, pb, json));
    }
    out
}
