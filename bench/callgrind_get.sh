#!/usr/bin/env bash
# bench/callgrind_get.sh — instructions per "GET secret" request, counted by valgrind's callgrind,
# which is stable on a noisy shared machine where timings are not. Coffer (release build, debug
# symbols kept) runs under callgrind on a fresh data directory; after start-up and a warm-up the
# counters are zeroed, N requests are sent over one HTTPS keep-alive connection with a real
# bearer token, and the counters are dumped. Prints one JSON line: instructions per GET and the
# top functions by inclusive cost (the annotated profile stays in $OUT when OUT is set).
# PIPELINE=full turns on the firewall (Deny + ipRule for loopback) and the audit log, as
# bench/secrets_get.sh does; throttling is off unless PIPELINE=throttle.
# Usage: N=2000 PIPELINE=full bash bench/callgrind_get.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}; PIPELINE=${PIPELINE:-default}; WARM=${WARM:-200}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/coffer"
log() { echo "[callgrind_get] $*" >&2; }

command -v valgrind >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
[ -x "$BIN" ] || { log "building the release binary"; cargo build --release --locked -p coffer-server >&2; }

W=$(mktemp -d /tmp/coffer-callgrind.XXXXXX); PID=""
cleanup() { if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi; [ -n "${OUT:-}" ] || rm -rf "$W"; }
trap cleanup EXIT; trap "exit 143" INT TERM

LIMITS=(--limits off)
if [ "$PIPELINE" = throttle ]; then
  sed -E '/^(window_seconds|subscription_multiplier)/! s/= ([0-9]+)$/= \10000/' crates/coffer-service/src/throttle/limits.toml >"$W/limits.toml"
  LIMITS=(--limits "$W/limits.toml")
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The data directory is prepared by a normal start first, so callgrind sees only serving.
COFFER_LOG=warn "$BIN" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" "${LIMITS[@]}" >"$W/prep" 2>&1 &
PID=$!
for _ in $(seq 300); do grep -q ready "$W/prep" 2>/dev/null && break; sleep 0.02; done
CA="$W/data/tls/ca.pem"; VAULT="https://dev.vault.localhost:$PORT"
TOKEN=$("$BIN" token get --raw --data-dir "$W/data")
curl -s --cacert "$CA" --resolve "dev.vault.localhost:$PORT:127.0.0.1" -X PUT -H "Authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"value":"s3cr3t-v4lue"}' "$VAULT/secrets/bench?api-version=7.6" >/dev/null
if [ "$PIPELINE" = full ]; then
  "$BIN" vault network-rule add --name dev --ip-address 127.0.0.1 --data-dir "$W/data" >/dev/null
  "$BIN" vault update --name dev --default-action Deny --data-dir "$W/data" >/dev/null
  "$BIN" vault diagnostics set --name dev --data-dir "$W/data" >/dev/null
fi
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""

log "starting coffer under callgrind (slow)"
COFFER_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" --dump-instr=no \
  "$BIN" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" "${LIMITS[@]}" >"$W/out" 2>"$W/err" &
PID=$!
for _ in $(seq 1200); do grep -q ready "$W/out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$W/out" || { log "coffer did not start under callgrind"; tail "$W/err" >&2; exit 1; }

# One keep-alive connection; WARM requests first (caches, token cache, lazy statics), then the
# counters are zeroed and N requests counted.
python3 - "$PORT" "$CA" "$TOKEN" "$N" "$WARM" "$PID" <<'PY'
import http.client, socket, ssl, subprocess, sys
port, ca, token, n, warm, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
ctx = ssl.create_default_context(cafile=ca)
class C(http.client.HTTPSConnection):
    def connect(self):
        raw = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock = ctx.wrap_socket(raw, server_hostname="dev.vault.localhost")
c = C("dev.vault.localhost", port, context=ctx, timeout=120)
hdr = {"Authorization": "Bearer " + token, "Host": f"dev.vault.localhost:{port}"}
def run(k):
    for _ in range(k):
        c.request("GET", "/secrets/bench?api-version=7.6", headers=hdr)
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
run(warm)
subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
run(n)
subprocess.run(["callgrind_control", "--dump=measured", pid], check=True, capture_output=True)
PY
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
DUMP=$(ls "$W"/cg.out.* 2>/dev/null | head -1)
[ -n "$DUMP" ] || { log "no callgrind dump"; ls "$W" >&2; exit 1; }
callgrind_annotate --inclusive=yes "$DUMP" >"$W/annotate.txt" 2>/dev/null || true
total=$(awk '/^summary:/ {print $2}' "$DUMP")
python3 - "$total" "$N" "$PIPELINE" "$W/annotate.txt" <<'PY'
import json, re, sys
total, n, pipeline, ann = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
top = []
for line in open(ann, errors="replace"):
    m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+\S+:(.*)$", line) or re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)$", line)
    if m and len(top) < 25:
        name = m.group(3).strip()
        name = re.sub(r"\s*\[.*\]$", "", name)
        top.append({"pct": float(m.group(2)), "fn": name[:140]})
print(json.dumps({"pipeline": pipeline, "requests": n, "instructions_per_get": round(total / n), "top_inclusive": top}))
PY
[ -z "${OUT:-}" ] || { mkdir -p "$OUT"; cp "$DUMP" "$W/annotate.txt" "$OUT/"; log "profile kept in $OUT"; }
