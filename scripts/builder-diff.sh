#!/usr/bin/env bash
# Differential test of crates/oef-builder against the Python reference (deepomatic-oef 0.23.1):
# generates COUNT random builder cases with SEED, records what the reference does with each
# (scripts/py/gen_builder_cases.py), then checks that our builder agrees on every one
# (same experiment, or the same kind of error).
#   scripts/builder-diff.sh [COUNT=3000] [SEED=1]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
count="${1:-3000}"
seed="${2:-1}"
out="target/builder-cases/seed-$seed"
py="$(scripts/python-env.sh)"
rm -rf "$out"
"$py" scripts/py/gen_builder_cases.py --count "$count" --seed "$seed" -o "$out"
OEF_BUILDER_CASES="$root/$out" cargo test -q -p oef-builder --test reference generated -- --ignored --nocapture
