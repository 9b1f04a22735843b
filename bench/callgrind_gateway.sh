#!/usr/bin/env bash
# bench/callgrind_gateway.sh — instructions per request proxied by the gateway of `coffer serve`,
# counted by valgrind's callgrind (stable on a busy machine). A fresh instance gets an API
# Management service through `coffer gateway` (host name test.example with an uploaded PFX, an
# open API `api` in front of a small loopback backend); then, under callgrind, N requests go over
# one HTTPS keep-alive connection with SNI test.example after a warm-up, between a zero and a dump
# of the counters. Prints one JSON line (instructions per request, top functions by self cost).
# Usage: N=1000 bash bench/callgrind_gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}; WARM=${WARM:-100}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/coffer"
log() { echo "[callgrind_gateway] $*" >&2; }
command -v valgrind >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
[ -x "$BIN" ] || { log "building the release binary"; cargo build --release --locked -p coffer-server >&2; }

W=$(mktemp -d /tmp/coffer-cg-gw.XXXXXX); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
            for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT; trap "exit 143" INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(port); BE=$(port)

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test.example -addext subjectAltName=DNS:test.example \
  -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
openssl pkcs12 -export -inkey "$W/key.pem" -in "$W/cert.pem" -passout pass:bench -out "$W/cert.pfx" 2>/dev/null
python3 - "$BE" >/dev/null 2>&1 <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        b = b'{"value":"s3cr3t-v4lue","id":"https://vault.localhost/secrets/demo/0123456789abcdef"}'
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
PIDS+=($!)

export COFFER_DATA_DIR="$W/data"
COFFER_LOG=warn "$BIN" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" --limits off >"$W/prep" 2>&1 &
PREP=$!
for _ in $(seq 300); do grep -q ready "$W/prep" 2>/dev/null && break; sleep 0.05; done
printf '{"openapi":"3.0.1","info":{"title":"b","version":"1"},"paths":{"/secret":{"get":{"operationId":"secret","responses":{"200":{"description":"ok"}}}}}}' >"$W/spec.json"
"$BIN" gateway create --name bench >/dev/null
"$BIN" gateway hostname set --name bench --host-name test.example --certificate-file "$W/cert.pfx" --certificate-password bench >/dev/null
"$BIN" gateway api import --name bench --api-id api --path api --spec "$W/spec.json" \
  --service-url "http://127.0.0.1:$BE" --subscription-required false >/dev/null
kill -TERM "$PREP"; wait "$PREP" 2>/dev/null || true

log "starting coffer under callgrind (slow)"
COFFER_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" --dump-instr=no \
  "$BIN" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" --limits off >"$W/out" 2>"$W/err" &
CG=$!; PIDS+=($CG)
for _ in $(seq 1200); do grep -q ready "$W/out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$W/out" || { log "coffer did not start under callgrind"; tail "$W/err" >&2; exit 1; }
python3 - "$PORT" "$N" "$WARM" "$CG" <<'PY'
import http.client, socket, ssl, subprocess, sys, time
port, n, warm, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
class C(http.client.HTTPSConnection):
    def connect(self):
        self.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=120), server_hostname="test.example")
def get(c):
    c.request("GET", "/api/secret", headers={"Host": "test.example"}); r = c.getresponse(); r.read(); return r.status
c = None
for _ in range(120):  # until the gateway has applied the configuration
    try:
        c = C("test.example", port, context=ctx, timeout=120)
        if get(c) == 200: break
    except OSError: pass
    time.sleep(0.5)
for _ in range(warm): assert get(c) == 200
subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
for _ in range(n): assert get(c) == 200
subprocess.run(["callgrind_control", "--dump=measured", pid], check=True, capture_output=True)
PY
DUMP=$(ls "$W"/cg.out.* 2>/dev/null | head -1)
[ -n "$DUMP" ] || { log "no callgrind dump"; exit 1; }
python3 - "$DUMP" "$N" <<'PY'
import collections, json, re, sys
names = {}
def name(tok):
    m = re.match(r"\((\d+)\)(?: (.*))?", tok)
    if not m: return tok
    if m.group(2): names[m.group(1)] = m.group(2)
    return names.get(m.group(1), m.group(1))
own = collections.Counter(); fn = None; skip = False
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("fn="): fn = name(line[3:].strip()); continue
    if line.startswith("cfn="): name(line[4:].strip()); continue
    if line.startswith("calls="): skip = True; continue
    p = line.split()
    if len(p) >= 2 and (line[0].isdigit() or line[0] in "+-*"):
        try: c = int(p[1])
        except ValueError: continue
        if skip: skip = False; continue
        if fn: own[fn] += c
total, n = sum(own.values()), int(sys.argv[2])
top = [{"pct": round(c * 100 / total, 1), "fn": f[:140]} for f, c in own.most_common(15)]
print(json.dumps({"bench": "callgrind_gateway", "requests": n, "instructions_per_request": total // n, "top_self": top}))
PY
