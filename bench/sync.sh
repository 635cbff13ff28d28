#!/usr/bin/env bash
# sync.sh - real-time sync of vaultd against Hocuspocus (make bench-sync).
#
# The same load, from the same C generator (build/release/bench/sync_bench,
# source bench/sync/), against two servers in one run:
#
#   vaultd      the Release build, SQLite in a temporary directory, the
#               y-websocket endpoint GET /api/v1/sync/{note} with a Bearer
#               token; every update is committed (group commit, fsync)
#               before it is broadcast
#   hocuspocus  @hocuspocus/server (npm, pinned) in memory, no extension,
#               bench/sync/hocuspocus.mjs
#
# Phases (BENCH_PHASES), each against a freshly started server, the two
# peers alternating:
#
#   load    BENCH_CLIENTS clients on BENCH_DOCS documents, each inserting a
#           few characters BENCH_RATE times a second: updates/s, p50/p99
#           latency from a sender to every other client of the document,
#           server CPU and RSS; then a closed loop (each client sends its next
#           edit once the previous one reached every other client of its
#           document) for peak throughput, in which clients keep typing in
#           their own replicas but do not apply what they receive (applying
#           nine updates per update sent made the generator, not the server,
#           what saturates) and catch up with a step 1 after it; then every
#           document is checked on the server and every client's replica
#           against it.
#   memory  BENCH_MEM_DOCS documents, one connection each, each receiving a
#           note of about 1.2 KB typed in 60 edits: server RSS growth per
#           open document, 3 s after the last answer (vaultd has frozen its
#           idle documents by then: docs/sync.md); then the same against
#           vaultd with freezing off (`vaultd-hot`, BENCH_HOT=0 skips it): the
#           cost of documents in use.
#   idle    BENCH_IDLE connections on BENCH_DOCS documents, synced, then
#           idle: server RSS in total and per connection.
#
# It prints one line per peer and phase, then the ratios (peer's cost over
# ours: higher is better for vaultd), one per line as `ratio sync NAME 7.1x`,
# then one line per target of issue 6. Figures never fail the run; a setup
# failure, a lost connection or an edit that did not arrive does (exit 1).
#
# It builds nothing: `make bench-sync` builds Release first. Knobs:
#   VAULTD, SYNC_BENCH    the binaries (default build/release/...)
#   BENCH_PEERS           "vaultd hocuspocus" (default), or one of them
#   BENCH_PHASES          "load memory idle" (default), or a subset
#   BENCH_CLIENTS (1000), BENCH_DOCS (100), BENCH_RATE (2 edits/s/client),
#   BENCH_WARMUP (3 s), BENCH_DURATION (10 s), BENCH_PEAK (10 s),
#   BENCH_MEM_DOCS (1000), BENCH_HOT (1), BENCH_IDLE (10000), BENCH_SOURCES (8 loopback
#   source addresses), BENCH_LOG_LEVEL (vaultd's, default info)
#   BENCH_PEAK_APPLY      how clients apply what they receive in the closed
#                         loop: none (default: they catch up after the loop),
#                         lazy (merged, before their next edit), each (as it
#                         arrives)
#   BENCH_APPLY=0         clients never apply what they receive
#   BENCH_KEEP=1          keep the temporary directory (logs, raw results,
#                         vaultd's /metrics at the end of each phase)
#   BENCH_PERF=DIR        also profile vaultd during the load phase
#                         (perf record, DWARF call graphs) into DIR
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

VAULTD=${VAULTD:-$ROOT/build/release/src/server/vaultd}
GEN=${SYNC_BENCH:-$ROOT/build/release/bench/sync_bench}
PEER_JS=$ROOT/bench/sync/hocuspocus.mjs
PEERS=${BENCH_PEERS:-vaultd hocuspocus}
PHASES=${BENCH_PHASES:-load memory idle}
CLIENTS=${BENCH_CLIENTS:-1000}
DOCS=${BENCH_DOCS:-100}
RATE=${BENCH_RATE:-2}
WARMUP=${BENCH_WARMUP:-3}
DURATION=${BENCH_DURATION:-10}
PEAK=${BENCH_PEAK:-10}
MEM_DOCS=${BENCH_MEM_DOCS:-1000}
HOT=${BENCH_HOT:-1}
IDLE=${BENCH_IDLE:-10000}
SOURCES=${BENCH_SOURCES:-8}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}

