//! A Python client generated from our protos with grpcio-tools (`scripts/py/platform_client.py`,
//! run with the project venv's python, `OEF_PYTHON`, set by `scripts/test.sh`) launches,
//! relaunches, cancels and watches a training on a real server process; the experiment is a
//! complete v1 file written as JSON by our codec and read by Python's `json_format`.

mod common;

use std::process::Command;

/// Not a test: the server process of the other tests (see `common`).
#[test]
#[ignore = "the server process of the other tests"]
fn serve_child() {
    common::serve_child();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_launches_and_watches() {
    let Ok(python) = std::env::var("OEF_PYTHON") else {
        eprintln!("skipped: OEF_PYTHON is not set (scripts/test.sh sets it to the project venv)");
        return;
    };
    for db in common::databases() {
        let env = common::Env::new(&db).await;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/py/platform_client.py");
        let address = env.server.url.trim_start_matches("http://").to_owned();
        let dir = tempfile::tempdir().expect("temporary directory");
        let experiment = dir.path().join("experiment.json");
        let json = oef_proto::codec::encode_v1_file(common::default_file(), oef_proto::codec::Encoding::Json).expect("json");
        std::fs::write(&experiment, json).expect("write the experiment");
        let output =
            Command::new(&python).arg(script).arg(&address).arg(&env.key).arg(&experiment).output().expect("run python");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.lines().last().is_some_and(|l| l.contains("\"ok\": true")), "{stdout}");
    }
}
