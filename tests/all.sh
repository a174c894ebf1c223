#!/usr/bin/env bash
# Runs every test of Circle Keeper: the state machine's unit and property
# tests, the integration tests over real sockets, the media tests, and the
# browser end-to-end tests (which install Chromium and npm packages when
# missing). This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust: unit, property and integration tests"
cargo test --all-targets --locked

echo "== Browser: end-to-end tests in headless Chromium"
# `cargo test` above built the server binary for the integration tests; use it.
CIRCLEKEEPER_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/circlekeeper" bash tests/e2e/run.sh