# Targets of issue 6.
TARGET_P99_MS=10
TARGET_THROUGHPUT_X=5
TARGET_MEMORY_X=5
TARGET_IDLE_MB=100

die() {
    echo "bench-sync: $*" >&2
    exit 1
}

[[ -x $VAULTD ]] || die "no $VAULTD: build Release first (make bench-sync does)"
[[ -x $GEN ]] || die "no $GEN: build Release first (make bench-sync does)"
command -v curl >/dev/null || die "curl is not installed"
if [[ " $PEERS " == *" hocuspocus "* ]]; then
    command -v node >/dev/null || die "node is not installed"
    [[ -d $ROOT/node_modules/@hocuspocus/server ]] ||
        die "no node_modules/@hocuspocus/server: run scripts/deps.sh (npm ci)"
fi

# Both ends of 10,000 connections live on this machine: each process needs a
# file descriptor per connection, plus its own.
need=$((IDLE > CLIENTS ? IDLE : CLIENTS))
need=$((need > MEM_DOCS ? need : MEM_DOCS))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(($(ulimit -n) >= need + 200)) ||
    die "ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)); $need connections need $((need + 200))"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vn-bench-sync.XXXXXX")
SERVER_PID=""

stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local _
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "bench-sync: the server did not stop in 10 s; killing it" >&2
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    stop_server
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "bench-sync: kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# wait_listening OUT NAME: waits for "listening on (http|ws)://HOST:PORT" in
# OUT; sets ADDR to HOST:PORT.
wait_listening() {
    local out=$1 name=$2 _
    ADDR=""
    for _ in $(seq 1 300); do
        ADDR=$(grep -o 'listening on [a-z]*://[0-9.]*:[0-9]*' "$out" 2>/dev/null | head -n1 |
            sed 's|.*://||') || true
        [[ -n $ADDR ]] && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            tail -n 20 "$TMP/$name.log" >&2 || true
            SERVER_PID=""
            die "$name exited before listening"
        fi
        sleep 0.1
    done
    die "$name did not print its address in 30 s"
}

# start_vaultd NAME [FLAGS...]
start_vaultd() {
    local name=$1
    shift
    "$VAULTD" --listen 127.0.0.1:0 --data-dir "${DATA_DIR:-$TMP/vaultd-data}" --log-level "$LOG_LEVEL" "$@" \
        >"$TMP/$name.out" 2>>"$TMP/$name.log" &
    SERVER_PID=$!
    wait_listening "$TMP/$name.out" "$name"
}

start_hocuspocus() {
    local name=$1
    node --expose-gc "$PEER_JS" >"$TMP/$name.out" 2>>"$TMP/$name.log" &
    SERVER_PID=$!
    wait_listening "$TMP/$name.out" "$name"
}

