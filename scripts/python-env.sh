#!/usr/bin/env bash
# Creates (once) the project's Python virtualenv used by the interop tests and the
# reference benchmarks: deepomatic-oef 0.23.1 (the format v0 reference) and grpcio-tools.
# Prints the path of the venv's python on stdout. Idempotent and safe to call concurrently.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${OEF_VENV:-$root/target/py-venv}"
stamp="$venv/.oef-ready-2"
if [ ! -f "$stamp" ]; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if [ ! -f "$stamp" ]; then
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    # grpcio-tools: the Python client of the platform service, generated from our protos.
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "deepomatic-oef==0.23.1" "protobuf>=6.31,<7" "grpcio>=1.71,<2" "grpcio-tools>=1.71,<2" >&2
    touch "$stamp"
  fi
fi
echo "$venv/bin/python"
