#!/usr/bin/env bash
# One command for the benchmarks of issue 5: builds ursa-cp and ursa-bench in release mode and
# runs every scenario against a fresh control plane on loopback, printing the tables.
#   bash bench/run.sh                   # everything (a few minutes on 2 cores)
#   bash bench/run.sh --api-only        # API + memory scenarios only
#   bash bench/run.sh --fleet 1000      # smaller xDS fleet; see --help for every knob
set -euo pipefail
cd "$(dirname "$0")/.."
# 10,000 ADS streams over 100 HTTP/2 connections, plus the API load: stay well inside the limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release --quiet -p ursa-cp -p ursa-bench
exec target/release/ursa-bench --cp target/release/ursa-cp "$@"
