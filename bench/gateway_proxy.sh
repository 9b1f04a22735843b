#!/usr/bin/env bash
# bench/gateway_proxy.sh — the API gateway as a TLS-terminating reverse proxy beside nginx (and
# haproxy, HAPROXY=0 to skip) in front of the same backend, in one run, as
# ../shared/bench/proxy_ceiling.sh does: an nginx static backend (~200-byte JSON) on plain HTTP,
# each proxy on TLS 1.3 with an RSA-2048 certificate for test.example, keep-alive to the backend.
# wrk runs in a private mount namespace (unshare -m) whose /etc/hosts maps test.example to
# loopback, so it sends real SNI and Host test.example; the gateway serves that name by SNI.
#
# GATEWAY=serve (the default) measures `coffer serve` itself: a fresh instance with an API
# Management service configured through its management API (`coffer gateway ...`): the custom
# host name test.example with the same certificate uploaded as a PFX, and an open API `api` in
# front of the backend. GATEWAY=runtime measures the runtime alone
# (crates/coffer-gateway/examples/gateway_bench.rs: the same Gateway::handshake and proxy, one
# open API at the root, without serve's connection limits), to tell the two apart.
#
# CAVEAT: wrk, the proxies and the backend share the machine's cores (and the machine may be busy
# with other work); compare the figures of one run only.
# Usage: DUR=8 bash bench/gateway_proxy.sh -> progress on stderr, one JSON line per proxy on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}; CONNS=${CONNS:-64}; THREADS=${THREADS:-2}; WORKERS=${WORKERS:-2}; HAPROXY=${HAPROXY:-1}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/examples/gateway_bench"
log() { echo "[gateway_proxy] $*" >&2; }