# api METHOD PATH [BODY]: one JSON call to vaultd; prints the body.
api() {
    local method=$1 path=$2 body=${3:-}
    local args=(-sS -X "$method" -H "Content-Type: application/json" --max-time 30)
    [[ -n ${TOKEN:-} ]] && args+=(-H "Authorization: Bearer $TOKEN")
    [[ -n $body ]] && args+=(--data-binary "$body")
    local resp status
    resp=$(curl "${args[@]}" -w '\n%{http_code}' "http://$ADDR$path") || die "$method $path: curl failed"
    status=${resp##*$'\n'}
    resp=${resp%$'\n'*}
    [[ $status == 2* ]] || die "$method $path answered $status: $resp"
    printf '%s' "$resp"
}

json_field() {
    grep -o "\"$1\":\(\"[^\"]*\"\|[0-9]*\)" | head -n1 | sed "s/^\"$1\"://; s/^\"//; s/\"\$//"
}

# create_notes PREFIX N FILE: N empty notes at PREFIX/nNNNNN.md, ids into
# FILE, through one curl process (keep-alive) reading a config file.
create_notes() {
    local prefix=$1 n=$2 file=$3 cfg=$TMP/curl-$RANDOM.cfg i
    : >"$cfg"
    for ((i = 0; i < n; i++)); do
        ((i == 0)) || echo next >>"$cfg"
        printf 'url = "http://%s/api/v1/vaults/%s/notes"\nrequest = "POST"\nheader = "Content-Type: application/json"\nheader = "Authorization: Bearer %s"\ndata = "{\\"path\\":\\"%s/n%05d.md\\"}"\nwrite-out = " %%{http_code}\\n"\n' \
            "$ADDR" "$VAULT" "$TOKEN" "$prefix" "$i" >>"$cfg"
    done
    curl -sS -K "$cfg" >"$TMP/create.out" || die "creating notes under $prefix failed"
    local bad
    bad=$(grep -c -v ' 201$' "$TMP/create.out" || true)
    ((bad == 0)) || die "creating notes under $prefix: $bad answers were not 201 ($(grep -v ' 201$' "$TMP/create.out" | head -n1))"
    grep -o '^{"id":"[0-9a-f]\{32\}"' "$TMP/create.out" | cut -d'"' -f4 >"$file"
    (($(wc -l <"$file") == n)) || die "creating notes under $prefix: expected $n ids"
}

# The documents. vaultd needs notes created through the REST API; Hocuspocus
# creates a document on first use, and gets the same names.
setup_vaultd() {
    start_vaultd vaultd-setup
    TOKEN=""
    local email="bench-sync-$$@example.test" password="bench-sync-password"
    api POST /api/v1/auth/register "{\"email\":\"$email\",\"password\":\"$password\"}" >/dev/null
    TOKEN=$(api POST /api/v1/auth/login "{\"email\":\"$email\",\"password\":\"$password\"}" | json_field token)
    [[ -n $TOKEN ]] || die "login gave no token"
    VAULT=$(api POST /api/v1/vaults '{"name":"bench-sync"}' | json_field id)
    [[ -n $VAULT ]] || die "vault creation gave no id"
    create_notes /load "$DOCS" "$TMP/docs-load"
    create_notes /memory "$MEM_DOCS" "$TMP/docs-memory"
    create_notes /idle "$DOCS" "$TMP/docs-idle"
    create_notes /warm 1 "$TMP/docs-warm"
    stop_server
    # vaultd-hot's memory phase starts from these notes, as vaultd's does.
    if [[ $HOT == 1 ]]; then cp -a "$TMP/vaultd-data" "$TMP/vaultd-hot-data"; fi
}

background_load() {
    local a b
    read -r -a a < <(awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6 }' /proc/stat)
    sleep 1
    read -r -a b < <(awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6 }' /proc/stat)
    awk -v t="$((b[0] - a[0]))" -v i="$((b[1] - a[1]))" 'BEGIN { printf "%.0f", (t > 0) ? 100 * (t - i) / t : 0 }'
}

declare -A R=()    # R[peer.name] = value, from the generator's "result" lines
declare -A FAILED=() # FAILED[peer.phase] = 1
BUSY=()

# run_phase PEER PHASE: a fresh server, the generator, the server stopped.
run_phase() {
    local peer=$1 phase=$2 name="$1-$2"
    local busy
    busy=$(background_load)
    BUSY+=("$busy")
    local args=(--phase "$phase" --sources "$SOURCES" --warm-doc "$(cat "$TMP/docs-warm")")
    case $phase in
    load)
        args+=(--docs "$TMP/docs-load" --clients "$CLIENTS" --docs-used "$DOCS" --rate "$RATE"
            --warmup "$WARMUP" --duration "$DURATION" --peak "$PEAK") ;;
    memory) args+=(--docs "$TMP/docs-memory" --clients "$MEM_DOCS") ;;
    idle) args+=(--docs "$TMP/docs-idle" --clients "$IDLE" --docs-used "$DOCS") ;;
    esac
    if [[ $peer == vaultd ]]; then
        start_vaultd "$name"
        args+=(--proto y --token "$TOKEN")
    elif [[ $peer == vaultd-hot ]]; then
        DATA_DIR=$TMP/vaultd-hot-data start_vaultd "$name" --doc-freeze-ms 0 # documents in use: none frozen
        args+=(--proto y --token "$TOKEN")
    else
        start_hocuspocus "$name"
        args+=(--proto hocuspocus --token bench --gc)
    fi
    [[ ${BENCH_APPLY:-1} == 0 ]] && args+=(--no-apply)
    [[ -n ${BENCH_PEAK_APPLY:-} ]] && args+=(--peak-apply "$BENCH_PEAK_APPLY")
    args+=(--server "$ADDR" --pid "$SERVER_PID")
    echo "bench-sync: $peer $phase (${busy}% of the CPUs busy with other work before)"
    local perf_pid=""
    if [[ -n ${BENCH_PERF:-} && $peer == vaultd && $phase == load ]]; then
        mkdir -p "$BENCH_PERF"
        perf record -q --call-graph dwarf,16384 -F 250 -p "$SERVER_PID" \
            -o "$BENCH_PERF/perf-sync-load.data" >"$TMP/perf.log" 2>&1 &
        perf_pid=$!
    fi
    local rc=0
    "$GEN" "${args[@]}" >"$TMP/$name.results" 2> >(tee "$TMP/$name.gen.log" | sed 's/^/  /' >&2) || rc=$?
    if [[ -n $perf_pid ]]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    if [[ $peer == vaultd* ]]; then # kept with BENCH_KEEP=1
        curl -sS --max-time 10 "http://$ADDR/metrics" >"$TMP/$name.metrics" 2>/dev/null || true
        # Documents frozen during the phase (the memory phase: each note once
        # idle, before RSS is read; its check thaws them after).
        R[$peer.$phase.freezes]=$(awk '$1 == "vault_docs_freezes_total" { print $2 }' "$TMP/$name.metrics")
    fi
    if [[ $peer == hocuspocus ]]; then
        local stats
        stats=$(curl -sS --max-time 10 "http://$ADDR/bench/stats" || true)
        R[$peer.$phase.peer_updates]=$(json_field updates <<<"$stats")
    fi
    stop_server
    local key value
    while read -r _ key value; do
        R[$peer.$key]=$value
    done < <(grep '^result ' "$TMP/$name.results" || true)
    if ((rc != 0)); then
        echo "bench-sync: $peer $phase failed (generator exit status $rc); see above" >&2
        FAILED[$peer.$phase]=1
    fi
}

