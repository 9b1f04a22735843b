#!/usr/bin/env bash
# bench/secrets_get.sh — Coffer's start-to-ready time, idle memory, and "GET secret" throughput over
# HTTPS keepalive, measured beside the nginx ceiling of ../shared/bench/https_ceiling.sh in the same
# run (set CEILING=0 to skip it).
#
# The release binary is built if missing. Coffer runs on a fresh data directory on 127.0.0.1; wrk
# runs in a private mount namespace whose /etc/hosts maps dev.vault.localhost to loopback, so it
# sends real SNI and Host headers with a real bearer token (every request is authenticated: RS256
# signature check, access-policy check, store read, AES-GCM open).
# Caveat: wrk and Coffer share the machine's cores, as in the ceiling script.
# PIPELINE=full turns on the firewall (default action Deny, one ipRule for loopback) and the audit
# log (a diagnostic setting) on the vault before measuring, so the figure includes them;
# PIPELINE=firewall only the firewall, to tell the two costs apart.
# Throttling is off (`--limits off`) unless PIPELINE=throttle, which turns it on with Key Vault's
# table scaled up 10000x (every request is counted, none is refused), to measure its cost.
# Usage: bash bench/secrets_get.sh  -> progress on stderr, one JSON line on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}; CONNS=${CONNS:-64}; THREADS=${THREADS:-2}; CEILING=${CEILING:-1}
PIPELINE=${PIPELINE:-default}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/coffer"
log() { echo "[secrets_get] $*" >&2; }

command -v wrk >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }
[ -x "$BIN" ] || { log "building the release binary"; cargo build --release --locked -p coffer-server >&2; }

W=$(mktemp -d /tmp/coffer-bench.XXXXXX); PID=""
cleanup() { if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi; rm -rf "$W"; }
trap cleanup EXIT; trap "exit 143" INT TERM

LIMITS=(--limits off)
if [ "$PIPELINE" = throttle ]; then
  sed -E '/^(window_seconds|subscription_multiplier)/! s/= ([0-9]+)$/= \10000/' crates/coffer-service/src/throttle/limits.toml >"$W/limits.toml"
  LIMITS=(--limits "$W/limits.toml")
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_ns=$(date +%s%N)
COFFER_LOG=warn "$BIN" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" "${LIMITS[@]}" >"$W/out" 2>"$W/err" &
PID=$!
for _ in $(seq 300); do grep -q ready "$W/out" 2>/dev/null && break; sleep 0.01; done
grep -q ready "$W/out" || { log "coffer did not start"; cat "$W/err" >&2; exit 1; }
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
first_ready_self=$(grep -o 'ready in [0-9]* ms' "$W/out" | grep -o '[0-9]*')
# A second start on the same data directory: the usual case (keys, CA and bootstrap exist).
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
start_ns=$(date +%s%N)
COFFER_LOG=warn "$BIN" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" "${LIMITS[@]}" >"$W/out2" 2>"$W/err2" &
PID=$!
for _ in $(seq 300); do grep -q ready "$W/out2" 2>/dev/null && break; sleep 0.005; done
restart_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
sleep 1
idle_rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")

CA="$W/data/tls/ca.pem"; VAULT="https://dev.vault.localhost:$PORT"
TOKEN=$("$BIN" token get --raw --data-dir "$W/data")
curl -s --cacert "$CA" --resolve "dev.vault.localhost:$PORT:127.0.0.1" -X PUT -H "Authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"value":"s3cr3t-v4lue"}' "$VAULT/secrets/bench?api-version=7.6" >/dev/null
if [ "$PIPELINE" = full ] || [ "$PIPELINE" = firewall ]; then
  log "firewall on (Deny + ipRule 127.0.0.1/32)"
  "$BIN" vault network-rule add --name dev --ip-address 127.0.0.1 --data-dir "$W/data" >/dev/null
  "$BIN" vault update --name dev --default-action Deny --data-dir "$W/data" >/dev/null
fi
if [ "$PIPELINE" = full ]; then
  log "audit log on"
  "$BIN" vault diagnostics set --name dev --data-dir "$W/data" >/dev/null
fi
printf '127.0.0.1 localhost dev.vault.localhost\n' >"$W/hosts"
cpu() { awk '{print $14+$15}' "/proc/$PID/stat"; }
hz=$(getconf CLK_TCK)
c0=$(cpu)
log "wrk ${DUR}s, $CONNS connections: GET $VAULT/secrets/bench"
timeout $((DUR + 30)) unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$W/hosts" \
  wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency -H "Authorization: Bearer $TOKEN" \
  "$VAULT/secrets/bench?api-version=7.6" >"$W/wrk.txt" 2>&1 || true
c1=$(cpu)
loaded_rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
rps=$(awk '/Requests\/sec/ {print $2}' "$W/wrk.txt")
p50=$(awk '$1=="50%" {print $2}' "$W/wrk.txt"); p99=$(awk '$1=="99%" {print $2}' "$W/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $5}' "$W/wrk.txt"); non2xx=${non2xx:-0}
reqs=$(awk '/requests in/ {print $1}' "$W/wrk.txt")
cpu_s=$(python3 -c "print(round(($c1-$c0)/$hz,2))")
per_cpu=$(python3 -c "print(round(${reqs:-0}/max(($c1-$c0)/$hz,0.01)))")
cat "$W/wrk.txt" >&2

ceiling='null'
if [ "$CEILING" = 1 ] && [ -f ../shared/bench/https_ceiling.sh ]; then
  log "running the nginx ceiling in the same run"
  ceiling=$(DUR=$DUR CONNS=$CONNS THREADS=$THREADS bash ../shared/bench/https_ceiling.sh 2>/dev/null | tail -n 1 || echo null)
fi
printf '{"pipeline":"%s","start_to_ready_ms_first_start":%s,"start_to_ready_ms_first_start_self_reported":%s,"start_to_ready_ms_restart":%s,"idle_rss_kib":%s,"rss_after_load_kib":%s,"get_secret_rps":%s,"p50":"%s","p99":"%s","non_2xx":%s,"server_cpu_s":%s,"req_per_server_cpu_s":%s,"nginx_ceiling":%s}\n' \
  "$PIPELINE" "$ready_ms" "${first_ready_self:-null}" "$restart_ms" "$idle_rss_kb" "$loaded_rss_kb" "${rps:-0}" "$p50" "$p99" "$non2xx" "$cpu_s" "$per_cpu" "$ceiling"
