#!/usr/bin/env bash
# Starts (once) a throwaway PostgreSQL cluster for the tests and prints its URL on stdout:
#   postgres://oef@127.0.0.1:PORT/oef_test
# PORT is $OEF_PG_PORT when set, else the port this checkout's cluster already uses, else one
# derived from the checkout's path (55432-56431), moved up past ports that are taken, so two
# checkouts on one machine (a fresh clone beside the work tree) never share a server.
#
# Installs Debian's postgresql package with apt-get when no server binaries are found. The
# cluster lives in target/postgres (or, when the server's user cannot reach the checkout, in
# /tmp/oef-postgres-<checkout hash>; trust auth, loopback only, fsync off: test data only) and
# keeps running for later calls; `scripts/postgres.sh stop` stops it (and removes a cluster
# under /tmp: it belongs to this checkout alone), `scripts/postgres.sh status` exits 0 when it
# runs. scripts/test.sh stops a cluster it started. Idempotent and safe to call concurrently.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/target/postgres"
# The cluster (data and server log) lives in $dir, unless the server's user cannot reach it:
# as root the server runs as `postgres`, and a checkout under a private directory (mode 0700,
# as `mktemp -d` makes) is closed to that user. The cluster then goes to a directory of its
# own under /tmp, named after the checkout's path. Lock and port stay in $dir.
cluster="$dir"
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$root" 2>/dev/null; then
  cluster="/tmp/oef-postgres-$(printf '%s' "$root" | cksum | cut -d' ' -f1)"
fi
data="$cluster/data"

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

mkdir -p "$dir"
exec 9>"$dir.lock"
flock 9

bin="$(find_bin)"

# PostgreSQL refuses to run as root: run it as the package's postgres user then.
run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = status ]; then
  [ -n "$bin" ] && [ -f "$data/postmaster.pid" ] && run "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
  exit
fi

if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "scripts/postgres.sh: installing postgresql with apt-get" >&2
  as_root apt-get update >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y --no-install-recommends postgresql >&2
  bin="$(find_bin)"
fi

if [ "${1:-}" = stop ]; then
  [ -f "$data/postmaster.pid" ] && run "$bin/pg_ctl" -D "$data" -m fast stop >&2 9>&- || true
  # A cluster under /tmp is this checkout's alone: left there, one would pile up per clone.
  if [ "$cluster" != "$dir" ]; then
    rm -rf "$cluster"
  fi
  exit 0
fi

if [ ! -f "$data/PG_VERSION" ]; then
  rm -rf "$data"
  mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$cluster"
  run "$bin/initdb" -D "$data" -U oef -A trust --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -n "${OEF_PG_PORT:-}" ]; then
  port="$OEF_PG_PORT"
elif [ -f "$dir/port" ]; then
  port="$(cat "$dir/port")"
else
  port=$((55432 + $(printf '%s' "$root" | cksum | cut -d' ' -f1) % 1000))
fi

if ! run "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  if [ -z "${OEF_PG_PORT:-}" ]; then
    while port_in_use "$port"; do port=$((port + 1)); done
  fi
  run "$bin/pg_ctl" -D "$data" -l "$cluster/server.log" -w -t 60 \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >&2 9>&- || {
    tail -n 20 "$cluster/server.log" >&2
    exit 1
  }
  echo "$port" >"$dir/port"
fi
url="postgres://oef@127.0.0.1:$port/oef_test"

# A cluster already running keeps its port (line 4 of postmaster.pid), whatever OEF_PG_PORT says.
port="$(sed -n 4p "$data/postmaster.pid")"
url="postgres://oef@127.0.0.1:$port/oef_test"

if ! psql -h 127.0.0.1 -p "$port" -U oef -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'oef_test'" | grep -q 1; then
  psql -h 127.0.0.1 -p "$port" -U oef -d postgres -qc "CREATE DATABASE oef_test" >&2
fi
echo "$url"
