# stackshare.awk - where a thread's time goes, from a perf profile of vaultd
# (bench/rest.sh with BENCH_PERF=DIR records one per backend and operation):
# for each thread, the share of its samples whose call stack contains each
# function matched by the regular expression `want`. Shares of nested
# functions overlap (read_rows includes sqlite3_prepare_v2), so they do not
# add up to 100%.
#
#   perf script -i DIR/perf-sqlite-get.data -F tid,ip,sym |
#       awk -v want='^(read_rows|sqlite3_prepare_v2|vhttp_send_json)$' \
#           -f bench/rest/stackshare.awk | sort -k1,1 -k3,3nr
#
# Output: "TID FUNCTION SHARE%" lines, and "TID (samples) N" per thread.

function flush() {
    if (tid == "") return
    total[tid]++
    for (k in seen) count[tid SUBSEP k]++
    delete seen
}

# A sample starts with a line holding only its thread id; frames follow.
/^ *[0-9]+ *$/ {
    flush()
    tid = $1
    next
}

{
    if ($2 ~ want) seen[$2] = 1
}

END {
    flush()
    for (k in count) {
        split(k, a, SUBSEP)
        printf "%s %-26s %5.1f%%\n", a[1], a[2], 100 * count[k] / total[a[1]]
    }
    for (t in total) printf "%s %-26s %d\n", t, "(samples)", total[t]
}
