#!/usr/bin/env bash
# Fuzzes a live ursa-cp against its own OpenAPI document with Schemathesis (PyPI): every
# operation, SCHEMATHESIS_EXAMPLES cases each (default 30) over Schemathesis' phases (examples,
# coverage, fuzzing, stateful), checking that nothing answers 5xx and that every status,
# content type, header and body matches the document. The control plane runs on loopback
# ports the OS picks (memory store) and is stopped on exit. Installs Schemathesis when missing.
#
#   bash scripts/schemathesis.sh [path/to/ursa-cp]   # default: target/debug/ursa-cp
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-target/debug/ursa-cp}
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-30}
[ -x "$BIN" ] || cargo build --quiet --bin ursa-cp

if ! command -v st >/dev/null 2>&1; then
  echo "== installing Schemathesis (pip install schemathesis)"
  python3 -m pip install --quiet schemathesis
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  hash -r
  PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
fi

log=$(mktemp)
out=$(mktemp)
KUMA_API_SERVER_INTERFACE=127.0.0.1 KUMA_API_SERVER_PORT=0 KUMA_BOOTSTRAP_SERVER_PORT=0 \
KUMA_XDS_SERVER_GRPC_PORT=0 KUMA_XDS_SERVER_DIAGNOSTICS_PORT=0 KUMA_ADMIN_SERVER_LOCAL_PORT=0 \
KUMA_STORE_TYPE=memory NO_COLOR=1 "$BIN" >"$log" 2>&1 &
cp_pid=$!
trap 'kill "$cp_pid" 2>/dev/null || true; wait "$cp_pid" 2>/dev/null || true; rm -f "$log" "$out"' EXIT

api=""
for _ in $(seq 1 300); do
  api=$(grep -o 'api=http://[0-9.:]*' "$log" | head -1 | cut -d= -f2 || true)
  [ -n "$api" ] && break
  kill -0 "$cp_pid" 2>/dev/null || { cat "$log" >&2; echo "ursa-cp did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$api" ] || { cat "$log" >&2; echo "ursa-cp did not start in time" >&2; exit 1; }

echo "== schemathesis against $api ($EXAMPLES examples per operation)"
set +e
st --config-file scripts/schemathesis.toml run "$api/_openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "$EXAMPLES" --seed 20260101 --no-color --warnings off --generation-database none \
  --request-timeout 10 >"$out" 2>&1
status=$?
set -e
# The report's summary (everything from its SUMMARY banner), then one line to grep for.
sed -n '/SUMMARY/,$p' "$out"
if [ "$status" != 0 ]; then
  cat "$out" >&2
fi
cases=$(grep -E '^\s+[0-9]+ generated' "$out" | head -1 | sed 's/^ *//')
last=$(tail -1 "$out" | tr -d '=' | sed 's/^ *//; s/ *$//')
echo "schemathesis: ${cases:-no test cases}; ${last} (exit $status)"
if grep -q ' ERROR \| panicked' "$log"; then
  echo "ursa-cp logged errors during the run:" >&2
  grep ' ERROR \| panicked' "$log" >&2
  status=1
fi
exit "$status"
