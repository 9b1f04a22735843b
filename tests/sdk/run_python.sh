#!/usr/bin/env bash
# tests/sdk/run_python.sh — runs the official Azure SDK for Python (azure-keyvault-secrets +
# azure-identity, unmodified, challenge-resource verification on) against a fresh `coffer serve`.
#
# Usage: bash tests/sdk/run_python.sh PATH_TO_COFFER_BINARY [extra pytest args...]
#
# - venv in $REPO/target/sdk-venv, rebuilt only when tests/sdk/python/requirements.txt (or the
#   Python interpreter) changes; installs python3 + venv from Debian's packages when missing.
# - coffer runs in a fresh temporary data dir on a free loopback port; its bootstrap.json is
#   handed to pytest as COFFER_BOOTSTRAP, its CA as REQUESTS_CA_BUNDLE / SSL_CERT_FILE.
# - glibc does not resolve *.localhost here, so pytest runs in a private mount namespace whose
#   /etc/hosts (a bind mount) maps the role host names to 127.0.0.1.
# - exits with pytest's exit code; "no tests collected" (5) counts as a failure.
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: bash $0 PATH_TO_COFFER_BINARY [pytest args...]" >&2
    exit 2
fi
BIN_ARG=$1
shift
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
SUITE="$SCRIPT_DIR/python"
REQ="$SUITE/requirements.txt"
VENV="$REPO/target/sdk-venv"
STAMP="$VENV/.requirements.sha256"
READY_TIMEOUT=30
PYTEST_TIMEOUT=${PYTEST_TIMEOUT:-600}
# Vault host names the tests use, besides the default vault "dev".
VAULT_NAMES=(dev nosuch sdk-kv-mgmt sdk-kv-bad az-kv-cli sdk-kv-fw sdk-kv-throttle)

log() { echo "[sdk-python] $*" >&2; }

if [ ! -x "$BIN_ARG" ]; then
    log "coffer binary '$BIN_ARG' does not exist or is not executable (build it with: cargo build -p coffer-server)"
    exit 2
fi
BIN=$(cd "$(dirname "$BIN_ARG")" && pwd)/$(basename "$BIN_ARG")

# ---- Python and the venv ---------------------------------------------------------------------
has_venv() { command -v "$1" >/dev/null 2>&1 && "$1" -c 'import venv, ensurepip' >/dev/null 2>&1; }
PY=${PYTHON:-python3}
if ! has_venv "$PY"; then
    # Debian splits venv/ensurepip into python3-venv; a fresh machine may lack python3 entirely.
    log "'$PY' cannot create a venv: installing python3 and python3-venv from Debian's packages"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv ca-certificates >/dev/null
    PY=/usr/bin/python3
    has_venv "$PY" || { log "python3 -m venv is still unusable after installing python3-venv"; exit 1; }
fi
PY_ID=$("$PY" -c 'import sys; print(sys.executable, sys.version.replace("\n", " "))')
WANT=$( { cat "$REQ"; echo "$PY_ID"; } | sha256sum | cut -d' ' -f1)
HAVE=$(cat "$STAMP" 2>/dev/null || true)
if [ "$WANT" != "$HAVE" ] || ! "$VENV/bin/python" -c 'import azure.keyvault.secrets, azure.identity, pytest' >/dev/null 2>&1; then
    log "creating $VENV (requirements changed or venv missing)"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQ"
    echo "$WANT" >"$STAMP"
else
    log "reusing $VENV"
fi
VPY="$VENV/bin/python"

# ---- Server lifecycle --------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/coffer-sdk-python.XXXXXX")
SERVER_PID=""
RC=1

stop_server() {
    # Stops the server we started, by its PID: SIGTERM, wait for it, then make sure it is gone.
    [ -n "$SERVER_PID" ] || return 0
    local pid=$SERVER_PID status=0
    SERVER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "coffer (pid $pid) did not exit within 15 s of SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            return 1
        fi
    fi
    wait "$pid" 2>/dev/null || status=$?
    if [ "$status" -ne 0 ]; then
        log "coffer (pid $pid) exited with status $status after SIGTERM"
        return 1
    fi
    log "coffer (pid $pid) stopped cleanly"
}

show_server_logs() {
    log "---- coffer stdout (tail) ----"
    tail -n 40 "$TMP/server.stdout" >&2 2>/dev/null || true
    log "---- coffer stderr (tail) ----"
    tail -n 80 "$TMP/server.stderr" >&2 2>/dev/null || true
}

