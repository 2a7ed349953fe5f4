#!/usr/bin/env bash
# Fails when the .proto files break wire, JSON or generated-code compatibility (buf rule set
# FILE) against a base revision: OEF_BUF_AGAINST if set, else the previous commit (HEAD~1).
# Skipped, with a note, when the base has no buf.yaml (the history before the schemas existed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
base="${OEF_BUF_AGAINST:-HEAD~1}"
if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
  echo "buf breaking: no base revision $base; skipped" >&2
  exit 0
fi
if ! git cat-file -e "$base:buf.yaml" 2>/dev/null; then
  echo "buf breaking: $base has no buf.yaml; skipped" >&2
  exit 0
fi
commit="$(git rev-parse "$base")"
exec scripts/buf.sh breaking --against ".git#ref=$commit"