NEED=(nginx wrk openssl python3 curl); [ "$HAPROXY" = 1 ] && NEED+=(haproxy)
MISSING=(); for c in "${NEED[@]}"; do command -v "$c" >/dev/null || MISSING+=("$c"); done
if [ ${#MISSING[@]} -gt 0 ]; then  # policy-rc.d keeps Debian from starting the packages' services
  M=0; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; M=1; }
  apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${MISSING[@]}" >/dev/null
  [ $M = 1 ] && rm -f /usr/sbin/policy-rc.d; fi
GATEWAY=${GATEWAY:-serve}
if [ "$GATEWAY" = serve ]; then
  COFFER="$TARGET/release/coffer"
  [ -x "$COFFER" ] || { log "building the release binary"; cargo build --release --locked -p coffer-server >&2; }
else
  log "building the gateway runtime (release)"
  cargo build --release --locked -p coffer-gateway --example gateway_bench >&2
fi

W=$(mktemp -d /tmp/gateway-bench.XXXXXX); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
            for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT; trap "exit 143" INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BE=$(port); NGX=$(port); HAP=$(port); GW=$(port)

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test.example -addext subjectAltName=DNS:test.example \
  -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null; cat "$W/cert.pem" "$W/key.pem" >"$W/combined.pem"
BODY='{"value":"s3cr3t-v4lue","id":"https://vault.localhost/secrets/demo/0123456789abcdef0123456789abcdef","attributes":{"enabled":true,"created":1700000000,"updated":1700000000,"recoveryLevel":"Recoverable+Purgeable"}}'
cat >"$W/nginx.conf" <<CONF
user nobody nogroup; worker_processes $WORKERS; pid $W/nginx.pid; error_log $W/error.log warn;
events { worker_connections 4096; }
http {
  access_log off; default_type application/json; keepalive_requests 1000000; keepalive_timeout 60s;
  client_body_temp_path $W/cb; proxy_temp_path $W/pt; fastcgi_temp_path $W/ft; uwsgi_temp_path $W/ut; scgi_temp_path $W/st;
  upstream backend { server 127.0.0.1:$BE; keepalive 128; keepalive_requests 1000000; }
  server { listen 127.0.0.1:$BE; location / { return 200 '$BODY'; } }
  server {
    listen 127.0.0.1:$NGX ssl; server_name test.example; ssl_protocols TLSv1.3;
    ssl_certificate $W/cert.pem; ssl_certificate_key $W/key.pem;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
nginx -p "$W" -e "$W/error.log" -c "$W/nginx.conf" -g 'daemon off;' & PIDS+=($!)
if [ "$HAPROXY" = 1 ]; then
  cat >"$W/haproxy.cfg" <<CONF
global
  maxconn 4096
  ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:$HAP ssl crt $W/combined.pem
  use_backend be if { ssl_fc_sni -i test.example }
backend be
  http-reuse always
  server b1 127.0.0.1:$BE
CONF
  haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1 & PIDS+=($!)
fi
if [ "$GATEWAY" = serve ]; then
  COFFER_LOG=warn "$COFFER" serve --data-dir "$W/coffer" --listen "127.0.0.1:$GW" --limits off >"$W/gw.out" 2>"$W/gw.err" & PIDS+=($!)
  GWPID=$!
  for _ in $(seq 300); do grep -q ready "$W/gw.out" 2>/dev/null && break; sleep 0.05; done
  grep -q ready "$W/gw.out" || { log "coffer did not start"; cat "$W/gw.err" >&2; exit 1; }
  openssl pkcs12 -export -inkey "$W/key.pem" -in "$W/cert.pem" -passout pass:bench -out "$W/cert.pfx" 2>/dev/null
  printf '{"openapi":"3.0.1","info":{"title":"bench","version":"1"},"paths":{"/secret":{"get":{"operationId":"secret","responses":{"200":{"description":"ok"}}}}}}' >"$W/spec.json"
  export COFFER_DATA_DIR="$W/coffer"
  "$COFFER" gateway create --name bench >/dev/null
  "$COFFER" gateway hostname set --name bench --host-name test.example --certificate-file "$W/cert.pfx" --certificate-password bench >/dev/null
  "$COFFER" gateway api import --name bench --api-id api --path api --spec "$W/spec.json" \
    --service-url "http://127.0.0.1:$BE" --subscription-required false >/dev/null
  RUNTIME="coffer serve (service configured through the management API)"
else
  RUST_LOG=warn "$BIN" "127.0.0.1:$GW" test.example "$W/cert.pem" "$W/key.pem" "http://127.0.0.1:$BE" >"$W/gw.out" 2>"$W/gw.err" & PIDS+=($!)
  GWPID=$!
  RUNTIME="coffer-gateway example gateway_bench"
fi
export RUNTIME
sni() { curl -sk --resolve "test.example:$1:127.0.0.1" -o /dev/null -w '%{http_code}' "https://test.example:$1/api/secret" || true; }
for _ in $(seq 100); do [ "$(sni "$NGX")$(sni "$GW")" = 200200 ] && break; sleep 0.1; done
[ "$(sni "$GW")" = 200 ] || { log "the gateway does not answer"; cat "$W/gw.err" >&2; exit 1; }

printf '127.0.0.1 localhost\n127.0.0.1 test.example\n' >"$W/hosts"
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
run_wrk() { # run_wrk NAME PORT
  log "wrk ${DUR}s, $CONNS connections: $1 https://test.example:$2/api/secret"
  timeout $((DUR + 30)) unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$W/hosts" \
    wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency "https://test.example:$2/api/secret" >"$W/wrk_$1.txt" 2>&1 || true
  cat "$W/wrk_$1.txt" >&2
}
c0=$(cpu "$GWPID"); run_wrk gateway "$GW"; c1=$(cpu "$GWPID")
echo "$c0 $c1 $(getconf CLK_TCK)" >"$W/cpu_gateway.txt"
run_wrk nginx "$NGX"
[ "$HAPROXY" = 1 ] && run_wrk haproxy "$HAP"
python3 - "$W" "$DUR" "$CONNS" "$THREADS" "$WORKERS" "$HAPROXY" <<'PY'
import json, os, re, sys
w, dur, conns, thr, workers, hap = sys.argv[1:7]
U = {"us": 1e-3, "ms": 1.0, "s": 1e3}
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)$", v)
    return round(float(m[1]) * U[m[2]], 3) if m else None
def wrk(name):
    t = open(os.path.join(w, f"wrk_{name}.txt")).read(); r = {}
    for k, rx, f, d in (("req_per_s", r"Requests/sec:\s+([\d.]+)", float, 0.0), ("requests", r"(\d+) requests in", int, 0),
                        ("p50_ms", r"^\s+50%\s+(\S+)", ms, None), ("p99_ms", r"^\s+99%\s+(\S+)", ms, None),
                        ("non2xx", r"Non-2xx or 3xx responses: (\d+)", int, 0), ("socket_errors", r"Socket errors: (.*)", str, "none")):
        m = re.search(rx, t, re.M); r[k] = f(m[1]) if m else d
    return r
common = {"bench": "gateway_proxy", "duration_s": int(dur), "connections": int(conns), "wrk_threads": int(thr),
          "tls": "TLSv1.3, RSA-2048, real SNI test.example", "backend": "nginx static ~200-byte JSON, keep-alive",
          "note": "wrk, proxies and backend share the machine's cores"}
nginx = wrk("nginx")
gw = wrk("gateway")
a = open(os.path.join(w, "cpu_gateway.txt")).read().split()
gw["server_cpu_s"] = round((float(a[1]) - float(a[0])) / float(a[2]), 2)
if nginx["req_per_s"]:
    gw["ratio_rps_vs_nginx"] = round(gw["req_per_s"] / nginx["req_per_s"], 3)
if nginx["p99_ms"] and gw["p99_ms"]:
    gw["ratio_p99_vs_nginx"] = round(gw["p99_ms"] / nginx["p99_ms"], 3)
gw["runtime"] = os.environ.get("RUNTIME", "")
print(json.dumps({"proxy": "coffer-gateway", **gw, **common}))
print(json.dumps({"proxy": "nginx", "workers": int(workers), **nginx, **common}))
if hap == "1":
    h = wrk("haproxy")
    print(json.dumps({"proxy": "haproxy", **h, **common}))
PY
