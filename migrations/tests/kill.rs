//! Crash safety: `oef-migrate --in-place` is killed (SIGKILL) at random moments over a tree of
//! a few thousand files, many times. After every kill each file is either the complete old
//! version (same bytes) or the complete new one (a v1 file that downgrades to the old message),
//! and a rerun finishes the job.

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use oef_migrations::{Registry, document};

const FILES: usize = 2000;
/// Kills at least this many runs...
const KILLS: usize = 10;
/// ...and more, up to this many, until at least [`PARTIAL`] kills landed mid-run (renames
/// come in bursts, one per batch: on a loaded machine ten kills can miss most of them).
const MAX_KILLS: usize = 40;
/// Kills that must land between the first and the last rename of a run.
const PARTIAL: usize = 2;

fn spawn(dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_oef-migrate"))
        .args(["--in-place", "--jobs", "2", "--architecture"])
        // A fixed key keeps the test on the write path, not on inference.
        .arg("image_classification.pretraining_natural_rgb.softmax.efficientnet_b0")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("oef-migrate starts")
}

/// Every file is the old bytes or a complete v1 file holding the same experiment (checked by
/// migrating it back when `deep`, else by decoding it).
fn check_tree(files: &[(PathBuf, Vec<u8>)], registry: &Registry, deep: bool) -> (usize, usize) {
    let (mut old, mut new) = (0, 0);
    for (path, original) in files {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if &bytes == original {
            old += 1;
            continue;
        }
        let (_, v1) = document::decode(&bytes)
            .unwrap_or_else(|e| panic!("{} is neither old nor a complete new file: {e}", path.display()));
        assert_eq!(v1.version, 1, "{}", path.display());
        if !deep {
            new += 1;
            continue;
        }
        let back = registry.migrate(&v1, 0, &common::context()).unwrap();
        let (_, v0) = document::decode(original).unwrap();
        assert!(back.message == v0.message, "{}: the new file holds another experiment", path.display());
        new += 1;
    }
    (old, new)
}

/// The next deterministic pseudo-random fraction in [0, 1), in steps of 1/1000 (xorshift).
fn next_fraction(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state % 1000) as f64 / 1000.0
}

fn temp_files(dir: &Path) -> usize {
    let mut count = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            count += temp_files(&path);
        } else if path.file_name().unwrap().to_string_lossy().ends_with(".tmp") {
            count += 1;
        }
    }
    count
}

#[test]
fn sigkill_at_random_moments_leaves_every_file_old_or_new() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = common::defaults();
    let mut files = Vec::with_capacity(FILES);
    for i in 0..FILES {
        let (key, pb, json) = &defaults[i % defaults.len()];
        let sub = dir.path().join(format!("d{}", i % 7));
        fs::create_dir_all(&sub).unwrap();
        let (path, bytes) = if i % 2 == 0 {
            (sub.join(format!("{i}-{key}.pb")), pb.clone())
        } else {
            (sub.join(format!("{i}-{key}.json")), json.clone())
        };
        files.push((path, bytes));
    }
    let reset = |files: &[(PathBuf, Vec<u8>)]| {
        for (path, bytes) in files {
            fs::write(path, bytes).unwrap();
        }
    };
    reset(&files);
    // How long a full run takes here, to spread the kills over it.
    let start = Instant::now();
    assert!(spawn(dir.path()).wait().unwrap().success());
    let full = start.elapsed();
    let registry = &*common::REGISTRY;
    assert_eq!(check_tree(&files, registry, true), (0, FILES));

    // Deterministic pseudo-random kill moments (xorshift), over a window that starts at 1.2 × a
    // full run and follows how long runs take now: a kill that finds the run finished shrinks
    // it, one that finds nothing renamed yet widens it (the first run can be several times
    // slower than the next ones on a loaded machine, and kills spread over it then mostly land
    // after the end).
    let mut window = full.mul_f64(1.2);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut partial_runs = 0;
    let mut rounds = 0;
    for round in 0..MAX_KILLS {
        if round >= KILLS && partial_runs >= PARTIAL {
            break;
        }
        rounds += 1;
        reset(&files);
        let delay = window.mul_f64(next_fraction(&mut state));
        let mut child = spawn(dir.path());
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let (old, new) = check_tree(&files, registry, true);
        assert_eq!(old + new, FILES, "round {round}");
        if old > 0 && new > 0 {
            partial_runs += 1;
        } else if old == 0 {
            window = window.mul_f64(0.75);
        } else {
            window = window.mul_f64(1.1);
        }
        // A rerun finishes the job and cleans up the killed run's temporary files.
        assert!(spawn(dir.path()).wait().unwrap().success(), "round {round}");
        assert_eq!(check_tree(&files, registry, false), (0, FILES), "round {round}");
        assert_eq!(temp_files(dir.path()), 0, "round {round}");
    }
    // The kills did land in the middle of runs (not all before the first or after the last write).
    assert!(partial_runs >= PARTIAL, "only {partial_runs} of {rounds} kills interrupted a run (full run: {full:?})");
}