echo "bench-sync: vaultd $("$VAULTD" --version | awk '{ print $2 }'), @hocuspocus/server $(node -p 'require("./node_modules/@hocuspocus/server/package.json").version' 2>/dev/null || echo '?'), node $(node --version 2>/dev/null || echo '?'), on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
echo "bench-sync: load $CLIENTS clients on $DOCS documents, $RATE edits/s each, ${DURATION} s (+${WARMUP} s warm-up), closed loop ${PEAK} s; memory $MEM_DOCS documents; idle $IDLE connections"
setup_vaultd
for phase in $PHASES; do
    case $phase in load | memory | idle) ;; *) die "unknown phase '$phase'" ;; esac
    for peer in $PEERS; do
        case $peer in vaultd | hocuspocus) ;; *) die "unknown peer '$peer'" ;; esac
        run_phase "$peer" "$phase"
        if [[ $phase == memory && $peer == vaultd && $HOT == 1 ]]; then run_phase vaultd-hot memory; fi
    done
done
# The memory phase's vaultd-hot line (freezing off) goes with the peers.
REPORT_PEERS=$PEERS
if [[ $HOT == 1 && " $PEERS " == *" vaultd "* ]]; then REPORT_PEERS=${PEERS/vaultd/vaultd vaultd-hot}; fi

