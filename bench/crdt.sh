#!/usr/bin/env bash
# crdt.sh - the C CRDT engine against Yjs on real editing traces (make bench-crdt).
#
# For every *.json.gz under the traces folder (../shared/traces next to the
# repository, or $VN_TRACES_DIR; read in place, never copied into the repo)
# it converts the trace once into a compact form in a temporary directory
# (bench/crdt/crdt_bench convert), then runs, each in a fresh process under
# /usr/bin/time (peak RSS of that process), the C engine
# (build/release/bench/crdt_bench run) and Yjs (node bench/crdt/yjs_bench.mjs)
# on identical work: replay every transaction as a local edit with an update
# observer, encode the final document (v1), load it into a fresh document,
# and for a concurrent trace replay one replica per agent and time the merge
# of all their updates into one document. See the two programs for details.
#
# It prints one table of medians (BENCH_RUNS runs per engine and trace; Yjs
# gets BENCH_SLOW_RUNS runs where its first replay took more than 5 s), then
# one line per trace and figure with the ratio Yjs/C, one line per trace
# saying whether the encoded bytes are identical and one whether every
# update the replays emitted was (an extra untimed run per engine that
# hashes them), and the targets of issue 4
# (met / NOT MET). Numbers never fail the run; a failed or wrong run does.
#
# It builds nothing: `make bench-crdt` builds Release first. Knobs:
#   CRDT_BENCH       the C program (default build/release/bench/crdt_bench)
#   VN_TRACES_DIR    the traces folder (default ../shared/traces)
#   BENCH_RUNS       runs per engine and trace (default 5)
#   BENCH_SLOW_RUNS  Yjs runs on a trace whose first Yjs replay took > 5 s (default 3)
#   BENCH_KEEP=1     keep the temporary directory (raw results, encodings)
#   BENCH_CHECK_UPDATES=0  skip the untimed run per engine and trace that
#                    compares every emitted update (a hash of them all)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BENCH=${CRDT_BENCH:-$ROOT/build/release/bench/crdt_bench}
TRACES=${VN_TRACES_DIR:-$ROOT/../shared/traces}
RUNS=${BENCH_RUNS:-5}
SLOW_RUNS=${BENCH_SLOW_RUNS:-3}
CHECK_UPDATES=${BENCH_CHECK_UPDATES:-1}
YJS=$ROOT/bench/crdt/yjs_bench.mjs

die() {
    echo "bench-crdt: $*" >&2
    exit 1
}

[[ -x $BENCH ]] || die "no $BENCH: build Release first (make bench-crdt does)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is not installed (Debian package time)"
command -v node >/dev/null || die "node is not installed"
[[ -d $ROOT/node_modules/yjs ]] || die "node_modules/yjs is missing (scripts/deps.sh installs it)"
[[ -d $TRACES ]] || die "no traces folder $TRACES: set VN_TRACES_DIR"

