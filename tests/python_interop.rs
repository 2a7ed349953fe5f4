//! Interop with the Python reference: deepomatic-oef 0.23.1 (installed in the project venv by
//! `scripts/python-env.sh`) decodes the binary and JSON that our builder and encoders write,
//! re-encodes the binary byte for byte, and compares each experiment with its own build of the
//! same architecture and arguments (`scripts/py/interop_check.py`).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use oef_builder::ExperimentBuilder;
use oef_proto::codec::{self, Encoding};
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The venv python: `$OEF_PYTHON` when the test script already made it, else made here.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("OEF_PYTHON") {
        return p.into();
    }
    let out = Command::new(root().join("scripts/python-env.sh")).output().expect("run python-env.sh");
    assert!(out.status.success(), "python-env.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn write_both(dir: &Path, stem: &str, experiment: &oef_proto::v0::Experiment) {
    for encoding in [Encoding::Binary, Encoding::Json] {
        let bytes = codec::encode_v0(experiment, encoding).unwrap();
        std::fs::write(dir.join(format!("{stem}.{}", encoding.extension())), bytes).unwrap();
    }
}

fn check(dir: &Path, expected: usize) {
    let out = Command::new(python())
        .arg(root().join("scripts/py/interop_check.py"))
        .arg("--failures-only")
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "interop check failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = format!("{expected} passed, 0 failed");
    assert!(stdout.lines().any(|l| l.trim() == summary), "{stdout}");
}

#[test]
fn python_reference_reads_the_defaults_our_builder_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut written = 0;
    for architecture in oef_catalog::Catalog::global().iter() {
        let experiment = ExperimentBuilder::new(&architecture.key)
            .unwrap()
            .set("config_path", json!("gs://bucket/dataset/config.prototxt"))
            .build()
            .unwrap();
        write_both(dir.path(), &architecture.key, &experiment);
        written += 1;
    }
    assert_eq!(written, 404);
    check(dir.path(), 404);
}

#[test]
fn python_reference_reads_the_override_cases_our_builder_writes() {
    let cases = root().join("tests/fixtures/legacy-oef/overrides");
    let dir = tempfile::tempdir().unwrap();
    let mut written = 0;
    for entry in std::fs::read_dir(&cases).unwrap() {
        let path = entry.unwrap().path();
        let Some(stem) = path.file_name().unwrap().to_str().unwrap().strip_suffix(".case.json") else {
            continue;
        };
        let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if case["expect"] != "ok" {
            continue;
        }
        let mut builder = ExperimentBuilder::new(case["model"].as_str().unwrap()).unwrap();
        for (name, value) in case["kwargs"].as_object().unwrap() {
            builder = builder.set(name.clone(), value.clone());
        }
        for hp in case["hyperparameters"].as_array().unwrap() {
            let distribution = hp.get("distribution").filter(|d| !d.is_null());
            builder = builder.hyperparameter_json(hp["path"].as_str().unwrap(), distribution);
        }
        let experiment = builder.build().unwrap();
        write_both(dir.path(), stem, &experiment);
        // The case file tells the checker which model, kwargs and hyperparameters to build.
        std::fs::copy(&path, dir.path().join(format!("{stem}.kwargs.json"))).unwrap();
        written += 1;
    }
    assert!(written >= 20, "ok cases found: {written}");
    check(dir.path(), written);
}
