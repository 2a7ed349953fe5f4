#!/usr/bin/env bash
# Runs buf (protobuf lint, breaking-change checks, builds) at a pinned version, from the
# repository root: `scripts/buf.sh lint`, `scripts/buf.sh build -o /tmp/x.binpb`, ...
#
# On first use it installs the npm package @bufbuild/buf (the buf binary for this platform
# ships inside the registry package) into target/buf-tools/, with its own package.json and
# package-lock.json there, never in the repository root. Later calls skip the install when
# that exact version is already in place. Idempotent and safe to call concurrently.
set -euo pipefail

BUF_VERSION="1.75.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/target/buf-tools"
buf="$tools/node_modules/.bin/buf"
pkg="$tools/node_modules/@bufbuild/buf/package.json"

installed_version() {
  [ -x "$buf" ] && [ -f "$pkg" ] || return 1
  node -p "require(process.argv[1]).version" "$pkg" 2>/dev/null
}

if [ "$(installed_version || true)" != "$BUF_VERSION" ]; then
  command -v npm >/dev/null || { echo "scripts/buf.sh: npm is required to install buf" >&2; exit 1; }
  mkdir -p "$tools"
  exec 9>"$tools/.install.lock"
  flock 9
  if [ "$(installed_version || true)" != "$BUF_VERSION" ]; then
    echo "scripts/buf.sh: installing @bufbuild/buf@$BUF_VERSION into target/buf-tools" >&2
    if [ ! -f "$tools/package.json" ]; then
      printf '{\n  "name": "oef-buf-tools",\n  "private": true\n}\n' >"$tools/package.json"
    fi
    npm install --prefix "$tools" --save-exact --no-audit --no-fund --loglevel=error \
      "@bufbuild/buf@$BUF_VERSION" >&2
    [ "$(installed_version || true)" = "$BUF_VERSION" ] || {
      echo "scripts/buf.sh: buf $BUF_VERSION did not install" >&2
      exit 1
    }
  fi
  exec 9>&-
fi

cd "$root"
exec "$buf" "$@"
