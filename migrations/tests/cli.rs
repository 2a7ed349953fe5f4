//! `oef-migrate` end to end: modes, idempotence, detection, bad inputs, reports.

mod common;

use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::SystemTime,
};

use oef_migrations::document;
use oef_proto::codec::Encoding;

fn oef_migrate(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oef-migrate"))
        .args(args)
        .args(paths)
        .output()
        .expect("oef-migrate runs")
}

fn stdout(output: &Output, root: &Path) -> String {
    String::from_utf8_lossy(&output.stdout).replace(&root.display().to_string(), "[TREE]")
}

/// A tree of v0 files: defaults as binary and JSON, in nested directories.
fn tree(n: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (key, pb, json)) in common::defaults().into_iter().step_by(50).take(n).enumerate() {
        let sub = dir.path().join(if i % 2 == 0 { "a" } else { "b/c" });
        fs::create_dir_all(&sub).unwrap();
        let (name, bytes) = if i % 3 == 2 { (format!("{key}.json"), json) } else { (format!("{key}.pb"), pb) };
        let path = sub.join(name);
        fs::write(&path, bytes).unwrap();
        files.push(path);
    }
    (dir, files)
}

/// One file of each bad kind.
fn bad_files(dir: &Path) -> Vec<PathBuf> {
    let bad = dir.join("bad");
    fs::create_dir_all(&bad).unwrap();
    let (_, pb, _) = &common::defaults()[0];
    let ambiguous = common::overrides().into_iter().find(|c| c.0 == "v0020").unwrap().2;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.pb", pb[..pb.len() / 2].to_vec()),
        ("garbage.bin", vec![0xff, 0xfe, 0x00, 0x13, 0x37, 0x99, 0x01]),
        ("empty.pb", Vec::new()),
        ("future-version.pb", vec![0x80, 0x01, 0x07]),
        ("not-oef.json", b"{\"hello\": \"world\"}".to_vec()),
        ("broken.json", b"{\"trainer\": {".to_vec()),
        ("not-an-experiment.pb", vec![0x08, 0x01]),
        ("missing-required.pb", vec![0x12, 0x00, 0x1a, 0x00]),
        ("ambiguous-architecture.pb", ambiguous),
    ];
    cases
        .into_iter()
        .map(|(name, bytes)| {
            let path = bad.join(name);
            fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

fn decode(path: &Path) -> (Encoding, u32) {
    let (encoding, doc) = document::decode(&fs::read(path).unwrap()).unwrap();
    (encoding, doc.version)
}

#[test]
fn in_place_migrates_keeps_mode_and_is_idempotent() {
    let (dir, files) = tree(6);
    fs::set_permissions(&files[0], fs::Permissions::from_mode(0o640)).unwrap();
    let before: Vec<(Encoding, u32)> = files.iter().map(|f| decode(f)).collect();
    let output = oef_migrate(&["--in-place", "--json"], &[dir.path()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output, dir.path()));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["migrated"], 6);
    for (file, (encoding, version)) in files.iter().zip(before) {
        assert_eq!(version, 0);
        assert_eq!(decode(file), (encoding, 1), "{}", file.display());
    }
    assert_eq!(fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o640);

    // Second run: nothing to do, nothing touched.
    let bytes: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    let times: Vec<SystemTime> = files.iter().map(|f| mtime(f)).collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let output = oef_migrate(&["--in-place"], &[dir.path()]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output, dir.path()), "6 files: 0 migrated, 6 already current, 0 failed (target: format v1)\n");
    for (i, file) in files.iter().enumerate() {
        assert_eq!(fs::read(file).unwrap(), bytes[i]);
        assert_eq!(mtime(file), times[i]);
    }
    // No temporary file is left behind.
    let leftovers = fs::read_dir(files[0].parent().unwrap())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn check_and_dry_run_write_nothing() {
    let (dir, files) = tree(4);
    let times: Vec<SystemTime> = files.iter().map(|f| mtime(f)).collect();
    let bytes: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();

    let check = oef_migrate(&["--check", "--jobs", "2"], &[dir.path()]);
    assert_eq!(check.status.code(), Some(1));
    insta::assert_snapshot!("check_v0_tree", stdout(&check, dir.path()));

    let dry = oef_migrate(&["--dry-run", "--to", "1"], &[dir.path()]);
    assert_eq!(dry.status.code(), Some(0));
    insta::assert_snapshot!("dry_run_v0_tree", stdout(&dry, dir.path()));

    let dry_json = oef_migrate(&["--dry-run", "--json"], &[&files[0]]);
    let report: serde_json::Value = serde_json::from_slice(&dry_json.stdout).unwrap();
    let added = report["files"][0]["diff"]["added"].as_array().unwrap();
    assert!(added.iter().any(|p| p == "max_hp_runs"), "{added:?}");
    assert!(added.iter().any(|p| p == "architecture"), "{added:?}");
    assert!(report["files"][0]["diff"]["removed"].as_array().unwrap().is_empty());
    assert!(report["files"][0]["diff"]["changed"].as_array().unwrap().is_empty());

    for (i, file) in files.iter().enumerate() {
        assert_eq!(fs::read(file).unwrap(), bytes[i]);
        assert_eq!(mtime(file), times[i]);
    }
    assert_eq!(oef_migrate(&["--in-place"], &[dir.path()]).status.code(), Some(0));
    assert_eq!(oef_migrate(&["--check"], &[dir.path()]).status.code(), Some(0));
    assert_eq!(oef_migrate(&["--check", "--to", "0"], &[dir.path()]).status.code(), Some(1));
}

#[test]
fn bad_files_are_reported_and_do_not_stop_the_others() {
    let (dir, files) = tree(3);
    let bad = bad_files(dir.path());
    let bad_bytes: Vec<Vec<u8>> = bad.iter().map(|f| fs::read(f).unwrap()).collect();
    let missing = dir.path().join("does-not-exist.pb");
    let output = oef_migrate(&["--in-place", "--jobs", "3"], &[dir.path(), &missing]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!("bad_inputs", stdout(&output, dir.path()));
    for file in &files {
        assert_eq!(decode(file).1, 1);
    }
    for (file, bytes) in bad.iter().zip(bad_bytes) {
        assert_eq!(fs::read(file).unwrap(), bytes, "{}", file.display());
    }
    let json = oef_migrate(&["--in-place", "--json"], &[dir.path()]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    insta::assert_json_snapshot!("bad_inputs_json_summary", report["summary"]);
}

#[test]
fn architecture_flag_settles_a_tie() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model, pb, _) = common::overrides().into_iter().find(|c| c.0 == "v0020").unwrap();
    let file = dir.path().join("exp.pb");
    fs::write(&file, &pb).unwrap();
    assert_eq!(oef_migrate(&["--in-place"], &[&file]).status.code(), Some(1));
    let unknown = oef_migrate(&["--in-place", "--architecture", "no.such.key"], &[&file]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stdout(&unknown, dir.path()).contains("unknown architecture key \"no.such.key\""));
    assert_eq!(oef_migrate(&["--in-place", "--architecture", &model], &[&file]).status.code(), Some(0));
    let (_, doc) = document::decode(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(doc.message.get_field_by_name("architecture").unwrap().as_str(), Some(model.as_str()));
}

#[test]
fn out_dir_mirrors_and_downgrade_restores_the_input() {
    let (dir, files) = tree(6);
    let out = tempfile::tempdir().unwrap();
    let back = tempfile::tempdir().unwrap();
    let run = oef_migrate(&["--to", "1", "--out-dir", out.path().to_str().unwrap()], &[dir.path()]);
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run, dir.path()));
    let relative: Vec<PathBuf> = files.iter().map(|f| f.strip_prefix(dir.path()).unwrap().to_owned()).collect();
    for rel in &relative {
        assert_eq!(decode(&out.path().join(rel)).1, 1);
    }
    // Rerun: every destination is already the migration of its source; untouched.
    let times: Vec<SystemTime> = relative.iter().map(|r| mtime(&out.path().join(r))).collect();
    let rerun = oef_migrate(&["--to", "1", "--out-dir", out.path().to_str().unwrap()], &[dir.path()]);
    assert!(stdout(&rerun, dir.path()).contains("0 migrated, 6 already current"));
    for (rel, time) in relative.iter().zip(times) {
        assert_eq!(mtime(&out.path().join(rel)), time);
    }
    // v1 → v0 gives back the inputs: binary byte for byte, JSON as the same message.
    let down = oef_migrate(&["--to", "0", "--out-dir", back.path().to_str().unwrap()], &[out.path()]);
    assert_eq!(down.status.code(), Some(0), "{}", stdout(&down, out.path()));
    for (file, rel) in files.iter().zip(&relative) {
        let original = fs::read(file).unwrap();
        let restored = fs::read(back.path().join(rel)).unwrap();
        let (encoding, a) = document::decode(&original).unwrap();
        let (_, b) = document::decode(&restored).unwrap();
        assert_eq!(a, b, "{}", rel.display());
        if encoding == Encoding::Binary {
            assert_eq!(original, restored, "{}", rel.display());
        }
    }
}

