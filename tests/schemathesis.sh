#!/usr/bin/env bash
# Property-based conformance of the program API to its OpenAPI document:
# schemathesis generates requests from /api/v1/openapi.json (examples,
# coverage, fuzzing and stateful phases) against a fresh server on a free
# port and checks every answer. Installs schemathesis (PyPI) when missing.
# Bounded in time; any failure fails the run.
#
#   CIRCLEKEEPER_BIN=target/debug/circlekeeper bash tests/schemathesis.sh
#
# Checks (docs/decisions.md, "Schemathesis"): no server error, every status
# code documented, content types, response headers and bodies as documented,
# and schema-invalid requests refused. Not `positive_data_acceptance`: the
# document does not express every validation rule (a room needs at least one
# seat, a page limit is 1–100, …), so the server rightly refuses some
# requests the schema allows.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
version="4.32.5"

if ! command -v st >/dev/null 2>&1 || ! st --version 2>/dev/null | grep -q "$version"; then
  echo "schemathesis: installing $version" >&2
  python3 -m pip install --quiet "schemathesis==$version"
fi

bin="${CIRCLEKEEPER_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --locked)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/circlekeeper"
fi

# The server reads every CIRCLEKEEPER_* variable as a setting: keep ours away from it.
unset CIRCLEKEEPER_BIN

work="$(mktemp -d)"
server=""
cleanup() {
  if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

key="schemathesis-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
sha="$(printf %s "$key" | sha256sum | cut -d' ' -f1)"

# Only our settings reach the server (it reads every CIRCLEKEEPER_* variable).
env -u CIRCLEKEEPER_CONFIG \
  CIRCLEKEEPER_API__KEYS="[{ id = \"schemathesis\", key_sha256 = \"$sha\", read_only = false }]" \
  CIRCLEKEEPER_MEDIA__UDP_PORT=0 \
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/out.log" 2>"$work/server.log" &
server=$!

address=""
for _ in $(seq 1 200); do
  address="$(grep -oE 'running on http://[0-9.:]+' "$work/out.log" | sed 's|running on http://||' || true)"
  [[ -n "$address" ]] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$address" ]] || { echo "schemathesis: the server did not start" >&2; exit 1; }

# From the temporary folder: schemathesis keeps its own state in the working folder.
cd "$work"
st run "http://$address/api/v1/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
  --max-time "${SCHEMATHESIS_SECONDS:-150}" \
  --seed "${SCHEMATHESIS_SEED:-16}" \
  --generation-database none \
  --no-color
