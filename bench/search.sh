#!/usr/bin/env bash
# search.sh - search index build time and query latency (make bench-search).
#
# For each backend (SQLite in a temporary data directory, then PostgreSQL on
# a throwaway server from scripts/pg-test.sh):
#   1. bench/search/search_bench gen: BENCH_NOTES generated notes of about
#      5 KB of Markdown each, written through the store API as vaultd writes
#      a note (CRDT update in the note's log, projection row, outbox event);
#   2. `vaultd reindex`: the index build, timed: every note's text is read
#      from its update log by the CRDT engine, reduced to plain text by md4c
#      and indexed (the indexer's own code path);
#   3. search_bench query: BENCH_QUERIES queries of each kind (word, prefix,
#      phrase) through store_search, 20 results with snippets each; p50/p99
#      of wall time, and of the querying thread's CPU time (for SQLite that
#      is the engine's work, which the machine's load does not inflate; for
#      PostgreSQL the work is in the server process, so only wall time says
#      anything). The load average is printed before the queries.
# Then one line per backend saying whether p99 met the target (50 ms).
# Numbers never fail the run; a setup failure does (exit 1).
#
# Knobs (environment):
#   VAULTD, SEARCH_BENCH  the binaries (default: the Release build)
#   BENCH_BACKENDS        "sqlite postgres" (default), or one of them
#   BENCH_NOTES           notes to generate (default 100000)
#   BENCH_QUERIES         queries per kind (default 200)
#   BENCH_KEEP=1          keep the temporary directory
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

VAULTD=${VAULTD:-$ROOT/build/release/src/server/vaultd}
SEARCH_BENCH=${SEARCH_BENCH:-$ROOT/build/release/bench/search_bench}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
NOTES=${BENCH_NOTES:-100000}
QUERIES=${BENCH_QUERIES:-200}
TARGET_P99_MS=50

die() {
    echo "bench-search: $*" >&2
    exit 1
}

[[ -x $VAULTD ]] || die "no $VAULTD: build Release first (make bench-search does)"
[[ -x $SEARCH_BENCH ]] || die "no $SEARCH_BENCH: build Release first (make bench-search does)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vn-bench-search.XXXXXX")
PG_STATE=$TMP/pg
cleanup() {
    if [[ -f $PG_STATE/url ]]; then
        "$ROOT/scripts/pg-test.sh" stop "$PG_STATE" >/dev/null 2>&1 || true
    fi
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "bench-search: kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }

summary=()
for backend in $BACKENDS; do
    case $backend in
    sqlite)
        where=$TMP/sqlite
        mkdir -p "$where"
        ;;
    postgres)
        pgurl=$("$ROOT/scripts/pg-test.sh" start "$PG_STATE") || die "could not start PostgreSQL"
        psql -q -X "$pgurl" -c "CREATE DATABASE vn_search_bench" >/dev/null ||
            die "could not create database vn_search_bench"
        where=${pgurl%/*}/vn_search_bench
        ;;
    *) die "unknown backend $backend" ;;
    esac
    echo "== $backend: generating $NOTES notes"
    t0=$(now)
    vault=$("$SEARCH_BENCH" gen "$where" "$NOTES") || die "generation failed on $backend"
    t1=$(now)
    echo "== $backend: building the index (vaultd reindex)"
    if [[ $backend == sqlite ]]; then
        "$VAULTD" reindex --data-dir "$where" 2>"$TMP/reindex-$backend.log" ||
            die "reindex failed on $backend (see $TMP/reindex-$backend.log)"
    else
        "$VAULTD" reindex --database "$where" 2>"$TMP/reindex-$backend.log" ||
            die "reindex failed on $backend (see $TMP/reindex-$backend.log)"
    fi
    t2=$(now)
    awk -v b="$backend" -v n="$NOTES" -v t0="$t0" -v t1="$t1" -v t2="$t2" 'BEGIN {
        printf "%s: generated %d notes in %.1f s; index build %.1f s (%.0f notes/s)\n",
            b, n, t1 - t0, t2 - t1, n / (t2 - t1) }'
    if [[ $backend == sqlite ]]; then
        printf '%s: database size %s\n' "$backend" "$(du -sh "$where" | cut -f1)"
    fi
    printf '%s: load average before the queries: %s\n' "$backend" "$(cut -d' ' -f1-3 /proc/loadavg)"
    out=$("$SEARCH_BENCH" query "$where" "$vault" "$QUERIES") || die "queries failed on $backend"
    echo "$out" | sed "s/^/$backend: /"
    p99=$(echo "$out" | awk '/^query all/ { for (i = 1; i <= NF; i++) if ($i ~ /^p99=/) { sub("p99=", "", $i); print $i } }')
    if awk -v p="$p99" -v t="$TARGET_P99_MS" 'BEGIN { exit !(p < t) }'; then
        summary+=("$backend: p99 $p99 ms < $TARGET_P99_MS ms: met")
    else
        summary+=("$backend: p99 $p99 ms >= $TARGET_P99_MS ms: NOT met")
    fi
    if [[ $backend == postgres ]]; then
        "$ROOT/scripts/pg-test.sh" stop "$PG_STATE" >/dev/null 2>&1 || true
        rm -f "$PG_STATE/url"
    fi
done
echo "== targets"
printf '%s\n' "${summary[@]}"