#[test]
fn a_new_out_dir_is_built_aside_and_appears_whole() {
    let (dir, files) = tree(4);
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("deep/out");
    // What a killed run into the same new directory left (its process is gone), and a stranger.
    let stale = parent.path().join("deep/.out.oef-migrate-4294967-0.tmp");
    fs::create_dir_all(stale.join("a")).unwrap();
    fs::write(stale.join("a/half.pb"), b"\x12").unwrap();
    fs::write(parent.path().join("deep/.other.oef-migrate-4294967-0.tmp"), b"not ours").unwrap();
    // Two PATH arguments holding the same relative path: both cannot go to out/x.pb.
    let twin = tempfile::tempdir().unwrap();
    fs::copy(&files[0], twin.path().join("x.pb")).unwrap();
    fs::copy(&files[1], dir.path().join("x.pb")).unwrap();
    let run = oef_migrate(&["--to", "1", "--out-dir", out.to_str().unwrap()], &[dir.path(), twin.path()]);
    let text = stdout(&run, twin.path());
    assert_eq!(run.status.code(), Some(1), "{text}");
    assert!(text.contains("5 migrated, 0 already current, 1 failed"), "{text}");
    assert!(text.contains("another input of this run has the same destination"), "{text}");
    // The message names the file where it was to be, not in the hidden tree.
    let written_to = format!("writing {}: another input", out.join("x.pb").display());
    assert!(String::from_utf8_lossy(&run.stdout).contains(&written_to), "{text}");
    for file in &files {
        assert_eq!(decode(&out.join(file.strip_prefix(dir.path()).unwrap())).1, 1);
    }
    assert_eq!(decode(&out.join("x.pb")).1, 1);
    let mut left: Vec<String> =
        fs::read_dir(parent.path().join("deep")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, [".other.oef-migrate-4294967-0.tmp", "out"]);
    // Nothing to write (only a bad file): no directory appears.
    let bad = tempfile::tempdir().unwrap();
    fs::write(bad.path().join("garbage.pb"), [0xff, 0xfe, 0x00]).unwrap();
    let empty = parent.path().join("empty");
    assert_eq!(oef_migrate(&["--out-dir", empty.to_str().unwrap()], &[bad.path()]).status.code(), Some(1));
    assert!(!empty.exists());
    let mut left: Vec<String> =
        fs::read_dir(parent.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["deep"]);
}