cleanup() {
    local rc=$RC
    if ! stop_server; then
        show_server_logs
        [ "$rc" -ne 0 ] || rc=1
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'RC=143; exit 143' INT TERM

# ---- PKCS#11 token for HSM keys ---------------------------------------------------------------
# scripts/test.sh prepares SoftHSM before the cargo tests; prepare it here too when run alone.
HSM_ARGS=()
if [ -z "${COFFER_TEST_PKCS11_MODULE:-}" ] && [ "${COFFER_SKIP_HSM_TESTS:-}" != 1 ]; then
    eval "$(bash "$REPO/scripts/softhsm.sh" "$REPO/target/softhsm")"
fi
if [ -n "${COFFER_TEST_PKCS11_MODULE:-}" ]; then
    HSM_ARGS=(--pkcs11-module "$COFFER_TEST_PKCS11_MODULE" --pkcs11-token "$COFFER_TEST_PKCS11_TOKEN")
    export COFFER_PKCS11_PIN="$COFFER_TEST_PKCS11_PIN" COFFER_SDK_HSM=1
    log "HSM keys in PKCS#11 token '$COFFER_TEST_PKCS11_TOKEN'"
fi

PORT=$("$VPY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
MPORT=$("$VPY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
DATA="$TMP/data"
log "starting $BIN on 127.0.0.1:$PORT (data dir $DATA, metrics on 127.0.0.1:$MPORT)"
COFFER_LOG=${COFFER_LOG:-info} "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" "${HSM_ARGS[@]}" \
    --metrics-listen "127.0.0.1:$MPORT" \
    >"$TMP/server.stdout" 2>"$TMP/server.stderr" </dev/null &
SERVER_PID=$!

deadline=$((SECONDS + READY_TIMEOUT))
until grep -q ready "$TMP/server.stdout" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "coffer exited before it was ready"
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
        show_server_logs
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        log "coffer did not print 'ready' within ${READY_TIMEOUT} s"
        show_server_logs
        exit 1
    fi
    sleep 0.1
done
BOOT="$DATA/bootstrap.json"
[ -s "$BOOT" ] || { log "coffer is ready but $BOOT is missing"; show_server_logs; exit 1; }
CA=$("$VPY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["ca_cert"] or "")' "$BOOT")
[ -s "$CA" ] || { log "bootstrap.json names no readable CA certificate ('$CA')"; exit 1; }
log "coffer ready; contract $BOOT"

# ---- Name resolution: a private /etc/hosts for the test process -------------------------------
HOSTS="$TMP/hosts"
{
    NAMES="localhost login.localhost vault.localhost management.localhost graph.localhost"
    for v in "${VAULT_NAMES[@]}"; do NAMES="$NAMES $v.vault.localhost"; done
    # Custom domains of the gateway tests.
    NAMES="$NAMES api.contoso.test cli.contoso.test"
    echo "127.0.0.1 $NAMES"
    echo "::1 localhost ip6-localhost ip6-loopback"
    # Keep the machine's own entries (its host name) after ours.
    grep -v -E '^[[:space:]]*(#|$)' /etc/hosts 2>/dev/null || true
} >"$HOSTS"
NS=(unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$HOSTS")
if ! "${NS[@]}" getent hosts dev.vault.localhost >/dev/null 2>&1; then
    log "cannot run in a private mount namespace (unshare -m / mount --bind failed); need root or CAP_SYS_ADMIN"
    exit 1
fi

# ---- pytest --------------------------------------------------------------------------------------
log "running pytest"
set +e
env COFFER_BOOTSTRAP="$BOOT" COFFER_METRICS_URL="http://127.0.0.1:$MPORT/metrics" COFFER_BIN="$BIN" COFFER_SERVER_STDOUT="$TMP/server.stdout" REQUESTS_CA_BUNDLE="$CA" SSL_CERT_FILE="$CA" \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    timeout --signal=TERM --kill-after=10 "$PYTEST_TIMEOUT" \
    "${NS[@]}" "$VPY" -m pytest -v -p no:cacheprovider --rootdir "$SUITE" "$SUITE" "$@"
RC=$?
set -e
case "$RC" in
    0) log "pytest passed" ;;
    5) log "pytest collected no tests: treated as a failure" ;;
    124) log "pytest timed out after ${PYTEST_TIMEOUT} s" ;;
    *) log "pytest failed with exit code $RC" ;;
esac
if [ "$RC" -ne 0 ]; then
    show_server_logs
fi
# cleanup (EXIT trap) stops the server, removes $TMP and exits with $RC.
