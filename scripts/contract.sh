#!/usr/bin/env bash
# The API contract under fuzzing: schemathesis (pinned, from PyPI, into a venv) against the
# real binary, once as an owner and once as a viewer (so the 403s are exercised too), with
# stateful testing over the document's links, a fixed seed and a time budget per role.
#
#   scripts/contract.sh                 # builds target/debug/pregon when it is missing
#   PREGON_BIN=path/to/pregon CONTRACT_SECONDS=60 CONTRACT_SEED=7 scripts/contract.sh
#
# Exits non-zero on any failure; prints a summary line per role. Reports (JUnit, and the
# failing cases as pytest files) go to $CONTRACT_OUT (default target/contract).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
SEED=${CONTRACT_SEED:-20261202}
# Per role; owner and viewer together stay about two minutes.
SECONDS_PER_ROLE=${CONTRACT_SECONDS:-55}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${PREGON_BIN:-$TARGET/debug/pregon}
OUT=${CONTRACT_OUT:-$TARGET/contract}
VENV=${CONTRACT_VENV:-$TARGET/schemathesis-$SCHEMATHESIS_VERSION}
case $VENV in /*) ;; *) VENV=$PWD/$VENV ;; esac
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection

started=$SECONDS
[ -x "$BIN" ] || cargo build --locked -p pregon
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
owner_key=pgn_contract_owner_$(python3 -c 'import secrets; print(secrets.token_hex(16))')
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# A fresh SQLite database; the sandbox provider; a rate limit no fuzzer reaches (429 is
# documented, but a run spent on it tests nothing else); provider calls to the made-up
# URLs fuzzing gives senders end quickly.
PREGON_LISTEN=127.0.0.1:$port \
PREGON_DATABASE_URL="sqlite://$work/pregon.db" \
PREGON_BOOTSTRAP_API_KEY=$owner_key \
PREGON_BOOTSTRAP_PASSWORD=contract-owner-password \
PREGON_API_RATE_LIMIT=100000 \
PREGON_PROVIDER_TIMEOUT_SECS=2 \
PREGON_SANDBOX_LATENCY_MS=1 \
PREGON_LOG=warn \
  "$BIN" serve >"$OUT/pregon.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/health" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$OUT/pregon.log"; exit 1; }
  sleep 0.1
done

viewer_key=$(curl -fsS -X POST "$base/api/v1/api-keys" \
  -H "Authorization: Bearer $owner_key" -H 'Content-Type: application/json' \
  -d '{"name": "contract viewer", "role": "viewer"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')

status=0
summary=()
for role in owner viewer; do
  key=$owner_key
  exclude=()
  # Listing the keys gives the fuzzer the owner key's own id, and revoking it would end the
  # run in 401s; the viewer run covers that operation (403).
  [ "$role" = owner ] && exclude=(--exclude-path '/api/v1/api-keys/{id}')
  [ "$role" = viewer ] && key=$viewer_key
  role_started=$SECONDS
  set +e
  # From the scratch directory: schemathesis keeps a cache of past crashes where it runs,
  # and each run starts from nothing.
  (cd "$work" && "$VENV/bin/schemathesis" run "$base/openapi.json" \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing,stateful \
    --seed "$SEED" \
    --max-time "$SECONDS_PER_ROLE" \
    --workers 1 \
    --request-timeout 10 \
    --suppress-health-check all \
    --header "Authorization: Bearer $key" \
    "${exclude[@]}" \
    --report junit,pytest \
    --report-junit-path "$OUT/$role.junit.xml" \
    --report-pytest-path "$OUT/$role.failures.py" \
    --output-truncate false \
    >"$OUT/$role.txt" 2>&1)
  rc=$?
  set -e
  if ! curl -fsS -o /dev/null "$base/api/v1/me" -H "Authorization: Bearer $key"; then
    echo "the $role key stopped working during its run"; rc=1
  fi
  # schemathesis ends with a line such as `=== 2 failures, 3 warnings in 55.02s ===`.
  line=$(grep -E '^=+ .* in [0-9.]+s =+$' "$OUT/$role.txt" | tail -n 1 | tr -d '=' | xargs || true)
  cases=$(grep -E '^ *[0-9]+ generated' "$OUT/$role.txt" | tail -n 1 | xargs || true)
  summary+=("$role: exit $rc, $((SECONDS - role_started)) s; ${line:-see $OUT/$role.txt}${cases:+; $cases}")
  if [ "$rc" -ne 0 ]; then
    status=1
    tail -n 200 "$OUT/$role.txt"
  fi
done

if ! kill -0 "$pid" 2>/dev/null; then
  echo "pregon exited during the run:"; tail -n 50 "$OUT/pregon.log"; status=1
fi
if grep -q 'panicked' "$OUT/pregon.log"; then
  echo "pregon panicked during the run:"; grep -A5 'panicked' "$OUT/pregon.log" | head -n 40; status=1
fi

echo "API contract (schemathesis $SCHEMATHESIS_VERSION, seed $SEED, ${SECONDS_PER_ROLE} s a role):"
printf '  %s\n' "${summary[@]}"
echo "  total $((SECONDS - started)) s"
exit $status
