//! The README's "Two commands" block, run as it is written, so that CI proves the README.
//!
//! The block's first part (the main job, then the platform on its SQLite default) runs in a
//! fresh directory through bash, with `cargo run -q -p oef-cli -- ARGS` standing for this
//! crate's `oef` binary (the same arguments, already built). The second part, the test command,
//! must be what `.ci/run` runs; it is not run here (it runs this test).

use std::{
    net::TcpListener,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// The port the README's `oef serve` and `oef launch` use by default.
const README_PORT: u16 = 50051;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The README's first `sh` code block, split at its `# All tests` comment: (set-up and main
/// job, test command).
fn readme_commands() -> (String, String) {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md is readable");
    let start = readme.find("```sh\n").expect("the README has a sh block") + "```sh\n".len();
    let end = start + readme[start..].find("```").expect("the sh block is closed");
    let block = &readme[start..end];
    let split = block.find("# All tests").expect("the block has an '# All tests' part");
    let tests: Vec<&str> = block[split..].lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).collect();
    assert_eq!(tests.len(), 1, "one test command after '# All tests': {tests:?}");
    (block[..split].to_owned(), tests[0].trim().to_owned())
}

/// Stops the README's background server (its whole process group) even if the test fails.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.0)]).stderr(Stdio::null()).status();
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let (_, test_command) = readme_commands();
    let ci = std::fs::read_to_string(repo_root().join(".ci/run")).expect(".ci/run is readable");
    let runs: Vec<&str> = ci.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
    assert!(
        runs.iter().any(|l| l.split_whitespace().any(|word| word == test_command)),
        ".ci/run does not run the README's test command {test_command:?}:\n{ci}"
    );
}

#[test]
fn readme_main_job_and_platform_run_as_written() {
    let (main_job, _) = readme_commands();
    assert!(
        TcpListener::bind(("127.0.0.1", README_PORT)).is_ok(),
        "port {README_PORT} is busy: the README's `oef serve` listens there by default; stop what uses it"
    );
    let dir = tempfile::tempdir().unwrap();
    // `cargo run -q -p oef-cli -- ARGS` becomes this crate's binary with ARGS, through a `cargo`
    // first on PATH that execs it (as cargo run does, so `$!` of `cargo run ... &` is the
    // program itself); any other cargo call in the block fails the script.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(
        bin.join("cargo"),
        "#!/bin/sh\n\
         if [ \"$1 $2 $3 $4 $5\" != 'run -q -p oef-cli --' ]; then echo \"unexpected: cargo $*\" >&2; exit 99; fi\n\
         shift 5; exec \"$OEF_BIN\" \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(bin.join("cargo"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let script = format!("set -euo pipefail\n{main_job}");
    let mut command = Command::new("bash");
    command
        .args(["-c", &script])
        .current_dir(dir.path())
        .env("OEF_BIN", env!("CARGO_BIN_EXE_oef"))
        .env("PATH", path)
        .process_group(0);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OEF_") && name != "OEF_BIN" {
            command.env_remove(name);
        }
    }
    // Output into files, not pipes: the background server would hold pipes open.
    let out_path = dir.path().join("stdout.txt");
    let err_path = dir.path().join("stderr.txt");
    let mut child = command
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let group = Group(child.id());
    let status = child.wait().unwrap();
    // The block stops its server itself: the port is free again within a few seconds.
    let stopped = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        TcpListener::bind(("127.0.0.1", README_PORT)).is_ok()
    });
    drop(group);
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    assert!(status.success(), "the README's commands failed ({status}):\n{stdout}\n{stderr}");
    assert!(stopped, "the README's server still listens on port {README_PORT} after the block:\n{stderr}");

    // The main job wrote a valid experiment (the block validates it too) ...
    // (A failed build does not stop the script: `a && b` is exempt from `set -e`.)
    let experiment = std::fs::read(dir.path().join("experiment.pb"))
        .unwrap_or_else(|e| panic!("no experiment.pb ({e}):\n{stdout}\n{stderr}"));
    assert!(!experiment.is_empty());
    // ... and the launch reached the server on the SQLite default, which created its database.
    assert!(dir.path().join("oef.db").is_file(), "no oef.db:\n{stdout}\n{stderr}");
    // stdout: the validation line, then the launch's reply as JSON.
    let json = &stdout[stdout.find('{').unwrap_or(stdout.len())..];
    let reply: serde_json::Value = serde_json::Deserializer::from_str(json)
        .into_iter()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("the launch did not print a training as JSON:\n{stdout}\n{stderr}"));
    assert!(stdout.starts_with("experiment.pb: valid"), "{stdout}");
    assert_eq!(reply["training"]["org"], "acme");
    assert_eq!(reply["training"]["status"], "TRAINING_STATUS_QUEUED");
    assert_eq!(reply["created"], true);
}
