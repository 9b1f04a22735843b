#!/usr/bin/env bash
# bench/scale.sh — does a vault stay as fast with 1,000,000 secrets as with 1,000? For each
# backend (the embedded store, and PostgreSQL started by scripts/postgres.sh in the same run) one
# instance is seeded with SMALL secrets and one with BIG by `coffer seed` (through the storage
# layer), then served by the release `coffer serve` on loopback and measured with wrk:
#   get_secret   GET /secrets/seed-<random i>           (a Lua script picks the name per request)
#   list_first   GET /secrets?maxresults=25              (the first page)
#   list_deep    the nextLink of a random name deep in the listing (its $skiptoken), 25 per page
# Every request carries a real bearer token (RS256 check, access policy, store read, AES-GCM open
# for GETs). wrk runs in a private mount namespace whose /etc/hosts maps dev.vault.localhost to
# loopback, as in bench/secrets_get.sh; throttling is off. wrk, Coffer and PostgreSQL share the
# machine's cores. Each scenario gets a short warm-up run first.
#
# Output (stdout): one JSON line per backend, size and scenario; then one line of ratios per
# backend and scenario (BIG over SMALL: p50, p99, req/s; target p50 ratio <= 1.5), and one line
# comparing GET-secret req/s on PostgreSQL with the embedded store at each size. Progress and
# wrk's own output go to stderr.
#
# Usage: bash bench/scale.sh                 # BIG=1000000: seeding takes minutes per backend
#        BIG=20000 DUR=5 bash bench/scale.sh # a quick run
#        BACKENDS=embedded bash bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${SMALL:-1000}; BIG=${BIG:-1000000}
DUR=${DUR:-8}; WARM=${WARM:-2}; THREADS=${THREADS:-2}
CONNS=${CONNS:-32}; LIST_CONNS=${LIST_CONNS:-8}
BACKENDS=${BACKENDS:-embedded postgres}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/coffer"
log() { echo "[scale] $*" >&2; }

command -v wrk >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }
# Built every time (BUILD=0 skips it): a stale release binary may predate `coffer seed`.
if [ "${BUILD:-1}" = 1 ]; then
  log "building the release binary"
  cargo build --release --locked -p coffer-server >&2
fi

W=$(mktemp -d /tmp/coffer-scale.XXXXXX); PID=""; PG_DIR=""
stop_coffer() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi
}
cleanup() {
  stop_coffer
  if [ -n "$PG_DIR" ]; then bash scripts/postgres.sh stop "$PG_DIR" || true; fi
  rm -rf "$W"
}
trap cleanup EXIT; trap "exit 143" INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
printf '127.0.0.1 localhost dev.vault.localhost\n' >"$W/hosts"

# start_coffer DIR PORT STORE-ARGS...: starts `coffer serve`, waits until it is ready.
start_coffer() {
  local dir=$1 port=$2; shift 2
  COFFER_LOG=warn "$BIN" serve --data-dir "$dir" --listen "127.0.0.1:$port" --limits off "$@" \
    >"$dir.out" 2>"$dir.err" &
  PID=$!
  for _ in $(seq 600); do grep -q ready "$dir.out" 2>/dev/null && return 0; sleep 0.05; done
  log "coffer did not start"; cat "$dir.err" >&2; exit 1
}

# wrk_run LABEL CONNS SCRIPT URL: prints "rps p50_ms p99_ms non2xx requests".
wrk_run() {
  local label=$1 conns=$2 script=$3 url=$4 out="$W/wrk-$1.txt"
  timeout $((WARM + 30)) unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$W/hosts" \
    wrk -t"$THREADS" -c"$conns" -d"${WARM}s" -s "$script" "$url" >/dev/null 2>&1 || true
  timeout $((DUR + 30)) unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$W/hosts" \
    wrk -t"$THREADS" -c"$conns" -d"${DUR}s" --latency -s "$script" "$url" >"$out" 2>&1 || true
  { echo "--- $label"; cat "$out"; } >&2
  python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    if not m: return "null"
    n, u = float(m.group(1)), m.group(2)
    return round(n * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[u], 3)
def grab(pat, default="null"):
    m = re.search(pat, text, re.M)
    return m.group(1) if m else default
rps = grab(r"^Requests/sec:\s+([\d.]+)", "0")
p50 = ms(grab(r"^\s+50%\s+(\S+)", ""))
p99 = ms(grab(r"^\s+99%\s+(\S+)", ""))
non2xx = grab(r"Non-2xx or 3xx responses:\s+(\d+)", "0")
reqs = grab(r"^\s+(\d+) requests in", "0")
print(rps, p50, p99, non2xx, reqs)
PY
}

