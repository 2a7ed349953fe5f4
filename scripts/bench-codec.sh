#!/usr/bin/env bash
# Codec benchmark: the Rust criterion bench and the Python reference (deepomatic-oef 0.23.1 on
# upb protobuf) on the same 404 default experiments, in the same run; prints µs/message for
# both and the ratios (issue targets: binary ≥ 3×, JSON ≥ 100×).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="$(scripts/python-env.sh)"
defaults=tests/fixtures/legacy-oef/defaults
cargo bench -p oef-proto --bench codec -- --noplot >&2
python_json="$("$py" scripts/py/bench_codec.py "$defaults")"
"$py" - "$python_json" <<'PY'
import json, os, sys
py = json.loads(sys.argv[1])
def rust_us(name):
    target = os.environ.get("CARGO_TARGET_DIR") or "target"
    est = json.load(open(f"{target}/criterion/{name}/new/estimates.json"))
    return est["mean"]["point_estimate"] / 1000.0 / py["messages"]
rb, rj = rust_us("binary_decode_encode"), rust_us("json_parse_print")
pb, pj = py["binary_us_per_msg"], py["json_us_per_msg"]
print(f"binary decode+encode: rust {rb:.3f} us/msg, python {pb:.3f} us/msg ({py['protobuf_impl']}), ratio {pb/rb:.1f}x (target >= 3x)")
print(f"JSON parse+print:     rust {rj:.3f} us/msg, python {pj:.1f} us/msg, ratio {pj/rj:.1f}x (target >= 100x)")
PY
