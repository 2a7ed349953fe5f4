//! Shared helpers for the integration tests: the reference corpus copied into tests/fixtures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `tests/fixtures/legacy-oef` at the workspace root.
pub fn legacy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/legacy-oef")
}

/// The reference `FileDescriptorSet` written by deepomatic-oef 0.23.1.
pub fn reference_descriptor_set() -> Vec<u8> {
    std::fs::read(legacy_dir().join("schema.fds.pb")).expect("fixture schema.fds.pb")
}

/// One reference experiment: architecture key, binary bytes and JSON text.
pub struct Golden {
    pub key: String,
    pub pb: Vec<u8>,
    pub json: String,
}

/// The 404 default experiments, sorted by key.
pub fn defaults() -> Vec<Golden> {
    let dir = legacy_dir().join("defaults");
    let mut keys: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixture defaults/")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".pb").map(str::to_owned)
        })
        .collect();
    keys.sort();
    keys.into_iter()
        .map(|key| Golden {
            pb: std::fs::read(dir.join(format!("{key}.pb"))).unwrap(),
            json: std::fs::read_to_string(dir.join(format!("{key}.json"))).unwrap(),
            key,
        })
        .collect()
}

/// The `ok` builder cases that have reference outputs (`overrides/vNNNN.pb|.json`).
pub fn override_outputs() -> Vec<Golden> {
    let dir = legacy_dir().join("overrides");
    let mut out: Vec<Golden> = std::fs::read_dir(&dir)
        .expect("fixture overrides/")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let key = name.strip_suffix(".pb")?.to_owned();
            Some(Golden {
                pb: std::fs::read(dir.join(&name)).ok()?,
                json: std::fs::read_to_string(dir.join(format!("{key}.json"))).ok()?,
                key,
            })
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// Parses JSON text into a value (numbers as f64), for comparison by value.
pub fn json_value(text: &[u8]) -> serde_json::Value {
    serde_json::from_slice(text).expect("valid JSON")
}
