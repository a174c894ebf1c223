#!/usr/bin/env bash
# Runs every test of Circle Keeper: the state machine's unit and property
# tests, the integration tests over real sockets, the media tests, a
# schemathesis run of the program API against its OpenAPI document, and the
# browser end-to-end tests (which install Chromium, Firefox ESR and npm packages when
# missing). coturn and PostgreSQL are installed first when missing, for the TURN tests
# and the store's Postgres backend (the tests start their own servers). This is
# the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

# The TURN tests run Debian's real coturn (turnserver, turnutils_uclient).
if ! command -v turnserver >/dev/null || ! command -v turnutils_uclient >/dev/null; then
  echo "== installing coturn (Debian's TURN server, for the TURN tests)"
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y coturn
fi

# The store suite and the restart test run on a real Postgres too; the tests
# start a private server (crates/testpg) from Debian's binaries.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "== installing PostgreSQL (Debian's server, for the store's Postgres tests)"
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
fi

echo "== Rust: unit, property and integration tests"
cargo test --workspace --all-targets --locked

echo "== API: schemathesis against the OpenAPI document (installs schemathesis when missing)"
CIRCLEKEEPER_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/circlekeeper" bash tests/schemathesis.sh

echo "== Browser: end-to-end tests in headless Chromium and Firefox ESR"
# `cargo test` above built the server binary for the integration tests; use it.
CIRCLEKEEPER_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/circlekeeper" bash tests/e2e/run.sh