RESULTS="$W/results.jsonl"; : >"$RESULTS"

# measure BACKEND SIZE STORE-URL: seeds one instance with SIZE secrets and measures it.
measure() {
  local backend=$1 size=$2 url=${3:-} dir="$W/$1-$2" port
  local store=()
  [ -n "$url" ] && store=(--store "$url")
  port=$(free_port)
  log "$backend, $size secrets: first start (bootstrap), then coffer seed"
  start_coffer "$dir" "$port" "${store[@]}"
  stop_coffer
  local t0 t1 seed_s
  t0=$(date +%s%N)
  "$BIN" seed --data-dir "$dir" "${store[@]}" --vault dev --count "$size" --batch 1000 >"$dir.seed" 2>&1 \
    || { cat "$dir.seed" >&2; exit 1; }
  t1=$(date +%s%N)
  seed_s=$(python3 -c "print(round(($t1-$t0)/1e9,1))")
  cat "$dir.seed" >&2
  # After a bulk load PostgreSQL's autovacuum visits the new rows (and ANALYZE refreshes the
  # planner's statistics); that pass is run here, before measuring, so it does not compete with
  # the load (PG_VACUUM=0 measures straight after the load instead).
  if [ -n "$url" ] && [ "${PG_VACUUM:-1}" = 1 ]; then
    log "$backend, $size secrets: VACUUM (ANALYZE)"
    psql -q "$url" -c "VACUUM (ANALYZE)" >&2
  fi
  start_coffer "$dir" "$port" "${store[@]}"
  local vault="https://dev.vault.localhost:$port" token ca="$dir/tls/ca.pem"
  token=$("$BIN" token get --raw --data-dir "$dir")
  local cu=(curl -s --cacert "$ca" --resolve "dev.vault.localhost:$port:127.0.0.1" -H "Authorization: Bearer $token")

  # The names exist and the listing pages: checked once before measuring.
  local probe=$((size / 2))
  local got
  got=$("${cu[@]}" "$vault/secrets/seed-$probe?api-version=7.6")
  case $got in *"seeded value of seed-$probe"*) ;; *) log "GET seed-$probe: $got"; exit 1 ;; esac
  local next
  next=$("${cu[@]}" "$vault/secrets?maxresults=25&api-version=7.6" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["value"])==25; print(d["nextLink"])')
  # Deep pages are that same nextLink with the $skiptoken of a name further on (the token is
  # the last name of the previous page, base64url): random names across the whole listing.
  python3 - "$size" "$next" >"$W/deep_paths.lua" <<'PY'
import base64, random, sys, urllib.parse
size, nxt = int(sys.argv[1]), sys.argv[2]
u = urllib.parse.urlsplit(nxt)
q = urllib.parse.parse_qsl(u.query)
assert any(k == "$skiptoken" for k, _ in q), nxt
paths = []
for i in random.Random(7).sample(range(size), min(size, 2000)):
    tok = base64.urlsafe_b64encode(f"seed-{i}".encode()).decode().rstrip("=")
    qs = urllib.parse.urlencode([(k, tok if k == "$skiptoken" else v) for k, v in q])
    paths.append(f"{u.path}?{qs}")
print("paths = {" + ",".join(f'"{p}"' for p in paths) + "}")
PY
  local deep_one
  deep_one=$(sed -n 's/^paths = {"\([^"]*\)".*/\1/p' "$W/deep_paths.lua")
  "${cu[@]}" "$vault$deep_one" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["value"], d' \
    || { log "the deep page $deep_one is empty"; exit 1; }

  cat >"$W/common.lua" <<LUA
