#!/usr/bin/env bash
# pg-test.sh - a throwaway PostgreSQL server for tests (never a mock).
#
#   scripts/pg-test.sh start [STATE]   start a server, print its postgres:// URL
#   scripts/pg-test.sh stop DIR        stop it and delete everything it wrote
#
# `start` creates a fresh cluster in a new directory ${VN_PG_TMPDIR:-/tmp}/vn-pg.*
# (owned by the `postgres` user when run as root, because PostgreSQL refuses
# to run as root), listening on 127.0.0.1 on a free port picked at random
# (retried if taken) with its socket in that directory, trust auth for the
# superuser `postgres`. It writes the URL to <cluster>/url and, when STATE is
# given, to STATE/url and the cluster's path to STATE/dir (a leftover cluster
# named by STATE/dir, from a run that crashed, is stopped first). `stop`
# takes the cluster directory or a STATE directory.
#
# Tests connect to the printed URL (database `postgres`) and create their own
# database, so parallel tests can share one server. PGBIN overrides where the
# binaries are (default: Debian's PostgreSQL 15).
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

die() {
    echo "pg-test: $*" >&2
    exit 1
}

as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop_cluster() {
    local dir=$1
    [[ $(basename "$dir") == vn-pg.* ]] || die "refusing to delete $dir: not a pg-test.sh cluster"
    if [[ -f $dir/data/postmaster.pid ]]; then
        as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

start() {
    local state=${1:-}
    for b in initdb pg_ctl postgres; do
        [[ -x $PGBIN/$b ]] || die "PostgreSQL binary $PGBIN/$b not found: install the Debian package postgresql (scripts/deps.sh does), or set PGBIN"
    done
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no postgres user to run PostgreSQL as (install the Debian package postgresql)"
    fi
    if [[ -n $state ]]; then
        mkdir -p "$state"
        if [[ -f $state/dir ]]; then stop_cluster "$(cat "$state/dir")"; fi
        rm -f "$state/url" "$state/dir"
    fi

    local dir
    # Not $TMPDIR: it may sit where the postgres user cannot reach.
    dir=$(mktemp -d "${VN_PG_TMPDIR:-/tmp}/vn-pg.XXXXXX")
    chmod 755 "$dir"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
    if ! as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C -N \
        >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        rm -rf "$dir"
        die "initdb failed"
    fi

    local port="" _
    for _ in $(seq 1 20); do
        local try=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 \
            -o "-p $try -k $dir -c listen_addresses=127.0.0.1" start >/dev/null 2>&1; then
            port=$try
            break
        fi
        # Only a taken port is worth another try.
        if ! grep -q "could not bind\|Address already in use\|could not create any TCP/IP sockets" \
            "$dir/server.log" 2>/dev/null; then
            break
        fi
        : >"$dir/server.log"
    done
    if [[ -z $port ]]; then
        cat "$dir/server.log" >&2 || true
        stop_cluster "$dir"
        die "could not start PostgreSQL"
    fi

    local url="postgresql://postgres@127.0.0.1:$port/postgres"
    echo "$url" >"$dir/url"
    echo "$dir" >"$dir/dir"
    if [[ -n $state ]]; then
        echo "$url" >"$state/url"
        echo "$dir" >"$state/dir"
    fi
    echo "$url"
}

stop() {
    local arg=${1:-}
    [[ -n $arg ]] || die "usage: pg-test.sh stop DIR"
    if [[ -f $arg/dir ]]; then
        local dir
        dir=$(cat "$arg/dir")
        stop_cluster "$dir"
        rm -f "$arg/url" "$arg/dir"
    elif [[ -d $arg/data ]]; then
        stop_cluster "$arg"
    else
        echo "pg-test: nothing to stop in $arg" >&2
    fi
}

case ${1:-} in
start) shift; start "$@" ;;
stop) shift; stop "$@" ;;
*) die "usage: pg-test.sh start [STATE] | stop DIR" ;;
esac
