#!/usr/bin/env bash
# Creates (once) the project's Python virtualenv used by the interop tests and the
# reference benchmarks: deepomatic-oef 0.23.1 (the format v0 reference) and grpcio-tools.
# Prints the path of the venv's python on stdout. Idempotent and safe to call concurrently.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${OEF_VENV:-$root/target/py-venv}"
stamp="$venv/.oef-ready-1"
if [ ! -f "$stamp" ]; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if [ ! -f "$stamp" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "deepomatic-oef==0.23.1" "protobuf>=6.31,<7" >&2
    touch "$stamp"
  fi
fi
echo "$venv/bin/python"
