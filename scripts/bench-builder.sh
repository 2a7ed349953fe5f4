#!/usr/bin/env bash
# Builder benchmarks against the Python reference (deepomatic-oef 0.23.1), in the same run:
#   1. one build in-process: criterion bench `oef-builder/build` vs scripts/py/bench_builder.py
#      (issue target: >= 100x);
#   2. `oef export-catalog` of all 404 keys vs scripts/py/export_catalog.py, both started as
#      processes, best of 5 wall-clock runs each (issue target: >= 20x), each writing a new
#      directory (one that does not exist yet; both create it) under $BENCH_OUT (default
#      /dev/shm, a tmpfs) and, for comparison, under target/.
#      Why tmpfs first: on a journal-less ext4 (this machine's disk), creating a file scans past
#      every inode deleted in the last ~30 s (`recently_deleted` in the kernel), so repeated
#      runs that create and delete 404 files get slower and slower, whoever runs them; that
#      cost is the file system's, and tmpfs leaves both programs' own work to compare.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="$(scripts/python-env.sh)"
config="config_path=gs://bucket/dataset/config.prototxt"

cargo build -q --release -p oef-cli
cargo bench -q -p oef-builder --bench build -- --noplot >&2
python_build="$("$py" scripts/py/bench_builder.py)"

"$py" - "$python_build" "$py" "$config" <<'PY'
import json, os, shutil, subprocess, sys, tempfile, time
py_build = json.loads(sys.argv[1])["build_us_per_experiment"]
python, config = sys.argv[2], sys.argv[3]

def best(cmd, base, runs=5):
    """Best wall-clock seconds of `runs` runs, each writing a new directory under `base`."""
    times = []
    for _ in range(runs):
        parent = tempfile.mkdtemp(dir=base)
        start = time.perf_counter()
        subprocess.run(cmd + ["-o", os.path.join(parent, "out")], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        shutil.rmtree(parent)
    return min(times)

target = os.environ.get("CARGO_TARGET_DIR") or "target"
oef = f"{target}/release/oef"
bases = [("tmpfs", os.environ.get("BENCH_OUT") or ("/dev/shm" if os.path.isdir("/dev/shm") else None)),
         ("disk", "target")]
results = {}
for name, base in bases:
    v0 = best([oef, "export-catalog", "--format-version", "0", "--format", "binary", "--set", config], base)
    v1 = best([oef, "export-catalog", "--format-version", "1", "--format", "binary", "--set", config], base)
    py_export = best([python, "scripts/py/export_catalog.py", "--format", "binary"], base)
    results[name] = (base, v0, v1, py_export)
est = json.load(open(f"{target}/criterion/builder/new_set_build_404/new/estimates.json"))
rust_build = est["mean"]["point_estimate"] / 1000.0 / 404
print(f"build one experiment: rust {rust_build:.1f} us, python {py_build:.1f} us, ratio {py_build/rust_build:.1f}x (target >= 100x)")
for name, (base, v0, v1, py_export) in results.items():
    print(f"export-catalog, 404 keys, binary, as processes, into {base} ({name}): rust v0 {v0*1000:.0f} ms, "
          f"rust v1 {v1*1000:.0f} ms, python {py_export*1000:.0f} ms; ratio v0 {py_export/v0:.1f}x, "
          f"v1 {py_export/v1:.1f}x (target >= 20x)")
PY
