//! Interop with the Python reference: deepomatic-oef 0.23.1 (installed in the project venv by
//! `scripts/python-env.sh`) decodes the binary and JSON we write, re-encodes the binary byte for
//! byte, and compares each experiment to its own build of the same architecture
//! (`scripts/py/interop_check.py`).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use oef_proto::codec::{self, Encoding};

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

#[test]
fn python_reference_reads_what_we_write() {
    let defaults = root().join("tests/fixtures/legacy-oef/defaults");
    let dir = tempfile::tempdir().unwrap();
    let mut written = 0;
    for entry in std::fs::read_dir(&defaults).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        // Our side starts from the reference JSON text (parsed by our JSON decoder), so what
        // Python reads back are bytes produced by our binary and JSON encoders.
        let experiment = codec::decode_v0(&std::fs::read(&path).unwrap(), Encoding::Json).unwrap();
        let stem = path.file_stem().unwrap().to_str().unwrap();
        for encoding in [Encoding::Binary, Encoding::Json] {
            let bytes = codec::encode_v0(&experiment, encoding).unwrap();
            std::fs::write(dir.path().join(format!("{stem}.{}", encoding.extension())), bytes).unwrap();
        }
        written += 1;
    }
    assert_eq!(written, 404);

    let out = Command::new(python())
        .arg(root().join("scripts/py/interop_check.py"))
        .arg("--failures-only")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "interop check failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.lines().any(|l| l.trim() == "404 passed, 0 failed"), "{stdout}");
}