# ---- report -------------------------------------------------------------------

v() { echo "${R[$1]:-}"; }
echo
for phase in $PHASES; do
    for peer in $REPORT_PEERS; do
        [[ $peer == vaultd-hot && $phase != memory ]] && continue
        case $phase in
        load)
            printf '%-10s load    %6s updates/s offered, %6s/s delivered to everyone, %7s deliveries/s; p50 %8s ms, p99 %8s ms; server CPU %4s%% (waited %s%%), generator CPU %4s%%, RSS %s kB\n' \
                "$peer" "$(v "$peer.load.offered_ups")" "$(v "$peer.load.ups")" "$(v "$peer.load.deliveries_ps")" \
                "$(v "$peer.load.p50_ms")" "$(v "$peer.load.p99_ms")" "$(v "$peer.load.server_cpu_pct")" \
                "$(v "$peer.load.server_waited_pct")" "$(v "$peer.load.generator_cpu_pct")" "$(v "$peer.load.rss_kb")"
            if [[ -n $(v "$peer.peak.ups") ]]; then
                printf '%-10s peak    %6s updates/s offered, %6s/s delivered to everyone, %7s deliveries/s; p50 %8s ms, p99 %8s ms; server CPU %4s%% (waited %s%%), generator CPU %4s%%, RSS %s kB\n' \
                    "$peer" "$(v "$peer.peak.offered_ups")" "$(v "$peer.peak.ups")" "$(v "$peer.peak.deliveries_ps")" \
                    "$(v "$peer.peak.p50_ms")" "$(v "$peer.peak.p99_ms")" "$(v "$peer.peak.server_cpu_pct")" \
                    "$(v "$peer.peak.server_waited_pct")" "$(v "$peer.peak.generator_cpu_pct")" "$(v "$peer.peak.rss_kb")"
            fi
            printf '%-10s verify  %s of %s documents hold every character sent; %s server CPU us per update at the target load\n' \
                "$peer" "$(v "$peer.load.verify_docs_ok")" "$(v "$peer.load.verify_docs")" "$(v "$peer.load.server_cpu_us_per_update")"
            if [[ $peer == hocuspocus && -n $(v "$peer.load.peer_updates") ]]; then
                printf '%-10s counted %s document changes (onChange), %s updates sent by the generator\n' \
                    "$peer" "$(v "$peer.load.peer_updates")" "$(v "$peer.load.sent_total")"
                if (($(v "$peer.load.peer_updates") < $(v "$peer.load.sent_total"))); then
                    echo "bench-sync: Hocuspocus applied fewer updates than were sent" >&2
                    FAILED[$peer.count]=1
                fi
            fi
            ;;
        memory)
            printf '%-10s memory  %s documents open (one connection each, %s characters each): RSS %s -> %s kB, %s kB per document%s\n' \
                "$peer" "$(v "$peer.memory.docs")" "$(v "$peer.memory.chars_per_doc")" "$(v "$peer.memory.rss_before_kb")" \
                "$(v "$peer.memory.rss_kb")" "$(v "$peer.memory.per_doc_kb")" \
                "$([[ -n $(v "$peer.memory.freezes") ]] && echo "; $(v "$peer.memory.freezes") documents frozen")" ;;
        idle)
            printf '%-10s idle    %s of %s connections open on %s documents: RSS %s -> %s kB, %s kB per connection\n' \
                "$peer" "$(v "$peer.idle.open")" "$(v "$peer.idle.conns")" "$(v "$peer.idle.docs")" \
                "$(v "$peer.idle.rss_before_kb")" "$(v "$peer.idle.rss_kb")" "$(v "$peer.idle.per_conn_kb")" ;;
        esac
    done
done
maxbusy=0
for b in "${BUSY[@]}"; do ((b > maxbusy)) && maxbusy=$b; done
((maxbusy >= 10)) && echo "warning: up to ${maxbusy}% of the CPUs were busy with other work before a phase; figures are pessimistic"

