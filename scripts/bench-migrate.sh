#!/usr/bin/env bash
# Benchmark of oef-migrate: N small experiment files (default 100000; mixed binary/JSON, the
# catalog defaults of tests/fixtures/legacy-oef/defaults), then, in the same run and on the same
# tree, `cp -r`, the file-system floor (migrations/benches/io_floor.rs: the tree copied with
# oef-migrate's own system calls per file and no other work) and `oef-migrate --to 1 --out-dir`
# into a new directory (release build). Prints files/s and the ratios.
#
#   scripts/bench-migrate.sh [N] [JOBS]     (JOBS: oef-migrate --jobs; default: its own default)
#   ROUNDS=5 scripts/bench-migrate.sh       (rounds of the three programs; medians reported)
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
# ROUNDS rounds (default 3), each running cp -r, the floor and oef-migrate in turn; the medians
# are reported (one run of each swung by up to 1.3x on this VM). Each program starts with only
# the source tree there: the copy of the one before is removed first (with 200k more files
# alive, creating and renaming files got up to 1.4x slower here).
ROUNDS=${ROUNDS:-3}
: > "$WORK/times.txt"
for round in $(seq "$ROUNDS"); do
  t0=$(now); cp -r "$WORK/src" "$WORK/cp"; t1=$(now); sync; t2=$(now)
  rm -rf "$WORK/cp"
  # The floor copies with as many threads as oef-migrate runs (one per CPU unless JOBS).
  "$FLOOR" --bench "$WORK/src" "$WORK/floor" ${JOBS} | tee -a "$WORK/floor.txt"
  rm -rf "$WORK/floor"
  # oef-migrate makes its output durable itself (syncfs, then the new tree renamed into place).
  t3=$(now)
  "$BIN" --to 1 ${JOBS:+--jobs "$JOBS"} --out-dir "$WORK/out" "$WORK/src" > "$WORK/report.txt"; t4=$(now)
  echo "round $round: $(tail -1 "$WORK/report.txt")"
  rm -rf "$WORK/out"
  echo "$t0 $t1 $t2 $t3 $t4" >> "$WORK/times.txt"
done

python3 - "$N" "${JOBS}" "$WORK/floor.txt" "$WORK/times.txt" <<'PY'
import re, statistics, sys
n, jobs, floor_txt, times_txt = int(sys.argv[1]), sys.argv[2] or "default (one per CPU)", sys.argv[3], sys.argv[4]
floors = {}
for kind, secs in re.findall(r"io floor, (\S+) .*?: +([0-9.]+) s", open(floor_txt).read()):
    floors.setdefault(kind, []).append(float(secs))
rounds = [list(map(float, line.split())) for line in open(times_txt) if line.strip()]
cp = [r[1] - r[0] for r in rounds]
cps = [r[2] - r[0] for r in rounds]
mig = [r[4] - r[3] for r in rounds]
med = statistics.median
def rate(label, secs):
    rates = sorted(n / s for s in secs)
    print(f"{label:24} {med(secs):7.2f} s  {n / med(secs):9.0f} files/s  (rounds: {', '.join(f'{r:.0f}' for r in rates)})")
print(f"files: {n}  jobs: {jobs}  rounds: {len(rounds)} (medians)")
rate("cp -r:", cp)
rate("cp -r + sync:", cps)
rate("oef-migrate --out-dir:", mig)
rate("io floor, plain:", floors["plain"])
rate("io floor, crash-safe:", floors["crash-safe"])
m = med(mig)
print(f"ratio oef-migrate / cp -r:         {m / med(cp):6.2f}x")
print(f"ratio oef-migrate / (cp -r + sync): {m / med(cps):6.2f}x")
print(f"ratio oef-migrate / io floor, plain:      {m / med(floors['plain']):6.2f}x "
      f"(the floor of a new --out-dir, what oef-migrate does here)")
print(f"ratio oef-migrate / io floor, crash-safe: {m / med(floors['crash-safe']):6.2f}x "
      f"(the floor into an existing directory, a temporary file and a rename per file)")
PY