/// Hidden trees of a new `--out-dir` (`.out.oef-migrate-<pid>.tmp`) in `parent`.
fn staging_trees(parent: &Path) -> usize {
    fs::read_dir(parent)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".out.oef-migrate-"))
        .count()
}

/// A new `--out-dir` is built aside and renamed into place at the end: killed at any moment,
/// the directory is either absent or complete, and a rerun builds it and removes what the
/// killed run left.
#[test]
fn sigkill_into_a_new_out_dir_leaves_it_absent_or_whole() {
    const SOURCES: usize = 600;
    let src = tempfile::tempdir().unwrap();
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("out");
    let defaults = common::defaults();
    let mut relative = Vec::with_capacity(SOURCES);
    for i in 0..SOURCES {
        let (key, pb, json) = &defaults[i % defaults.len()];
        let sub = format!("d{}", i % 5);
        fs::create_dir_all(src.path().join(&sub)).unwrap();
        let (name, bytes) = if i % 2 == 0 { (format!("{i}-{key}.pb"), pb) } else { (format!("{i}-{key}.json"), json) };
        let rel = Path::new(&sub).join(name);
        fs::write(src.path().join(&rel), bytes).unwrap();
        relative.push(rel);
    }
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_oef-migrate"))
            .args(["--to", "1", "--jobs", "2", "--out-dir"])
            .arg(&out)
            .arg(src.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("oef-migrate starts")
    };
    let whole = |round: usize| {
        for rel in &relative {
            let bytes = fs::read(out.join(rel)).unwrap_or_else(|e| panic!("round {round}: {}: {e}", rel.display()));
            assert_eq!(document::decode(&bytes).unwrap().1.version, 1, "round {round}: {}", rel.display());
        }
    };
    let start = Instant::now();
    assert!(spawn().wait().unwrap().success());
    let full = start.elapsed();
    whole(0);
    assert_eq!(staging_trees(parent.path()), 0);

    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut mid_run = 0;
    for round in 1..=20 {
        if round > 8 && mid_run >= 2 {
            break;
        }
        fs::remove_dir_all(&out).unwrap();
        let mut child = spawn();
        std::thread::sleep(full.mul_f64(next_fraction(&mut state) * 1.1));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if out.exists() {
            whole(round); // killed after the rename: complete
        } else if staging_trees(parent.path()) > 0 {
            mid_run += 1; // killed while the hidden tree was being written
        }
        assert!(spawn().wait().unwrap().success(), "round {round}");
        whole(round);
        assert_eq!(staging_trees(parent.path()), 0, "round {round}: the killed run's hidden tree is left");
    }
    assert!(mid_run >= 2, "only {mid_run} kills landed while the tree was being written (full run: {full:?})");
}