# ratio NAME OURS THEIRS: their cost over ours.
ratio() {
    local name=$1 ours=$2 theirs=$3
    [[ -n $ours && -n $theirs ]] || return 0
    awk -v n="$name" -v o="$ours" -v t="$theirs" 'BEGIN { if (o > 0 && t > 0) printf "ratio sync %s %.1fx\n", n, t / o }'
}
echo
RATIO_TP="" RATIO_MEM=""
if [[ " $PEERS " == *" vaultd "* && " $PEERS " == *" hocuspocus "* ]]; then
    # Throughput is a benefit, not a cost: theirs over ours is inverted.
    if [[ -n $(v hocuspocus.peak.ups) && -n $(v vaultd.peak.ups) ]]; then
        ratio throughput "$(v hocuspocus.peak.ups)" "$(v vaultd.peak.ups)"
        RATIO_TP=$(awk -v o="$(v vaultd.peak.ups)" -v t="$(v hocuspocus.peak.ups)" 'BEGIN { if (t > 0) printf "%.2f", o / t }')
    fi
    ratio "p99 latency" "$(v vaultd.load.p99_ms)" "$(v hocuspocus.load.p99_ms)"
    ratio "cpu per update" "$(v vaultd.load.server_cpu_us_per_update)" "$(v hocuspocus.load.server_cpu_us_per_update)"
    ratio "memory per document" "$(v vaultd.memory.per_doc_kb)" "$(v hocuspocus.memory.per_doc_kb)"
    ratio "memory per document in use (vaultd-hot)" "$(v vaultd-hot.memory.per_doc_kb)" "$(v hocuspocus.memory.per_doc_kb)"
    RATIO_MEM=$(awk -v o="$(v vaultd.memory.per_doc_kb)" -v t="$(v hocuspocus.memory.per_doc_kb)" 'BEGIN { if (o > 0 && t > 0) printf "%.2f", t / o }')
    ratio "idle connection memory" "$(v vaultd.idle.per_conn_kb)" "$(v hocuspocus.idle.per_conn_kb)"
fi

echo
verdict() { if [[ $1 == 1 ]]; then echo "met"; else echo "NOT MET"; fi; }
if [[ -n $(v vaultd.load.p99_ms) ]]; then
    p99=$(v vaultd.load.p99_ms)
    echo "target: p99 < $TARGET_P99_MS ms at $CLIENTS clients on $DOCS documents ($RATE edits/s each): ${p99} ms -> $(verdict "$(awk -v a="$p99" -v b="$TARGET_P99_MS" 'BEGIN { print (a < b) ? 1 : 0 }')")"
fi
if [[ -n $RATIO_TP ]]; then
    echo "target: peak throughput >= ${TARGET_THROUGHPUT_X}x Hocuspocus's: ${RATIO_TP}x -> $(verdict "$(awk -v a="$RATIO_TP" -v b="$TARGET_THROUGHPUT_X" 'BEGIN { print (a >= b) ? 1 : 0 }')")"
fi
if [[ -n $RATIO_MEM ]]; then
    echo "target: memory per open document <= 1/${TARGET_MEMORY_X} of Hocuspocus's: 1/${RATIO_MEM} -> $(verdict "$(awk -v a="$RATIO_MEM" -v b="$TARGET_MEMORY_X" 'BEGIN { print (a >= b) ? 1 : 0 }')")"
fi
if [[ -n $(v vaultd.idle.rss_kb) ]]; then
    mb=$(awk -v k="$(v vaultd.idle.rss_kb)" 'BEGIN { printf "%.1f", k / 1024 }')
    echo "target: $IDLE idle connections in < $TARGET_IDLE_MB MB of server RSS: ${mb} MB ($(v vaultd.idle.open) open) -> $(verdict "$(awk -v a="$mb" -v b="$TARGET_IDLE_MB" -v o="$(v vaultd.idle.open)" -v n="$IDLE" 'BEGIN { print (a < b && o == n) ? 1 : 0 }')")"
fi
if ((${#FAILED[@]} > 0)); then
    echo "bench-sync: failed: ${!FAILED[*]}" >&2
    exit 1
fi
