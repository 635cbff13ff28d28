#!/usr/bin/env bash
# cli.sh - the vn client on a big vault (make bench-cli).
#
# Starts the Release vaultd (SQLite) on a free port, signs a user up, then with
# the Release vn:
#   upload   a folder of BENCH_NOTES generated Markdown notes (~5 KB each, about
#            50 MB for the default 10,000) is synced into a new vault (folder S);
#   clone    a second folder C clones the vault (the first clone);
#   noop     `vn sync` in C with nothing changed;
#   incr     BENCH_CHANGED notes edited in C while it is offline (it does not
#            sync) and BENCH_CHANGED other notes edited in S and synced; then
#            `vn sync` in C: sends its edits and receives S's.
# For each step it prints the wall time and the bytes vn exchanged with the
# server (WebSocket bytes on the socket, handshake included, plus REST), as vn
# reports them with VN_REPORT_BYTES=1. Then one line per target of issue 8:
# the incremental sync under 2 s, and its bytes in proportion to the changes
# (compared with the clone's bytes). It checks the two folders are identical.
# Numbers never fail the run; a setup failure does (exit 1).
#
# It builds nothing: `make bench-cli` builds Release first. Knobs:
#   VAULTD, VN        the binaries (default build/release/src/{server/vaultd,client/vn})
#   BENCH_NOTES       notes in the vault (default 10000)
#   BENCH_CHANGED     notes changed on each side before the incremental sync (default 100)
#   BENCH_KEEP=1      keep the temporary directory
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VAULTD=${VAULTD:-$ROOT/build/release/src/server/vaultd}
VN=${VN:-$ROOT/build/release/src/client/vn}
NOTES=${BENCH_NOTES:-10000}
CHANGED=${BENCH_CHANGED:-100}

