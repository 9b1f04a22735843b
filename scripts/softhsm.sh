#!/usr/bin/env bash
# Prepares a SoftHSM token for the coffer-hsm integration tests and prints the `export` lines
# they read. Idempotent: installs Debian's softhsm2 only when the module is missing, and reuses
# the token already initialised in DIR.
#
# Usage: eval "$(bash scripts/softhsm.sh DIR)"
# Everything except the export lines goes to stderr, so the eval sees only those.
set -euo pipefail

MODULE=/usr/lib/softhsm/libsofthsm2.so
LABEL=coffer-test
# A throwaway token for tests only; these PINs protect nothing else.
SO_PIN=coffer-so-pin-1234
USER_PIN=coffer-user-pin-1234

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: eval \"\$(bash $0 DIR)\"  (DIR holds the SoftHSM config and token files)" >&2
    exit 2
fi

if [ ! -f "$MODULE" ] || ! command -v softhsm2-util >/dev/null 2>&1; then
    echo "softhsm.sh: installing softhsm2 (module $MODULE missing)" >&2
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! "${SUDO[@]}" apt-get install -y softhsm2 >&2; then
        # A fresh machine may have no package lists yet.
        "${SUDO[@]}" apt-get update >&2
        "${SUDO[@]}" apt-get install -y softhsm2 >&2
    fi
fi
if [ ! -f "$MODULE" ]; then
    echo "softhsm.sh: $MODULE still missing after installing softhsm2" >&2
    exit 1
fi

mkdir -p "$1/tokens"
DIR="$(cd "$1" && pwd)"
CONF="$DIR/softhsm2.conf"
cat >"$CONF" <<EOF
directories.tokendir = $DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF="$CONF"

if ! softhsm2-util --show-slots 2>/dev/null | grep -Eq "^[[:space:]]*Label:[[:space:]]+$LABEL[[:space:]]*$"; then
    echo "softhsm.sh: initialising token '$LABEL' in $DIR/tokens" >&2
    softhsm2-util --init-token --free --label "$LABEL" --so-pin "$SO_PIN" --pin "$USER_PIN" >&2
fi

printf 'export COFFER_TEST_PKCS11_MODULE=%q\n' "$MODULE"
printf 'export SOFTHSM2_CONF=%q\n' "$CONF"
printf 'export COFFER_TEST_PKCS11_TOKEN=%q\n' "$LABEL"
printf 'export COFFER_TEST_PKCS11_PIN=%q\n' "$USER_PIN"