local counter = 1
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args) math.randomseed(os.time() * 1000 + id) end
wrk.headers["Authorization"] = "Bearer $token"
LUA
  { cat "$W/common.lua"; cat <<LUA
function request()
  return wrk.format("GET", "/secrets/seed-" .. math.random(0, $size - 1) .. "?api-version=7.6")
end
LUA
  } >"$W/get.lua"
  cp "$W/common.lua" "$W/first.lua"
  { cat "$W/common.lua" "$W/deep_paths.lua"; cat <<'LUA'
function request() return wrk.format("GET", paths[math.random(1, #paths)]) end
LUA
  } >"$W/deep.lua"

  local scenario conns script target r
  for scenario in get_secret list_first list_deep; do
    case $scenario in
      get_secret) conns=$CONNS; script="$W/get.lua"; target="$vault/" ;;
      list_first) conns=$LIST_CONNS; script="$W/first.lua"; target="$vault/secrets?maxresults=25&api-version=7.6" ;;
      list_deep) conns=$LIST_CONNS; script="$W/deep.lua"; target="$vault/" ;;
    esac
    log "$backend, $size secrets: $scenario, wrk ${DUR}s, $conns connections"
    read -r rps p50 p99 non2xx reqs < <(wrk_run "$backend-$size-$scenario" "$conns" "$script" "$target")
    printf '{"backend":"%s","secrets":%s,"scenario":"%s","connections":%s,"rps":%s,"p50_ms":%s,"p99_ms":%s,"requests":%s,"non_2xx":%s,"seed_s":%s}\n' \
      "$backend" "$size" "$scenario" "$conns" "$rps" "$p50" "$p99" "$reqs" "$non2xx" "$seed_s" | tee -a "$RESULTS"
  done
  stop_coffer
  rm -rf "$dir" "$dir".*
}

for backend in $BACKENDS; do
  case $backend in
    embedded)
      measure embedded "$SMALL"
      measure embedded "$BIG" ;;
    postgres)
      log "starting PostgreSQL (scripts/postgres.sh)"
      eval "$(env -u COFFER_TEST_POSTGRES_URL bash scripts/postgres.sh start)"
      PG_DIR=$COFFER_TEST_POSTGRES_DIR
      base=${COFFER_TEST_POSTGRES_URL%/*}
      for size in "$SMALL" "$BIG"; do
        psql -q "$COFFER_TEST_POSTGRES_URL" -c "CREATE DATABASE scale_$size" >&2
        measure postgres "$size" "$base/scale_$size"
        psql -q "$COFFER_TEST_POSTGRES_URL" -c "DROP DATABASE scale_$size" >&2
      done
      bash scripts/postgres.sh stop "$PG_DIR"; PG_DIR="" ;;
    *) log "unknown backend $backend"; exit 2 ;;
  esac
done

python3 - "$RESULTS" "$SMALL" "$BIG" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
small, big = int(sys.argv[2]), int(sys.argv[3])
by = {(r["backend"], r["secrets"], r["scenario"]): r for r in rows}
def ratio(a, b):
    try: return round(a / b, 2)
    except (TypeError, ZeroDivisionError): return None
for backend in dict.fromkeys(r["backend"] for r in rows):
    for sc in ("get_secret", "list_first", "list_deep"):
        s, b = by.get((backend, small, sc)), by.get((backend, big, sc))
        if not (s and b): continue
        p50 = ratio(b["p50_ms"], s["p50_ms"])
        print(json.dumps({"backend": backend, "scenario": sc, "sizes": f"{big}/{small}",
                          "p50_ratio": p50, "p99_ratio": ratio(b["p99_ms"], s["p99_ms"]),
                          "rps_ratio": ratio(b["rps"], s["rps"]),
                          "p50_target_met": p50 is not None and p50 <= 1.5}))
for size in (small, big):
    e, p = by.get(("embedded", size, "get_secret")), by.get(("postgres", size, "get_secret"))
    if e and p:
        print(json.dumps({"compare": "get_secret_rps_postgres_vs_embedded", "secrets": size,
                          "postgres_rps": p["rps"], "embedded_rps": e["rps"],
                          "ratio": ratio(p["rps"], e["rps"])}))
PY