#[test]
fn format_conversion_and_detection_ignore_extensions() {
    let (dir, files) = tree(3);
    // A JSON file named .pb and a binary file named .json are detected from content.
    let swapped = dir.path().join("swapped.json");
    fs::copy(&files[0], &swapped).unwrap();
    let output = oef_migrate(&["--in-place", "--format", "text"], &[dir.path()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output, dir.path()));
    for file in files.iter().chain([&swapped]) {
        assert_eq!(decode(file), (Encoding::Text, 1), "{}", file.display());
    }
    // Re-encoding a current file is a rewrite, then idempotent.
    let output = oef_migrate(&["--in-place", "--format", "json"], &[&swapped]);
    assert!(stdout(&output, dir.path()).contains("1 migrated"));
    assert_eq!(decode(&swapped), (Encoding::Json, 1));
    let output = oef_migrate(&["--in-place", "--format", "json"], &[&swapped]);
    assert!(stdout(&output, dir.path()).contains("1 already current"));
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(oef_migrate(&[], &[dir.path()]).status.code(), Some(2));
    assert_eq!(oef_migrate(&["--to", "9", "--check"], &[dir.path()]).status.code(), Some(2));
    assert_eq!(oef_migrate(&["--in-place", "--out-dir", "x"], &[dir.path()]).status.code(), Some(2));
    // An --out-dir that cannot be a directory is said once, before any file is read.
    let file = dir.path().join("f");
    fs::write(&file, b"").unwrap();
    for out in [file.clone(), file.join("sub")] {
        let run = oef_migrate(&["--out-dir", out.to_str().unwrap()], &[dir.path()]);
        let text = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{text}");
        assert!(text.starts_with(&format!("oef-migrate: --out-dir {}: ", out.display())), "{text}");
        assert!(run.stdout.is_empty(), "no per-file report");
    }
    let help = oef_migrate(&["--help"], &[]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("Examples:") && text.contains("--architecture"), "{text}");
}

