#!/usr/bin/env bash
# bench/keys_sign.sh — REST RS256 sign with an RSA-2048 key over HTTPS keep-alive (real bearer
# token, access-policy check, key read, AES-GCM open of the key, RSA private operation on the
# blocking pool), beside `openssl speed -multi 2 rsa2048` signs/s measured in the same run.
# Then reruns bench/secrets_get.sh (without its nginx ceiling) to show GET-secret throughput.
# wrk and Coffer share the machine's cores; openssl's figure has both cores to itself.
# Usage: bash bench/keys_sign.sh  -> progress on stderr, one JSON line on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}; CONNS=${CONNS:-32}; THREADS=${THREADS:-2}; SECS=${SECS:-5}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/coffer"
log() { echo "[keys_sign] $*" >&2; }

command -v wrk >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v openssl >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }
[ -x "$BIN" ] || { log "building the release binary"; cargo build --release --locked -p coffer-server >&2; }

W=$(mktemp -d /tmp/coffer-bench-sign.XXXXXX); PID=""
cleanup() { if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi; rm -rf "$W"; }
trap cleanup EXIT; trap "exit 143" INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
COFFER_LOG=warn "$BIN" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" --limits off >"$W/out" 2>"$W/err" &
PID=$!
for _ in $(seq 500); do grep -q ready "$W/out" 2>/dev/null && break; sleep 0.01; done
grep -q ready "$W/out" || { log "coffer did not start"; cat "$W/err" >&2; exit 1; }

CA="$W/data/tls/ca.pem"; VAULT="https://dev.vault.localhost:$PORT"
TOKEN=$("$BIN" token get --raw --data-dir "$W/data")
curl -sf --cacert "$CA" --resolve "dev.vault.localhost:$PORT:127.0.0.1" -X POST -H "Authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"kty":"RSA","key_size":2048}' "$VAULT/keys/bench/create?api-version=7.6" >/dev/null
# A SHA-256 digest, base64url.
DIGEST=$(printf 'coffer' | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')
cat >"$W/sign.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"alg":"RS256","value":"$DIGEST"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
printf '127.0.0.1 localhost dev.vault.localhost\n' >"$W/hosts"
cpu() { awk '{print $14+$15}' "/proc/$PID/stat"; }
hz=$(getconf CLK_TCK)
c0=$(cpu)
log "wrk ${DUR}s, $CONNS connections: POST $VAULT/keys/bench//sign"
timeout $((DUR + 30)) unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$W/hosts" \
  wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency -s "$W/sign.lua" \
  "$VAULT/keys/bench//sign?api-version=7.6" >"$W/wrk.txt" 2>&1 || true
c1=$(cpu)
cat "$W/wrk.txt" >&2
rps=$(awk '/Requests\/sec/ {print $2}' "$W/wrk.txt")
p99=$(awk '$1=="99%" {print $2}' "$W/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $5}' "$W/wrk.txt"); non2xx=${non2xx:-0}
reqs=$(awk '/requests in/ {print $1}' "$W/wrk.txt")
per_cpu=$(python3 -c "print(round(${reqs:-0}/max(($c1-$c0)/$hz,0.01)))")
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""

log "openssl speed -multi 2 -seconds $SECS rsa2048"
(cd "$W" && timeout 120 openssl speed -multi 2 -seconds "$SECS" -mr rsa2048 >"$W/speed.txt" 2>/dev/null) || true
# With -multi, -mr's summary line "+F2:<n>:<bits>:<signs/s>:<verifies/s>" adds up the processes.
ceiling=$(awk -F: '/^\+F2:/ && $3==2048 {printf "%.0f", $4}' "$W/speed.txt" | tail -n 1)
ratio=$(python3 -c "print(round(${rps:-0}/max(${ceiling:-0},1),3))")

log "GET secret throughput (bench/secrets_get.sh, no nginx ceiling)"
get=$(CEILING=0 DUR=$DUR bash bench/secrets_get.sh 2>/dev/null | tail -n 1 || echo null)
printf '{"rest_rs256_sign_rps":%s,"p99":"%s","non_2xx":%s,"req_per_server_cpu_s":%s,"openssl_multi2_rsa2048_sign_per_s":%s,"ratio":%s,"secrets_get":%s}\n' \
  "${rps:-0}" "$p99" "$non2xx" "$per_cpu" "${ceiling:-null}" "$ratio" "$get"