die() {
    echo "bench-cli: $*" >&2
    exit 1
}
[[ -x $VAULTD ]] || die "no $VAULTD: build Release first (make bench-cli does)"
[[ -x $VN ]] || die "no $VN: build Release first (make bench-cli does)"
command -v node >/dev/null || die "node is not installed (it generates the notes)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vn-bench-cli.XXXXXX")
PID=
cleanup() {
    if [[ -n $PID ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "bench-cli: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

"$VAULTD" --listen 127.0.0.1:0 --data-dir "$TMP/data" --log-level warn >"$TMP/vaultd.out" 2>"$TMP/vaultd.err" &
PID=$!
for _ in $(seq 300); do
    URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$TMP/vaultd.out" | head -1 || true)
    [[ -n $URL ]] && break
    sleep 0.1
done
[[ -n ${URL:-} ]] || die "vaultd did not start: $(cat "$TMP/vaultd.err")"

export XDG_CONFIG_HOME=$TMP/config HOME=$TMP
curl -sf "$URL/api/v1/auth/register" -H 'content-type: application/json' \
    -d '{"email":"bench@example.test","password":"bench password"}' >/dev/null || die "register failed"
VN_EMAIL=bench@example.test VN_PASSWORD='bench password' "$VN" login "$URL" >/dev/null || die "vn login failed"
VAULT=$("$VN" create-vault Bench) || die "create-vault failed"

# S: the generated folder, adopted by cloning the empty vault first.
"$VN" clone "$VAULT" "$TMP/S" >/dev/null || die "clone of the empty vault failed"
node - "$TMP/S" "$NOTES" <<'JS'
const fs = require('fs'), path = require('path')
const [dir, n] = [process.argv[2], Number(process.argv[3])]
let seed = 42
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
const words = 'vault note sync merge offline edit folder markdown server client text crdt yjs design plan idea meeting project quarter review'.split(' ')
for (let i = 0; i < n; i++) {
  const folder = `area-${i % 50}/topic-${Math.floor(i / 50) % 20}`
  fs.mkdirSync(path.join(dir, folder), { recursive: true })
  let s = `# Note ${i}\n\n`
  while (s.length < 5000) {
    let line = ''
    for (let w = 0; w < 12; w++) line += words[Math.floor(rnd() * words.length)] + ' '
    s += line.trim() + '.\n'
  }
  fs.writeFileSync(path.join(dir, folder, `note-${i}.md`), s)
}
JS
SIZE=$(find "$TMP/S" -name "*.md" -printf "%s\n" | awk "{s+=\$1} END {printf \"%.0f\", s / 1e6}")

# Runs vn sync/clone, prints "<seconds> <bytes>".
measure() {
    local start end out
    start=$(date +%s.%N)
    out=$(VN_REPORT_BYTES=1 "$@" 2>&1 >/dev/null) || { echo "$out" >&2; die "failed: $*"; }
    if [[ -n ${VN_REPORT_TIMES:-} ]]; then echo "$out" | grep -v 'bytes in' | sed 's/^/    /' >&2; fi
    end=$(date +%s.%N)
    local b
    b=$(echo "$out" | sed -n 's/.*bytes in \([0-9]*\), out \([0-9]*\) (sync channel); REST in \([0-9]*\), out \([0-9]*\).*/\1 \2 \3 \4/p')
    [[ -n $b ]] || die "no byte report from: $*"
    read -r wi wo ri ro <<<"$b"
    echo "$(awk "BEGIN{print $end - $start}") $((wi + wo + ri + ro)) $wi $wo"
}

report() { # name seconds bytes in out
    printf '%-34s %8.2f s %12s bytes (%s in, %s out)\n' "$1" "$2" "$3" "$4" "$5"
}

echo "bench-cli: $NOTES notes, $SIZE MB of Markdown, vaultd and vn Release, SQLite, loopback"
read -r t b i o <<<"$(measure "$VN" sync -C "$TMP/S")"
report "upload (first sync of the folder)" "$t" "$b" "$i" "$o"
read -r t b i o <<<"$(measure "$VN" clone "$VAULT" "$TMP/C")"
CLONE_BYTES=$b
report "first clone" "$t" "$b" "$i" "$o"
read -r t b i o <<<"$(measure "$VN" sync -C "$TMP/C")"
report "sync, nothing changed" "$t" "$b" "$i" "$o"

# CHANGED notes edited in C (offline: it does not sync), CHANGED others in S (synced).
node - "$TMP/C" "$TMP/S" "$NOTES" "$CHANGED" <<'JS'
const fs = require('fs'), path = require('path')
const [c, s, n, k] = [process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5])]
const file = (dir, i) => path.join(dir, `area-${i % 50}/topic-${Math.floor(i / 50) % 20}`, `note-${i}.md`)
const step = Math.floor(n / (2 * k))
for (let j = 0; j < k; j++) {
  const a = j * 2 * step, b = a + step
  const t = fs.readFileSync(file(c, a), 'utf8')
  fs.writeFileSync(file(c, a), t.slice(0, 200) + `edited offline in C (${j})\n` + t.slice(200))
  const u = fs.readFileSync(file(s, b), 'utf8')
  fs.writeFileSync(file(s, b), u + `edited on the server side (${j})\n`)
}
JS
"$VN" sync -C "$TMP/S" >/dev/null || die "sync of S failed"
read -r t b i o <<<"$(VN_REPORT_TIMES=1 measure "$VN" sync -C "$TMP/C")"
INCR_T=$t
INCR_BYTES=$b
report "sync after $CHANGED+$CHANGED changes" "$t" "$b" "$i" "$o"
"$VN" sync -C "$TMP/S" >/dev/null || die "sync of S failed"
diff -r -q -x .vault "$TMP/S" "$TMP/C" >/dev/null || die "the folders differ after the syncs"
echo "bench-cli: folders S and C are identical"

share=$(awk "BEGIN{printf \"%.2f\", 100 * $INCR_BYTES / $CLONE_BYTES}")
per=$((INCR_BYTES / (2 * CHANGED)))
if awk "BEGIN{exit !($INCR_T < 2)}"; then v=met; else v="not met"; fi
echo "target: incremental sync under 2 s: $INCR_T s ($v)"
if awk "BEGIN{exit !($share < 5)}"; then v=met; else v="not met"; fi
echo "target: bytes in proportion to the changes: $INCR_BYTES bytes = $share% of the clone, $per bytes per changed note ($v)"
