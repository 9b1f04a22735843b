#!/usr/bin/env bash
# Runs every test of the project: Rust unit, in-process and black-box tests, then the official
# Azure clients (Python, JavaScript and Rust SDKs, Azure CLI) against a real `coffer serve`.
# Installs what the suites need (virtualenvs, npm packages, all pinned) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --locked
# A SoftHSM token for the PKCS#11 key provider's tests and the HSM-key SDK tests (installs
# Debian's softhsm2 when missing; the token lives under target/softhsm).
eval "$(bash scripts/softhsm.sh target/softhsm)"
# A throwaway PostgreSQL for the shared-store backend's conformance suite and the multi-node
# tests (installs Debian's postgresql when missing; stopped by its process id at exit), unless
# COFFER_TEST_POSTGRES_URL names a server already. Its tests fail rather than skip from here on.
eval "$(bash scripts/postgres.sh start)"
if [ -n "${COFFER_TEST_POSTGRES_DIR:-}" ]; then
  trap 'bash scripts/postgres.sh stop "$COFFER_TEST_POSTGRES_DIR"' EXIT
fi
export COFFER_REQUIRE_POSTGRES=1
cargo test --workspace --locked
# The official Rust SDK client has its own lockfile and target dir (it is not a workspace member).
CARGO_TARGET_DIR=target/sdk-rust cargo build --locked --manifest-path tests/sdk/rust/Cargo.toml
bash tests/sdk/run_python.sh target/debug/coffer
# The official SDKs' secrets, keys and certificates suites again, against a server on PostgreSQL.
SDK_DB="coffer_sdk_$$"
psql "$COFFER_TEST_POSTGRES_URL" -qXc "CREATE DATABASE $SDK_DB"
COFFER_STORE="${COFFER_TEST_POSTGRES_URL%/*}/$SDK_DB" bash tests/sdk/run_python.sh target/debug/coffer \
  -k "test_secrets or test_certificates or test_keys.py"
# A short fuzzing pass when cargo-fuzz (on PATH or in target/tools) and a nightly are installed.
# `scripts/fuzz.sh` also runs on stable alone; under CI, `.ci/run` runs it as its own step.
if [ "${CI:-}" != true ] \
  && PATH="$PWD/target/tools/bin:$PATH" cargo fuzz --version >/dev/null 2>&1 \
  && cargo +nightly --version >/dev/null 2>&1; then
  bash scripts/fuzz.sh 5
fi