/// An `--out-dir` inside the tree being migrated is output, not input: a rerun does not walk it
/// (it would copy the first run's files one level deeper every time), however it is named.
#[test]
fn an_out_dir_inside_the_tree_is_not_walked() {
    let (dir, files) = tree(4);
    let out = dir.path().join("b/out");
    let through_dots = dir.path().join("a/../b/out");
    for (round, out_arg) in [(1, &out), (2, &out), (3, &through_dots)] {
        let run = oef_migrate(&["--to", "1", "--out-dir", out_arg.to_str().unwrap()], &[dir.path()]);
        let text = stdout(&run, dir.path());
        assert!(run.status.success(), "round {round}: {text}");
        let migrated = if round == 1 { 4 } else { 0 };
        let summary = format!("4 files: {migrated} migrated, {} already current, 0 failed", 4 - migrated);
        assert!(text.contains(&summary), "round {round}: {text}");
        assert!(!out.join("b/out").exists(), "round {round}: the output was walked as input");
    }
    for file in &files {
        assert_eq!(decode(&out.join(file.strip_prefix(dir.path()).unwrap())).1, 1);
    }
}

/// Overlapping PATH arguments (a tree, a file inside it, the tree under another name) are one
/// input per file in place (no double work, no two writers of one file), and a symlink back to
/// an ancestor is not followed round.
#[cfg(unix)]
#[test]
fn overlapping_paths_and_symlink_loops_give_each_file_once() {
    let (dir, files) = tree(4);
    std::os::unix::fs::symlink("..", dir.path().join("b/c/loop")).unwrap();
    let again = dir.path().join("a/..");
    let paths = [dir.path(), files[0].as_path(), again.as_path()];
    let run = oef_migrate(&["--in-place"], &paths);
    let text = stdout(&run, dir.path());
    assert!(run.status.success(), "{text}");
    assert!(text.contains("4 files: 4 migrated, 0 already current, 0 failed"), "{text}");
    for file in &files {
        assert_eq!(decode(file).1, 1, "{}", file.display());
    }
    let run = oef_migrate(&["--check"], &paths);
    let text = stdout(&run, dir.path());
    assert!(run.status.success(), "{text}");
    assert!(text.contains("4 files: 0 not current, 4 already current, 0 failed"), "{text}");
}

/// In place, a symlink to a file migrates the file it names and stays a link.
#[cfg(unix)]
#[test]
fn in_place_through_a_symlink_migrates_its_target() {
    let (dir, files) = tree(1);
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("linked.pb");
    std::os::unix::fs::symlink(&files[0], &link).unwrap();
    let run = oef_migrate(&["--in-place"], &[links.path()]);
    let text = stdout(&run, links.path());
    assert!(text.contains("1 files: 1 migrated"), "{text}");
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is still a link");
    assert_eq!(decode(&files[0]).1, 1, "the target is migrated");
    assert!(fs::read_dir(files[0].parent().unwrap()).unwrap().count() == 1, "no temporary file left beside the target");
    drop(dir);
}
