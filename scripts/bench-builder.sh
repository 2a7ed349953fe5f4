#!/usr/bin/env bash
# Builder benchmarks against the Python reference (deepomatic-oef 0.23.1), in the same run:
#   1. one build in-process: criterion bench `oef-builder/build` vs scripts/py/bench_builder.py
#      (issue target: >= 100x);
#   2. `oef export-catalog` of all 404 keys vs scripts/py/export_catalog.py, both started as
#      processes, best of 5 wall-clock runs each (issue target: >= 20x).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="$(scripts/python-env.sh)"
config="config_path=gs://bucket/dataset/config.prototxt"

cargo build -q --release -p oef-cli
cargo bench -q -p oef-builder --bench build -- --noplot >&2
python_build="$("$py" scripts/py/bench_builder.py)"

"$py" - "$python_build" "$py" "$config" <<'PY'
import json, shutil, subprocess, sys, tempfile, time
py_build = json.loads(sys.argv[1])["build_us_per_experiment"]
python, config = sys.argv[2], sys.argv[3]

def best(cmd, runs=5):
    """Best wall-clock seconds of `runs` runs, each into a fresh directory."""
    times = []
    for _ in range(runs):
        out = tempfile.mkdtemp()
        start = time.perf_counter()
        subprocess.run(cmd + ["-o", out], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        shutil.rmtree(out)
    return min(times)

oef = "target/release/oef"
rust_v0 = best([oef, "export-catalog", "--format-version", "0", "--format", "binary", "--set", config])
rust_v1 = best([oef, "export-catalog", "--format-version", "1", "--format", "binary", "--set", config])
py_export = best([python, "scripts/py/export_catalog.py", "--format", "binary"])
est = json.load(open("target/criterion/builder/new_set_build_404/new/estimates.json"))
rust_build = est["mean"]["point_estimate"] / 1000.0 / 404
print(f"build one experiment: rust {rust_build:.1f} us, python {py_build:.1f} us, ratio {py_build/rust_build:.1f}x (target >= 100x)")
print(f"export-catalog, 404 keys, binary, as processes: rust v0 {rust_v0*1000:.0f} ms, rust v1 {rust_v1*1000:.0f} ms, "
      f"python {py_export*1000:.0f} ms; ratio v0 {py_export/rust_v0:.1f}x, v1 {py_export/rust_v1:.1f}x (target >= 20x)")
PY
