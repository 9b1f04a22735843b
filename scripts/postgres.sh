#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests and prints the `export` lines they read; stops it
# again by its process id. Installs Debian's postgresql only when no server binaries are there.
#
# Usage: eval "$(bash scripts/postgres.sh start)"   # prints COFFER_TEST_POSTGRES_URL and friends
#        bash scripts/postgres.sh stop DIR           # DIR is the COFFER_TEST_POSTGRES_DIR printed
#
# The cluster listens on 127.0.0.1 only, on a free high port, with password (SCRAM) auth for a
# `coffer` superuser, its data in a new temporary directory, and TLS available with a throwaway
# CA (`COFFER_TEST_POSTGRES_CA`). `DIR/ctl.sh stop|start` stops and
# restarts it in place (the outage tests use it). Everything except the export lines goes to
# stderr, so the eval sees only those. With COFFER_TEST_POSTGRES_URL already set, `start` prints
# nothing and starts nothing: the tests use that server.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

start() {
    if [ -n "${COFFER_TEST_POSTGRES_URL:-}" ]; then
        echo "postgres.sh: using COFFER_TEST_POSTGRES_URL from the environment" >&2
        return 0
    fi
    local bin
    bin="$(pg_bin)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "postgres.sh: installing postgresql (no server binaries found)" >&2
        local sudo=()
        [ "$(id -u)" -ne 0 ] && sudo=(sudo)
        # Debian starts a system cluster on install unless policy-rc.d says no; we want only ours.
        local made_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
            "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
            made_policy=1
        fi
        export DEBIAN_FRONTEND=noninteractive
        if ! "${sudo[@]}" apt-get install -y -qq postgresql >&2; then
            "${sudo[@]}" apt-get update -qq >&2
            "${sudo[@]}" apt-get install -y -qq postgresql >&2
        fi
        [ "$made_policy" = 1 ] && "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
        bin="$(pg_bin)"
        [ -x "$bin/initdb" ] || die "initdb still missing after installing postgresql"
    fi

    # initdb and postgres refuse to run as root: run them as Debian's postgres user then.
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no postgres user to run the server as"
        as=(runuser -u postgres --)
    fi

    local dir port password
    dir="$(mktemp -d /tmp/coffer-pg.XXXXXX)"
    chmod 755 "$dir"
    mkdir "$dir/data"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    printf '%s\n' "$password" >"$dir/pwfile"
    if [ "${#as[@]}" -gt 0 ]; then
        chown -R postgres "$dir"
    fi
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U coffer --pwfile="$dir/pwfile" -A scram-sha-256 \
        --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    rm -f "$dir/pwfile"
    # TLS for the tests that ask for it (sslmode=require): a throwaway CA and a server
    # certificate for 127.0.0.1/localhost. Plain connections stay allowed.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=coffer test database CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/server.crt" 2>/dev/null
    rm -f "$dir/ca.key" "$dir/server.csr" "$dir/san.ext"
    chmod 600 "$dir/server.key"
    if [ "${#as[@]}" -gt 0 ]; then
        chown postgres "$dir/server.key" "$dir/server.crt"
    fi
    cat >"$dir/ctl.sh" <<EOF
#!/usr/bin/env bash
# Stops (fast) or starts this test cluster in place.
set -euo pipefail
case "\${1:-}" in
  stop) ${as[*]} "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ;;
  start) ${as[*]} "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \\
           -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" start >/dev/null ;;
  *) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
EOF
    chmod 755 "$dir/ctl.sh"
    bash "$dir/ctl.sh" start || { cat "$dir/server.log" >&2; die "the server did not start"; }
    echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir" >&2
    printf 'export COFFER_TEST_POSTGRES_URL=%q\n' "postgres://coffer:$password@127.0.0.1:$port/postgres"
    printf 'export COFFER_TEST_POSTGRES_DIR=%q\n' "$dir"
    printf 'export COFFER_TEST_POSTGRES_CTL=%q\n' "$dir/ctl.sh"
    printf 'export COFFER_TEST_POSTGRES_CA=%q\n' "$dir/ca.pem"
}

stop() {
    local dir="${1:-}"
    [ -n "$dir" ] && [ -f "$dir/data/postmaster.pid" ] || return 0
    local pid
    pid="$(head -1 "$dir/data/postmaster.pid")"
    # SIGINT is PostgreSQL's fast shutdown; wait for the postmaster to go.
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) echo "usage: eval \"\$(bash $0 start)\" | bash $0 stop DIR" >&2; exit 2 ;;
esac
