#!/usr/bin/env bash
# history.sh - storage cost of version history (make bench-history).
#
# For each backend (SQLite in a temporary data directory, then PostgreSQL on
# a throwaway server from scripts/pg-test.sh) it starts the Release vaultd
# with --version-idle-ms 20 and runs bench/history/history.mjs twice: one
# 5 KB note edited a little on each of 365 days, one version per day, with
# "typed" edits (a sentence added, another removed) and with "rewrite" edits
# (a word and a sentence rewritten in place). It prints, per backend and
# pattern, the bytes stored for the note with its history (update log +
# versions) against 365 full copies of the text, and whether the target of
# issue 7 (at most 3%) is met; then typed edits again with the update log
# compacted every 64 rows (VAULT_DOC_COMPACT_AT=64). For SQLite it also
# prints the pages the log and version tables occupy on disk (row and index
# overhead included).
# Numbers never fail the run; a setup failure does.
#
# Knobs: VAULTD (default build/release/src/server/vaultd), BENCH_BACKENDS
# ("sqlite postgres" or one), BENCH_DAYS (365), BENCH_KEEP=1 (keep the
# temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VAULTD=${VAULTD:-$ROOT/build/release/src/server/vaultd}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
TARGET_PCT=3

die() {
    echo "bench-history: $*" >&2
    exit 1
}
[[ -x $VAULTD ]] || die "no $VAULTD: build Release first (make bench-history does)"
command -v node >/dev/null || die "node is not installed (scripts/deps.sh installs it)"
command -v sqlite3 >/dev/null || die "sqlite3 is not installed (scripts/deps.sh installs it)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vn-bench-history.XXXXXX")
VAULTD_PID=""
PG_STATE=""

stop_vaultd() {
    if [[ -n $VAULTD_PID ]]; then
        kill -TERM "$VAULTD_PID" 2>/dev/null || true
        wait "$VAULTD_PID" 2>/dev/null || true
        VAULTD_PID=""
    fi
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    stop_vaultd
    [[ -n $PG_STATE ]] && "$ROOT/scripts/pg-test.sh" stop "$PG_STATE" >/dev/null 2>&1 || true
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "bench-history: kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# start_vaultd NAME [ARGS...]: starts vaultd on a free port; sets URL.
start_vaultd() {
    local name=$1
    shift
    "$VAULTD" --listen 127.0.0.1:0 --data-dir "$TMP/$name-data" --version-idle-ms 20 "$@" \
        >"$TMP/$name.out" 2>"$TMP/$name.log" &
    VAULTD_PID=$!
    URL=""
    local _
    for _ in $(seq 1 300); do
        URL=$(grep -o 'listening on http://[^ ]*' "$TMP/$name.out" 2>/dev/null | head -n1 |
            sed 's/^listening on //') || true
        [[ -n $URL ]] && return 0
        kill -0 "$VAULTD_PID" 2>/dev/null || die "vaultd ($name) exited before listening"
        sleep 0.1
    done
    die "vaultd ($name) did not print its address in 30 s"
}

for backend in $BACKENDS; do
    case $backend in
    sqlite)
        start_vaultd sqlite
        db=$TMP/sqlite-data/vault.db
        ;;
    postgres)
        mkdir -p "$TMP/pg"
        PG_STATE=$TMP/pg
        db=$("$ROOT/scripts/pg-test.sh" start "$PG_STATE") || die "PostgreSQL did not start"
        start_vaultd postgres --database "$db"
        ;;
    *) die "unknown backend $backend" ;;
    esac
    for run in typed rewrite compacted; do
        edit=$run
        if [[ $run == compacted ]]; then
            # Typed edits again, with the update log compacted every 64 rows
            # (VAULT_DOC_COMPACT_AT, docs/server.md), as a long-lived note's is.
            edit=typed
            stop_vaultd
            if [[ $backend == sqlite ]]; then
                VAULT_DOC_COMPACT_AT=64 start_vaultd sqlite-compacted
                db=$TMP/sqlite-compacted-data/vault.db
            else
                VAULT_DOC_COMPACT_AT=64 start_vaultd postgres-compacted --database "$db"
            fi
        elif [[ $backend == sqlite && $run == rewrite ]]; then # a fresh database for each run
            stop_vaultd
            start_vaultd sqlite-rewrite
            db=$TMP/sqlite-rewrite-data/vault.db
        fi
        line=$(node "$ROOT/bench/history/history.mjs" "$URL" "$backend" "$db" "$edit") ||
            die "$backend run failed"
        line=${line%\}},\"log\":\"$([[ $run == compacted ]] && echo compacted-at-64 || echo plain)\"}
        echo "$line"
        pct=$(node -e 'console.log(JSON.parse(process.argv[1]).ratio_pct)' "$line")
        verdict="NOT met"
        node -e 'process.exit(Number(process.argv[1]) <= Number(process.argv[2]) ? 0 : 1)' \
            "$pct" "$TARGET_PCT" && verdict=met
        echo "bench-history: $backend, $run: ${BENCH_DAYS:-365} daily versions with their log take $pct%" \
            "of as many full copies (target <= $TARGET_PCT% for typed edits): $verdict"
    done
    stop_vaultd
done
