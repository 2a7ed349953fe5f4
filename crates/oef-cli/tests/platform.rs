//! The platform commands end to end: `oef keys create`, `oef serve` on the embedded SQLite
//! default, `oef launch` (architecture + overrides, v1 file, v0 file: one experiment id),
//! `oef trainings`, `oef worker`.

use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

const OEF: &str = env!("CARGO_BIN_EXE_oef");
const KEY: &str = "image_classification.pretraining_natural_rgb.softmax.efficientnet_b0";

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn oef(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(OEF);
    command.current_dir(dir).args(args).env_remove("OEF_API_KEY").env_remove("OEF_DB");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run oef")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("JSON")
}

#[test]
fn serve_launch_work_and_list_from_the_cli() {
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    // The defaults: sqlite://oef.db in the working directory, created on first use.
    let key = stdout(&oef(dir, &[], &["keys", "create", "--org", "acme"])).trim().to_owned();
    assert!(key.starts_with("oef_"));
    assert!(dir.join("oef.db").exists());

    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let listen = format!("127.0.0.1:{port}");
    let _server = Serve(
        Command::new(OEF)
            .current_dir(dir)
            .args(["serve", "--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let server = format!("http://{listen}");
    let env = [("OEF_SERVER", server.as_str()), ("OEF_API_KEY", key.as_str())];
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    let sets = ["--set", "config_path=gs://bucket/cats/config.prototxt", "--set", "batch_size=16"];
    let mut args = vec!["launch", "--model", KEY, "--org", "acme", "--dataset", "cats", "--tag", "demo"];
    args.extend(sets);
    let first = json(&stdout(&oef(dir, &env, &args)));
    assert_eq!(first["created"], true);
    let training = &first["training"];
    let experiment_id = training["experimentId"].as_str().expect("id").to_owned();
    assert_eq!(training["architecture"], KEY);

    // The same experiment as a v1 file and as a v0 JSON file: the same id, the same training.
    for (name, version) in [("exp.pb", "1"), ("exp.json", "0")] {
        let mut build = vec!["build", KEY, "--format-version", version, "-o", name];
        build.extend(sets);
        stdout(&oef(dir, &[], &build));
        let again = json(&stdout(&oef(dir, &env, &["launch", name, "--org", "acme", "--dataset", "cats"])));
        assert_eq!(again["training"]["experimentId"], experiment_id.as_str(), "{name}");
        assert_eq!(again["training"]["trainingId"], training["trainingId"], "{name}");
        assert!(again.get("created").is_none_or(|c| c == false));
    }

    // Errors: no key (usage), wrong organization, invalid override.
    assert_eq!(oef(dir, &[("OEF_SERVER", &server)], &["trainings", "list"]).status.code(), Some(2));
    let denied = oef(dir, &env, &["launch", "exp.pb", "--org", "other", "--dataset", "cats"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("PermissionDenied") || String::from_utf8_lossy(&denied.stderr).contains("permission"));
    let bad = oef(dir, &env, &["launch", "--model", KEY, "--set", "no_such_option=1", "--org", "acme", "--dataset", "cats"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("overrides[\"no_such_option\"]"));

    // --hp: the launch builds what `oef build --hp` builds (same experiment id).
    let hp = ["--hp", "trainer.optimizer"];
    let mut args = vec!["launch", "--model", KEY, "--org", "acme", "--dataset", "cats"];
    args.extend(sets);
    args.extend(hp);
    let searched = json(&stdout(&oef(dir, &env, &args)));
    assert_ne!(searched["training"]["experimentId"], experiment_id.as_str());
    let mut build = vec!["build", KEY, "-o", "hp.pb"];
    build.extend(sets);
    build.extend(hp);
    stdout(&oef(dir, &[], &build));
    let from_file = json(&stdout(&oef(dir, &env, &["launch", "hp.pb", "--org", "acme", "--dataset", "cats"])));
    assert_eq!(from_file["training"]["experimentId"], searched["training"]["experimentId"]);
    let bad_path = oef(dir, &env, &["launch", "--model", KEY, "--hp", "trainer.nope", "--org", "acme", "--dataset", "cats"]);
    assert_eq!(bad_path.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_path.stderr).contains("hyperparameters[\"trainer.nope\"]"));
    let not_json = oef(dir, &env, &["launch", "--model", KEY, "--hp", "trainer.batch_size={", "--org", "acme", "--dataset", "cats"]);
    assert_eq!(not_json.status.code(), Some(2));

    // A worker runs it and reports a metric; watch replays everything.
    let worker = oef(
        dir,
        &env,
        &["worker", "--exec", "test -s \"$OEF_EXPERIMENT_FILE\" && echo metric loss 1 0.25", "--exit-when-idle"],
    );
    stdout(&worker);
    let id = training["trainingId"].as_str().expect("id");
    let got = json(&stdout(&oef(dir, &env, &["trainings", "get", id])));
    assert_eq!(got["training"]["status"], "TRAINING_STATUS_SUCCEEDED");
    let events = stdout(&oef(dir, &env, &["trainings", "watch", id]));
    assert_eq!(events.lines().count(), 4, "{events}");
    assert!(events.contains("\"loss\""));
    let listed = stdout(&oef(dir, &env, &["trainings", "list", "--tag", "demo", "--status", "succeeded"]));
    assert_eq!(listed.lines().count(), 1);
    let cancel = oef(dir, &env, &["trainings", "cancel", id]);
    assert_eq!(cancel.status.code(), Some(1), "cancelling a finished training is refused");
}
