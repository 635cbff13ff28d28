#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer targets (tests/fuzz/) and run them.
#
#   scripts/fuzz.sh quick            replay the seed corpora, then fuzz each
#                                    target ~20 s (what `make test` runs)
#   scripts/fuzz.sh long [seconds]   replay, then fuzz each target `seconds`
#                                    (default 600; what `make fuzz` runs)
#   scripts/fuzz.sh replay           only replay the seed corpora
#   FUZZ_TARGETS="fuzz_merge_updates" scripts/fuzz.sh quick   a subset
#
# quick fuzzes from a fixed seed (FUZZ_SEED, default 1), so `make test` and CI
# explore the same inputs each time and stay reproducible; long (and quick
# with FUZZ_SEED=0) lets libFuzzer pick a new seed each run, to find new bugs.
#
# The build lives in build/fuzz (clang, -fsanitize=fuzzer,address,undefined,
# -DVN_FUZZ=ON). Seeds are read from tests/fuzz/corpus/<target>/ and never
# written to; inputs the fuzzer finds go to build/fuzz/corpus/<target>/ and
# crashes, leaks, timeouts and out-of-memory inputs to
# build/fuzz/crashes/<target>/. Exits non-zero if a target fails to build,
# any seed fails on replay, or fuzzing finds anything. To keep a crash as a
# regression seed, copy it into tests/fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-quick}
case $mode in
  quick) seconds=${FUZZ_QUICK_SECONDS:-20}; seed=${FUZZ_SEED:-1} ;;
  long) seconds=${2:-600}; seed=${FUZZ_SEED:-0} ;;
  replay) seconds=0; seed=0 ;;
  *) echo "usage: $0 quick | long [seconds] | replay" >&2; exit 2 ;;
esac

read -ra targets <<<"${FUZZ_TARGETS:-fuzz_apply_update fuzz_merge_updates fuzz_diff_update fuzz_vchan_decode fuzz_yproto_decode}"
build=build/fuzz
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"

command -v clang >/dev/null || { echo "fuzz: clang not found (scripts/deps.sh installs it)" >&2; exit 1; }
mkdir -p "$build"
# libFuzzer's runtime comes in a separate Debian package; say so plainly
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
  >"$build/probe.c"
clang -fsanitize=fuzzer "$build/probe.c" -o "$build/probe" 2>/dev/null || {
  echo "fuzz: clang cannot link libFuzzer; install libclang-rt-14-dev (scripts/deps.sh)" >&2
  exit 1
}

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Fuzz -DVN_FUZZ=ON \
  -DCMAKE_C_FLAGS="-g -O1 -fno-omit-frame-pointer $san" >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
start=$SECONDS
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/$t
  seeds=tests/fuzz/corpus/$t
  work=$build/corpus/$t
  crashes=$build/crashes/$t
  mkdir -p "$seeds" "$work" "$crashes"

  # (a) replay every seed, each in the same process, in file-name order
  mapfile -t files < <(find "$seeds" -type f ! -name '.*' | sort)
  if ((${#files[@]})); then
    if "$bin" -runs=1 "${files[@]}" >"$build/$t.replay.log" 2>&1; then
      echo "fuzz: $t: replayed ${#files[@]} seeds"
    else
      echo "fuzz: $t: a seed fails on replay (log: $build/$t.replay.log)" >&2
      tail -n 30 "$build/$t.replay.log" >&2
      failed=1
    fi
  else
    echo "fuzz: $t: no seeds in $seeds"
  fi

  # (b) fuzz for a bounded time, starting from the seeds and earlier finds
  if ((seconds > 0)); then
    before=$(find "$crashes" -type f | wc -l)
    set +e
    "$bin" -seed="$seed" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "$seeds" \
      >"$build/$t.fuzz.log" 2>&1
    rc=$?
    set -e
    after=$(find "$crashes" -type f | wc -l)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/$t.fuzz.log" | grep -o '[0-9]*$' || true)
    if ((rc != 0 || after > before)); then
      echo "fuzz: $t: FOUND A PROBLEM (exit $rc); inputs in $crashes, log $build/$t.fuzz.log" >&2
      grep -E 'ERROR|invariant failed|SUMMARY|Test unit written' "$build/$t.fuzz.log" | head -n 10 >&2 || true
      failed=1
    else
      echo "fuzz: $t: ${seconds}s, ${execs:-?} runs, nothing found"
    fi
  fi
done
echo "fuzz: done in $((SECONDS - start))s"
exit $failed
