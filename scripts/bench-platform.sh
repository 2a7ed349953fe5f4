#!/usr/bin/env bash
# Measures the platform service on loopback with the embedded SQLite default (durable writes):
# LaunchExperiment/s with many calls in flight, and p50/p99 latency at 1000 launches/s.
# A benchmark, never a timed test. Environment: OEF_BENCH_SECONDS (5), OEF_BENCH_RATE (1000),
# OEF_BENCH_INFLIGHT (128).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo bench -p oef-client --bench launch 2>/dev/null | grep -E '^(throughput|latency)'