mapfile -t FILES < <(find "$TRACES" -name '*.json.gz' | sort)
((${#FILES[@]} > 0)) || die "no *.json.gz under $TRACES"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vn-bench-crdt.XXXXXX")
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "bench-crdt: kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# field NAME: a number (or null) of the one-line JSON result in stdin.
field() {
    sed -n "s/.*\"$1\":\(null\|[0-9.][0-9.]*\).*/\1/p"
}

# median: the median of the numbers on stdin, or "-" if there are none.
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.10g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# one_run ENGINE TRACE BIN: one measured process; appends a line to results.tsv:
# trace engine replay encode load merge bytes rss_kib engine_heap_bytes (C only).
one_run() {
    local engine=$1 name=$2 bin=$3 out=$TMP/$name.$1.out res=$TMP/run.json
    local cmd
    if [[ $engine == C ]]; then cmd=("$BENCH" run "$bin" "$out"); else cmd=(node "$YJS" "$bin" "$out"); fi
    if ! /usr/bin/time -f '%M' -o "$TMP/rss" "${cmd[@]}" >"$res" 2>"$TMP/err"; then
        cat "$TMP/err" >&2
        die "$engine on $name failed"
    fi
    local merge
    merge=$(field merge_ms <"$res")
    [[ $merge == null ]] && merge=-
    local heap
    heap=$(field engine_peak <"$res")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$engine" "$(field replay_ms <"$res")" \
        "$(field encode_ms <"$res")" "$(field load_ms <"$res")" "$merge" "$(field bytes <"$res")" \
        "$(tail -n1 "$TMP/rss")" "${heap:--}" >>"$TMP/results.tsv"
    LAST_REPLAY=$(field replay_ms <"$res")
}

# check_updates TRACE BIN: one more run per engine, untimed, with
# VN_BENCH_UPDATES_HASH=1 (both programs hash every update they emit, in
# order); writes "same N" or "differ" to TRACE.updates.
check_updates() {
    local name=$1 bin=$2 hc hy n
    hc=$(VN_BENCH_UPDATES_HASH=1 "$BENCH" run "$bin" "$TMP/$name.check.out") || die "C on $name failed (updates check)"
    hy=$(VN_BENCH_UPDATES_HASH=1 node "$YJS" "$bin" "$TMP/$name.check.out") || die "Yjs on $name failed (updates check)"
    n=$(field updates <<<"$hc")
    if [[ -n $(field update_hash <<<"$hc") && $(field update_hash <<<"$hc") == $(field update_hash <<<"$hy") &&
        $n == $(field updates <<<"$hy") ]]; then
        echo "same $n" >"$TMP/$name.updates"
    else
        echo "differ" >"$TMP/$name.updates"
    fi
}

# background_load: percent of the machine's CPUs busy over one second (other
# work on the host skews every figure; the runs use one CPU at a time).
background_load() {
    local t0 i0 t1 i1
    read -r t0 i0 < <(awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6 }' /proc/stat)
    sleep 1
    read -r t1 i1 < <(awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6 }' /proc/stat)
    awk -v t="$((t1 - t0))" -v i="$((i1 - i0))" 'BEGIN { printf "%.0f", (t > 0) ? 100 * (t - i) / t : 0 }'
}

echo "bench-crdt: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), node $(node --version), yjs $(node -p "require('$ROOT/node_modules/yjs/package.json').version")"
echo "bench-crdt: traces from $TRACES; $RUNS runs per engine and trace"
echo "bench-crdt: before starting, $(background_load)% of the CPUs were busy with other work"
: >"$TMP/results.tsv"
NAMES=()
declare -A YRUNS
for file in "${FILES[@]}"; do
    name=$(basename "$file" .json.gz)
    NAMES+=("$name")
    "$BENCH" convert "$file" "$TMP/$name.bin" || die "could not convert $file"
    echo -n "bench-crdt: $name: C"
    for ((r = 0; r < RUNS; r++)); do one_run C "$name" "$TMP/$name.bin"; echo -n "."; done
    echo -n " Yjs"
    n=$RUNS
    for ((r = 0; r < n; r++)); do
        one_run Yjs "$name" "$TMP/$name.bin"
        echo -n "."
        if ((r == 0)) && awk -v v="$LAST_REPLAY" 'BEGIN { exit !(v > 5000) }' && ((SLOW_RUNS < RUNS)); then
            n=$SLOW_RUNS
        fi
    done
    YRUNS[$name]=$n
    if [[ $CHECK_UPDATES == 1 ]]; then
        echo -n " updates"
        check_updates "$name" "$TMP/$name.bin"
    fi
    echo
    cmp -s "$TMP/$name.C.out" "$TMP/$name.Yjs.out" && echo "same" >"$TMP/$name.same" || echo "differ" >"$TMP/$name.same"
done

# med TRACE ENGINE COLUMN: the median of one column (3 replay ... 8 rss KiB, 9 heap).
med() {
    awk -F'\t' -v t="$1" -v e="$2" -v c="$3" '$1 == t && $2 == e && $c != "-" { print $c }' \
        "$TMP/results.tsv" | median
}

echo
echo "Medians; times in ms (wall clock, engine only), encoded = v1 bytes of the final document,"
echo "peak RSS = the whole process (trace in memory included), from /usr/bin/time."
printf '%-20s  %-6s  %10s  %9s  %9s  %9s  %9s  %9s\n' trace engine "replay ms" "encode ms" "load ms" "merge ms" "encoded B" "RSS MiB"
# fmt VALUE: two decimals, or "-".
fmt() { if [[ $1 == - ]]; then echo -; else printf '%.2f' "$1"; fi; }
declare -A M
for name in "${NAMES[@]}"; do
    for engine in C Yjs; do
        for col in 3 4 5 6 7 8; do M[$name.$engine.$col]=$(med "$name" "$engine" "$col"); done
        rss=$(awk -v k="${M[$name.$engine.8]}" 'BEGIN { printf "%.1f", k / 1024 }')
        printf '%-20s  %-6s  %10s  %9s  %9s  %9s  %9s  %9s\n' "$name" "$engine" \
            "$(fmt "${M[$name.$engine.3]}")" "$(fmt "${M[$name.$engine.4]}")" \
            "$(fmt "${M[$name.$engine.5]}")" "$(fmt "${M[$name.$engine.6]}")" \
            "${M[$name.$engine.7]}" "$rss"
    done
done
for name in "${NAMES[@]}"; do
    heap=$(med "$name" C 9)
    [[ $heap == - ]] || printf '(C on %s: the engine itself held at most %.1f MiB (yalloc_stats); the rest of its RSS is the program, libc and the trace)\n' \
        "$name" "$(awk -v b="$heap" 'BEGIN { print b / 1048576 }')"
done
for name in "${NAMES[@]}"; do
    if ((YRUNS[$name] != RUNS)); then
        echo "(Yjs: ${YRUNS[$name]} runs on $name, its replay takes more than 5 s per run)"
    fi
done

# ratio A B: A / B with one decimal, or "-" when either is missing or zero.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.1f", a / b }'
}

echo
declare -A R
for name in "${NAMES[@]}"; do
    for fig in replay:3 encode:4 load:5 merge:6 rss:8; do
        label=${fig%%:*} col=${fig##*:}
        [[ ${M[$name.C.$col]} == - ]] && continue
        R[$name.$label]=$(ratio "${M[$name.Yjs.$col]}" "${M[$name.C.$col]}")
        echo "ratio $name $label ${R[$name.$label]}x"
    done
    if [[ $(cat "$TMP/$name.same") == same ]]; then
        echo "bytes $name identical (${M[$name.C.7]} bytes)"
    else
        echo "bytes $name DIFFER (C ${M[$name.C.7]}, Yjs ${M[$name.Yjs.7]} bytes)"
    fi
    if [[ -f $TMP/$name.updates ]]; then
        read -r u n <"$TMP/$name.updates"
        if [[ $u == same ]]; then
            echo "updates $name identical ($n updates, same FNV-1a hash of all their bytes)"
        else
            echo "updates $name DIFFER"
        fi
    fi
done

echo
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r != "-" && r + 0 >= t) ? "met" : "NOT MET" }'; }
if [[ -n ${R[automerge-paper.replay]:-} ]]; then
    echo "target: replay >= 50x faster than Yjs on automerge-paper: ${R[automerge-paper.replay]}x -> $(verdict "${R[automerge-paper.replay]}" 50)"
fi
for name in "${NAMES[@]}"; do
    echo "target: load >= 10x faster than Yjs on $name: ${R[$name.load]}x -> $(verdict "${R[$name.load]}" 10)"
done
for name in "${NAMES[@]}"; do
    [[ -n ${R[$name.merge]:-} ]] || continue
    echo "target: merge >= 10x faster than Yjs on $name: ${R[$name.merge]}x -> $(verdict "${R[$name.merge]}" 10)"
done
for name in "${NAMES[@]}"; do
    echo "target: peak RSS <= 1/4 of Yjs's on $name: ${R[$name.rss]}x -> $(verdict "${R[$name.rss]}" 4)"
done
for name in "${NAMES[@]}"; do
    if [[ $(cat "$TMP/$name.same") == same ]]; then v=met; else v="NOT MET"; fi
    echo "target: encoded bytes identical to Yjs's on $name -> $v"
done
