#!/usr/bin/env bash
# Runs every check of the project: the command the README gives and the one CI runs (.ci/run).
#
#   1. the Python reference venv (deepomatic-oef 0.23.1) used by the interop tests;
#   2. buf lint on the .proto sources, and buf breaking against the previous commit;
#   3. every Rust test of the workspace (cargo-nextest when installed, else cargo test),
#      doc tests included.
#
# Everything it needs is installed by the project's own scripts (PyPI, npm, crates.io).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*" >&2; }

step "Python reference environment (deepomatic-oef 0.23.1)"
OEF_PYTHON="$(scripts/python-env.sh)"
export OEF_PYTHON

step "buf lint"
scripts/buf.sh lint

step "buf breaking against the previous commit"
scripts/buf-breaking.sh

step "PostgreSQL for the platform tests (scripts/postgres.sh)"
# A cluster this run starts is stopped when the run ends, passed or failed (nothing left
# running after a throwaway clone is removed); one that was running already is left running.
if ! scripts/postgres.sh status; then
  trap 'scripts/postgres.sh stop' EXIT
fi
OEF_TEST_POSTGRES_URL="$(scripts/postgres.sh)"
export OEF_TEST_POSTGRES_URL

step "cargo tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-targets --no-fail-fast
  step "doc tests"
  cargo test --workspace --doc
else
  cargo test --workspace --all-targets --no-fail-fast
  cargo test --workspace --doc
fi
