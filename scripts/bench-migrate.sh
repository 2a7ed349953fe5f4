#!/usr/bin/env bash
# Benchmark of oef-migrate: N small experiment files (default 100000; mixed binary/JSON, the
# catalog defaults of tests/fixtures/legacy-oef/defaults), then, in the same run and on the same
# tree, `cp -r`, the file-system floor (migrations/benches/io_floor.rs: the tree copied with
# oef-migrate's own system calls per file and no other work) and `oef-migrate --to 1 --out-dir`
# into a new directory (release build). Prints files/s and the ratios.
#
#   scripts/bench-migrate.sh [N] [JOBS]     (JOBS: oef-migrate --jobs; default: its own default)
#
# The tree goes under $TMPDIR (default /tmp). TMPDIR=/dev/shm (tmpfs) measures the programs; on
# a journal-less ext4 disk, file creation slows down after many recent deletions, so `cp -r`
# and oef-migrate each swing by several times from one run to the next.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
JOBS=${2:-}
cargo build --release -p oef-migrations --bin oef-migrate >&2
BIN=${CARGO_TARGET_DIR:-target}/release/oef-migrate
FLOOR=$(cargo bench -p oef-migrations --bench io_floor --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("target",{}).get("name")=="io_floor" and m.get("executable")][0])')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/oef-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "generating $N files in $WORK/src ..." >&2
python3 - "$WORK/src" "$N" <<'PY'
import os, sys
src, n = sys.argv[1], int(sys.argv[2])
d = "tests/fixtures/legacy-oef/defaults"
keys = sorted(f[:-3] for f in os.listdir(d) if f.endswith(".pb"))
blobs = [(k, open(f"{d}/{k}.pb", "rb").read(), open(f"{d}/{k}.json", "rb").read()) for k in keys]
for i in range(n):
    k, pb, js = blobs[i % len(blobs)]
    sub = f"{src}/{i // 1000:03d}"
    if i % 1000 == 0:
        os.makedirs(sub, exist_ok=True)
    name, data = (f"{i}.pb", pb) if i % 2 == 0 else (f"{i}.json", js)
    with open(f"{sub}/{name}", "wb") as f:
        f.write(data)
PY
sync

now() { date +%s.%N; }
# Each program starts with only the source tree there: the copy of the one before is removed
# first (with 200k more files alive, creating and renaming files got up to 1.4x slower here).
t0=$(now); cp -r "$WORK/src" "$WORK/cp"; t1=$(now); sync; t2=$(now)
rm -rf "$WORK/cp"
# The floor copies with as many threads as oef-migrate runs (one per CPU unless JOBS).
"$FLOOR" --bench "$WORK/src" "$WORK/floor" ${JOBS} | tee "$WORK/floor.txt"
rm -rf "$WORK/floor"
# oef-migrate makes its output durable itself (syncfs before renames and at the end).
t3=$(now)
"$BIN" --to 1 ${JOBS:+--jobs "$JOBS"} --out-dir "$WORK/out" "$WORK/src" > "$WORK/report.txt"; t4=$(now)
tail -1 "$WORK/report.txt"

python3 - "$N" "$t0" "$t1" "$t2" "$t3" "$t4" "${JOBS}" "$WORK/floor.txt" <<'PY'
import re, sys
n, t0, t1, t2, t3, t4 = int(sys.argv[1]), *map(float, sys.argv[2:7])
jobs, floor_txt = sys.argv[7] or "default (one per CPU)", sys.argv[8]
floor = {m[0]: float(m[1]) for m in re.findall(r"io floor, (\S+) .*?: +([0-9.]+) s", open(floor_txt).read())}
cp, cps, mig = t1 - t0, t2 - t0, t4 - t3
print(f"files: {n}  jobs: {jobs}")
print(f"cp -r:                   {cp:7.2f} s  {n / cp:9.0f} files/s")
print(f"cp -r + sync:            {cps:7.2f} s  {n / cps:9.0f} files/s")
print(f"oef-migrate --out-dir:   {mig:7.2f} s  {n / mig:9.0f} files/s")
print(f"ratio oef-migrate / cp -r:         {mig / cp:6.2f}x")
print(f"ratio oef-migrate / (cp -r + sync): {mig / cps:6.2f}x")
print(f"ratio oef-migrate / io floor, plain:      {mig / floor['plain']:6.2f}x "
      f"(the floor of a new --out-dir, what oef-migrate does here: {n / floor['plain']:.0f} files/s)")
print(f"ratio oef-migrate / io floor, crash-safe: {mig / floor['crash-safe']:6.2f}x "
      f"(the floor into an existing directory, a temporary file and a rename per file: "
      f"{n / floor['crash-safe']:.0f} files/s)")
PY
