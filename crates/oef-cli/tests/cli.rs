//! The `oef` binary end to end: outputs, exit codes, stdin/stdout, files.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

const KEY: &str = "image_classification.pretraining_natural_rgb.softmax.efficientnet_b0";
const CONFIG: &str = "config_path=gs://bucket/dataset/config.prototxt";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/legacy-oef")
}

fn oef(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oef")).args(args).output().expect("run oef")
}

fn oef_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oef"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn build_writes_the_reference_experiment() {
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("x.pb");
    let out = oef(&["build", KEY, "--format-version", "0", "--set", CONFIG, "-o", pb.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&pb).unwrap(), std::fs::read(fixtures().join(format!("defaults/{KEY}.pb"))).unwrap());
    // JSON to stdout by default.
    let out = oef(&["build", KEY, "--format-version", "0", "--set", CONFIG]);
    assert!(out.status.success());
    let expected = std::fs::read(fixtures().join(format!("defaults/{KEY}.json"))).unwrap();
    assert_eq!(json(&out.stdout), json(&expected));
}

#[test]
fn build_applies_sets_and_hyperparameters() {
    let out = oef(&[
        "build", KEY, "--set", CONFIG, "--set", "batch_size=8",
        "--set", r#"optimizer={"adam_optimizer":{}}"#, "--set", "initial_learning_rate=0.001",
        "--hp", "trainer.initial_learning_rate",
        "--format", "text",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("batch_size: 8"), "{text}");
    assert!(text.contains("initial_learning_rate: 0.001"), "{text}");
    assert!(text.contains("adam_optimizer"), "{text}");
    assert!(text.contains(r#"key: "trainer.initial_learning_rate""#), "{text}");
}

#[test]
fn build_errors_exit_1_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("never.pb");
    let out = oef(&["build", "image_classification.pretraining_natural_rgb.softmax.efficientnet_b9", "--set", CONFIG, "-o", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("closest: image_classification.pretraining_natural_rgb.softmax.efficientnet_b"), "{}", stderr(&out));
    assert!(!target.exists());
    let out = oef(&["build", KEY, "--set", CONFIG, "--set", "batch_size =3", "-o", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("'batch_size '"), "{}", stderr(&out));
    assert!(!target.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary file left behind");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(oef(&["build", KEY, "--format-version", "3"]).status.code(), Some(2));
    assert_eq!(oef(&["build", KEY, "--set", "no_equals_sign"]).status.code(), Some(2));
    assert_eq!(oef(&["build"]).status.code(), Some(2));
    assert_eq!(oef(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(oef(&["diff", "a.pb"]).status.code(), Some(2));
}

#[test]
fn help_teaches_with_examples() {
    for command in ["build", "export-catalog", "validate", "convert", "diff", "models"] {
        let out = oef(&[command, "--help"]);
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Examples:"), "{command} --help has examples");
    }
}

#[test]
fn convert_reads_stdin_and_writes_stdout_losslessly() {
    let pb = std::fs::read(fixtures().join(format!("defaults/{KEY}.pb"))).unwrap();
    let out = oef_stdin(&["convert", "-", "-o", "-", "--format", "text"], &pb);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = oef_stdin(&["convert", "-", "-o", "-", "--format", "binary"], &out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, pb, "binary -> text -> binary is byte-identical");
    let out = oef_stdin(&["convert", "-", "-o", "-"], b"not an experiment");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("-:"), "{}", stderr(&out));
}

/// Checks that `dir` holds exactly the 404 v0 binary defaults of the reference, byte for byte.
fn assert_exported_defaults(dir: &Path, context: &str) {
    let mut count = 0;
    for entry in std::fs::read_dir(fixtures().join("defaults")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pb") {
            let ours = std::fs::read(dir.join(path.file_name().unwrap()))
                .unwrap_or_else(|e| panic!("{context}: {}: {e}", path.display()));
            assert_eq!(ours, std::fs::read(&path).unwrap(), "{context}: {}", path.display());
            count += 1;
        }
    }
    assert_eq!(count, 404);
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 404, "{context}: files other than the defaults");
}

const EXPORT_V0: [&str; 6] = ["export-catalog", "--format-version", "0", "--format", "binary", "--set"];

#[test]
fn export_catalog_writes_every_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = oef(&[&EXPORT_V0[..], &[CONFIG, "-o", dir.path().to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_exported_defaults(dir.path(), "into an existing directory");
}

/// A reason shared by many architectures is reported once, with how many and which; an unset
/// required field comes with the `--set` that fixes it; when nothing builds, no DIR appears.
#[test]
fn export_catalog_reports_each_reason_once() {
    let parent = tempfile::tempdir().unwrap();
    let out_dir = parent.path().join("defaults");
    let out = oef(&["export-catalog", "--format", "binary", "-o", out_dir.to_str().unwrap()]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(errors[0].starts_with("error: required field(s) missing: dataset.config_path (404 architectures: "), "{text}");
    assert!(errors[0].ends_with(" and 401 more)"), "{text}");
    assert!(text.contains("\nhint: give it a value with --set config_path=VALUE\n"), "{text}");
    assert!(text.ends_with("every architecture failed\n"), "{text}");
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0, "no DIR, no hidden sibling: {text}");

    // Some fail (a name only some architectures have), the others are written.
    let out = oef(&["export-catalog", "--format", "binary", "--set", CONFIG, "--set", "iou_threshold=0.5", "-o", out_dir.to_str().unwrap()]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    let failed: usize = errors[0]
        .split_once(" (")
        .and_then(|(_, rest)| rest.split_once(" architectures: "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {text}"));
    let written = std::fs::read_dir(&out_dir).unwrap().count();
    assert!(failed > 0 && written > 0, "{text}");
    assert_eq!(failed + written, 404, "{text}");
    assert!(text.ends_with(&format!("wrote {written} files to {}, {failed} failed\n", out_dir.display())), "{text}");
}

#[test]
fn build_without_a_required_value_says_how_to_give_it() {
    let out = oef(&["build", KEY]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("error: architecture '{KEY}': required field(s) missing: dataset.config_path\n\
                 hint: give it a value with --set config_path=VALUE\n")
    );
    assert!(out.stdout.is_empty());
}

/// A DIR that does not exist is built in a hidden sibling and appears whole: killed at any
/// moment (SIGKILL), a run leaves DIR absent or complete, and the next run removes the killed
/// run's sibling. Siblings of live processes and names that are not ours are left alone.
#[test]
fn export_catalog_into_a_new_dir_appears_whole() {
    let parent = tempfile::tempdir().unwrap();
    let nested = parent.path().join("nested");
    let out = nested.join("defaults");
    let sibling = |pid: &str| nested.join(format!(".defaults.oef-export-{pid}.tmp"));
    // Above the kernel's largest process id (2^22): never a live process.
    let dead = sibling("4194305");
    let (live, stranger) = (sibling(&std::process::id().to_string()), sibling("notes"));
    for left in [&dead, &live, &stranger] {
        std::fs::create_dir_all(left).unwrap();
        std::fs::write(left.join("x.pb"), b"left").unwrap();
    }
    let siblings = || {
        std::fs::read_dir(&nested)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(".defaults.oef-export-"))
            .filter(|p| *p != live && *p != stranger)
            .count()
    };
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_oef"))
            .args(EXPORT_V0)
            .args([CONFIG, "-o"])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let start = std::time::Instant::now();
    assert!(run().wait().unwrap().success());
    // The length of the latest complete run: the kills aim inside it (the first run of a test
    // binary under parallel load can take several times as long as the later ones).
    let mut full = start.elapsed();
    assert_exported_defaults(&out, "first run");
    assert_eq!(siblings(), 0, "the dead run's sibling is removed");
    assert!(live.join("x.pb").exists() && stranger.join("x.pb").exists(), "what is not a dead run's is kept");

    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut mid_run = 0;
    for round in 1..=40 {
        if round > 6 && mid_run >= 2 {
            break;
        }
        std::fs::remove_dir_all(&out).unwrap();
        let mut child = run();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        std::thread::sleep(full.mul_f64((state % 1000) as f64 / 1000.0 * 1.1));
        let _ = child.kill();
        let _ = child.wait();
        if out.exists() {
            assert_exported_defaults(&out, &format!("round {round}, killed after the rename"));
        } else if siblings() > 0 {
            mid_run += 1;
        }
        let start = std::time::Instant::now();
        assert!(run().wait().unwrap().success(), "round {round}");
        full = start.elapsed();
        assert_exported_defaults(&out, &format!("round {round}, rerun"));
        assert_eq!(siblings(), 0, "round {round}: the killed run's sibling is left");
    }
    assert!(mid_run >= 2, "only {mid_run} kills landed while the directory was being built (full run: {full:?})");
}

#[test]
fn validate_reports_problems_with_paths() {
    let dir = tempfile::tempdir().unwrap();
    let good = fixtures().join(format!("defaults/{KEY}.pb"));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, br#"{"dataset": {}, "trainer": {"batchSize": 4}}"#).unwrap();
    let garbage = dir.path().join("garbage.pb");
    std::fs::write(&garbage, b"\x08").unwrap();
    let out = oef(&["validate", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let out = oef(&["validate", "--json", good.to_str().unwrap(), bad.to_str().unwrap(), garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let reports = json(&out.stdout);
    assert_eq!(reports[0]["valid"], true);
    assert_eq!(reports[1]["problems"][0]["path"], "dataset.config_path");
    assert_eq!(reports[2]["valid"], false);
    // A file that cannot be read is one more invalid file, named once with the reason.
    let missing = dir.path().join("missing.pb");
    let out = oef(&["validate", good.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.ends_with(&format!("{}: cannot read: No such file or directory (os error 2)\n", missing.display())),
        "{text}"
    );
    // A directory is every file below it, sorted, as oef-migrate walks it.
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("b")).unwrap();
    std::fs::copy(&good, tree.join("b/good.pb")).unwrap();
    std::fs::copy(&bad, tree.join("a.json")).unwrap();
    let out = oef(&["validate", "--json", tree.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let reports = json(&out.stdout);
    let files: Vec<&str> = reports.as_array().unwrap().iter().map(|r| r["file"].as_str().unwrap()).collect();
    assert_eq!(files, [tree.join("a.json").to_str().unwrap(), tree.join("b/good.pb").to_str().unwrap()]);
    assert_eq!((&reports[0]["valid"], &reports[1]["valid"]), (&false.into(), &true.into()));
    // Format v1 states every value: each unset one is a problem on its path.
    let partial = dir.path().join("partial.json");
    std::fs::write(
        &partial,
        br#"{"formatVersion": 1, "architecture": "x", "experiment": {"dataset": {"configPath": "gs://b/c"}, "trainer": {"batchSize": 4}}}"#,
    )
    .unwrap();
    let out = oef(&["validate", "--json", partial.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let problems: Vec<String> = json(&out.stdout)[0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}: {}", p["path"].as_str().unwrap(), p["reason"].as_str().unwrap()))
        .collect();
    assert!(problems.contains(&"experiment.trainer.eval_batch_size: no value: format v1 files state every value".to_owned()), "{problems:?}");
    assert!(problems.iter().any(|p| p.starts_with("experiment.dataset.root:")), "{problems:?}");
    assert!(!problems.iter().any(|p| p.starts_with("experiment.trainer.batch_size:") || p.starts_with("experiment.dataset.config_path:")), "{problems:?}");
    let out = oef(&["validate", fixtures().join("overrides/v0003.pb").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap().replace(fixtures().to_str().unwrap(), "$FIXTURES");
    insta::assert_snapshot!("validate_out_of_space", text);
}

#[test]
fn diff_by_field_path() {
    let a = fixtures().join(format!("defaults/{KEY}.pb"));
    let b = fixtures().join(format!("defaults/{KEY}.json"));
    let out = oef(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "same experiment in two encodings");
    let case = fixtures().join("overrides/v0003.pb");
    let out = oef(&["diff", case.to_str().unwrap(), "--against-default", "--architecture", "image_classification.pretraining_none.softmax.inception_v3"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("diff_against_default", String::from_utf8(out.stdout).unwrap());
    let out = oef(&["diff", "--json", a.to_str().unwrap(), case.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(json(&out.stdout).as_array().is_some_and(|d| !d.is_empty()));
}

#[test]
fn models_lists_filters_and_shows() {
    let out = oef(&["models", "--json", "--task", "image_ocr"]);
    assert!(out.status.success());
    let rows = json(&out.stdout);
    assert!(rows.as_array().unwrap().iter().all(|r| r["task"] == "image_ocr"));
    assert_eq!(rows.as_array().unwrap().len(), 6);
    let out = oef(&["models", "show", KEY]);
    assert!(out.status.success());
    assert_eq!(json(&out.stdout)["key"], KEY);
    let out = oef(&["models", "show", "image_classification.nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("closest"), "{}", stderr(&out));
}

#[test]
fn format_v1_build_is_explicit_valid_and_downgrades_to_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("v1.pb");
    let out = oef(&["build", KEY, "--set", CONFIG, "-o", v1.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&v1).unwrap();
    let detected = oef_proto::codec::detect(&bytes).unwrap();
    assert_eq!(detected.version, 1, "format v1 is the default");
    let out = oef(&["validate", v1.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // The exact downgrade gives back what deepomatic-oef builds.
    let (_, document) = oef_migrations::document::decode(&bytes).unwrap();
    let registry = oef_migrations::Registry::standard(std::sync::Arc::new(
        oef_migrations::ArchitectureIndex::new(oef_migrations::CatalogDefaults),
    ));
    let context = oef_migrations::StepContext {
        source_sha256: String::new(),
        tool: oef_migrations::Tool::oef_migrate(),
        time: std::time::SystemTime::now(),
        architecture: None,
    };
    let v0 = registry.migrate(&document, 0, &context).unwrap();
    let reference = std::fs::read(fixtures().join(format!("defaults/{KEY}.pb"))).unwrap();
    let reference = prost_reflect::DynamicMessage::decode(prost_reflect::ReflectMessage::descriptor(&v0.message), reference.as_slice()).unwrap();
    assert_eq!(v0.message, reference);
}

#[test]
fn format_v1_checks_defaults_against_the_search_space() {
    // Case v0003: batch_size 32 comes from the defaults, the hyperparameter space is [2, 4, 8].
    // deepomatic-oef never checks default values (kept for format v0); format v1 refuses.
    let model = "image_classification.pretraining_none.softmax.inception_v3";
    let hp = r#"trainer.batch_size={"categorical":{"values":[{"integer_value":2},{"integer_value":4},{"integer_value":8}]}}"#;
    let v0 = oef(&["build", model, "--format-version", "0", "--set", CONFIG, "--hp", hp]);
    assert!(v0.status.success(), "{}", stderr(&v0));
    let v1 = oef(&["build", model, "--set", CONFIG, "--hp", hp]);
    assert_eq!(v1.status.code(), Some(1));
    insta::assert_snapshot!("v1_out_of_space", stderr(&v1));
}

/// A server that is not there: one line naming the URL and the root cause (not the transport's
/// chain of wrappers), exit 1; `--server` and `--api-key` go before or after the subcommand.
#[test]
fn platform_commands_name_an_unreachable_server_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    for args in [
        vec!["trainings", "list", "--server", &url, "--api-key", "k"],
        vec!["trainings", "--server", &url, "--api-key", "k", "list"],
    ] {
        let out = oef(&args);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(text.starts_with(&format!("error: cannot connect to {url}: ")), "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");
        assert!(!text.contains("transport error") && text.lines().count() == 1, "{text}");
    }
}
