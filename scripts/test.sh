#!/usr/bin/env bash
# Runs every test of the project: Rust unit, in-process and black-box tests, then the official
# Azure SDK conformance suites against a real `coffer serve`. Installs what the suites need
# (a Python virtualenv with pinned SDK versions) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --locked
cargo test --workspace --locked
bash tests/sdk/run_python.sh target/debug/coffer
