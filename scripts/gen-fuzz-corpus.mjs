// gen-fuzz-corpus.mjs - writes seed inputs for the CRDT fuzz targets from
// real updates: some made by the real Yjs, some by the C engine (through the
// interop driver, tests/interop/ydriver), covering text with multibyte and
// astral characters, formatting, embeds, maps with every Any kind, arrays,
// nested types, deletes, remote edits, gc on and off.
//
// Files go to tests/fuzz/corpus/<target>/ic-*.bin in the input layouts of
// tests/fuzz/README.md ("ic-" keeps them apart from gen-fuzz-seeds.mjs's
// "upd-" files; earlier ic-* files are removed first). Every file is under
// 4 KiB; files with the same bytes are written once. Deterministic: the same
// engine gives the same files.
//
// Run from the repo root after building the driver:
//   node scripts/gen-fuzz-corpus.mjs        (VN_BUILD_DIR as for the interop tests)
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import * as prng from 'lib0/prng'
import { Driver, repoRoot } from '../tests/interop/lib/driver.mjs'
import { YReplica, CReplica, applyYOp, yContent, ROOTS } from '../tests/interop/lib/replica.mjs'
import { genOp } from '../tests/interop/lib/random-ops.mjs'

const OUT = join(repoRoot, 'tests/fuzz/corpus')
const MAX = 4096
const written = new Set()
const counts = {}

function put (target, name, bytes) {
  const b = Buffer.from(bytes)
  if (b.length > MAX) return
  const key = target + createHash('sha256').update(b).digest('hex')
  if (written.has(key)) return
  written.add(key)
  mkdirSync(join(OUT, target), { recursive: true })
  writeFileSync(join(OUT, target, `ic-${name}.bin`), b)
  counts[target] = (counts[target] ?? 0) + 1
}

const varuint = n => { const o = []; while (n > 127) { o.push((n & 127) | 128); n = Math.floor(n / 128) } o.push(n); return o }
const mergeInput = ups => [...varuint(ups.length), ...ups.flatMap(u => [...varuint(u.length), ...u])]
const diffInput = (u, sv) => [...varuint(sv.length), ...sv, ...u]

const T = { root: 'text', kind: 'text' }
const M = { root: 'map', kind: 'map' }
const A = { root: 'array', kind: 'array' }

// Hand-written scenarios: lists of transactions.
const SCENARIOS = {
  text: [
    [{ cmd: 'text_insert', ...T, index: 0, text: 'Hello wörld 😀' }],
    [{ cmd: 'text_delete', ...T, index: 6, len: 5 }, { cmd: 'text_insert', ...T, index: 6, text: 'universe' }],
    [{ cmd: 'text_insert', ...T, index: 0, text: '中文𝄞' }]
  ],
  format: [
    [{ cmd: 'text_insert', ...T, index: 0, text: 'bold and plain' }],
    [{ cmd: 'text_format', ...T, index: 0, len: 4, attrs: { bold: true } }],
    [{ cmd: 'text_insert', ...T, index: 4, text: '!', attrs: { bold: true, color: '#f00' } }],
    [{ cmd: 'text_insert_embed', ...T, index: 2, embed: { image: 'x.png' } }, { cmd: 'text_format', ...T, index: 0, len: 3, attrs: { bold: null } }]
  ],
  map: [
    [{ cmd: 'map_set', ...M, key: 'n', value: 2 ** 40 }, { cmd: 'map_set', ...M, key: 'f', value: 0.1 }],
    [{ cmd: 'map_set', ...M, key: 'obj', value: { a: [1, 'x', null, true], b: { $bin: '0102' }, c: { $bigint: '-9' }, u: { $undef: true } } }],
    [{ cmd: 'map_set', ...M, key: 'bin', value: { $bin: 'deadbeef' } }, { cmd: 'map_delete', ...M, key: 'n' }],
    [{ cmd: 'map_set_type', ...M, key: 'sub', type: 'text' }],
    [{ cmd: 'text_insert', ...M, path: ['sub'], index: 0, text: 'nested' }]
  ],
  array: [
    [{ cmd: 'array_insert', ...A, index: 0, values: [1, 2, 3, 'four', { five: 5 }] }],
    [{ cmd: 'array_insert', ...A, index: 2, values: [{ $bin: 'ff' }, [1, [2]]] }],
    [{ cmd: 'array_delete', ...A, index: 1, len: 3 }],
    [{ cmd: 'array_insert_type', ...A, index: 0, type: 'map' }],
    [{ cmd: 'map_set', ...A, path: [0], key: 'k', value: 'v' }]
  ]
}

/** Random transactions, generated on a Yjs model so they are valid. */
function randomScenario (seed, n) {
  const gen = prng.create(seed)
  const model = new YReplica(1, false)
  const steps = []
  for (let i = 0; i < n; i++) {
    const ops = []
    model.doc.transact(() => {
      for (let k = prng.int32(gen, 1, 3); k > 0; k--) {
        const view = { text: yContent(model.doc, ROOTS[0]), map: yContent(model.doc, ROOTS[1]), array: yContent(model.doc, ROOTS[2]) }
        const op = genOp(gen, view)
        applyYOp(model.doc, op)
        ops.push(op)
      }
    })
    steps.push(ops)
  }
  return steps
}

/** Runs a scenario on one replica; with `interleave`, a peer edits once in
 * between (only for the hand-written scenarios, whose positions allow it).
 * Returns the transaction updates and the whole state along the way. */
async function run (replica, peer, steps, interleave) {
  const updates = []
  const states = []
  for (const [i, ops] of steps.entries()) {
    const u = await replica.txn(ops)
    if (u) { updates.push(u); await peer.apply(u) }
    if (interleave && i === 1) { // the peer edits concurrently once: remote structs, deletes of foreign content
      const pu = await peer.txn([{ cmd: 'map_set', ...M, key: 'peer', value: 'was here' }, { cmd: 'array_insert', ...A, index: 0, values: ['p'] }])
      await replica.apply(pu)
      updates.push(pu)
    }
    states.push({ sv: await replica.sv(), state: await replica.encode() })
  }
  return { updates, states }
}

async function emit (tag, replica, peer, steps, interleave = true) {
  const { updates, states } = await run(replica, peer, steps, interleave)
  const last = states[states.length - 1]
  const mid = states[Math.floor(states.length / 2)]
  put('fuzz_apply_update', `${tag}-txn0`, updates[0])
  put('fuzz_apply_update', `${tag}-txn-last`, updates[updates.length - 1])
  put('fuzz_apply_update', `${tag}-state`, last.state)
  put('fuzz_apply_update', `${tag}-diff-mid`, await replica.encode(mid.sv))
  put('fuzz_merge_updates', `${tag}-txns-reversed`, mergeInput([...updates].reverse()))
  put('fuzz_diff_update', `${tag}-mid`, diffInput(last.state, mid.sv))
}

// Start clean, so files from an older engine or scenario list do not linger.
for (const target of ['fuzz_apply_update', 'fuzz_merge_updates', 'fuzz_diff_update']) {
  const dir = join(OUT, target)
  if (!existsSync(dir)) continue
  for (const f of readdirSync(dir)) if (f.startsWith('ic-')) rmSync(join(dir, f))
}

const driver = new Driver()
try {
  for (const gc of [true, false]) {
    const g = gc ? 'gc' : 'nogc'
    for (const [name, steps] of Object.entries(SCENARIOS)) {
      await emit(`yjs-${name}-${g}`, new YReplica(11, gc), new YReplica(22, gc), steps)
      // C-made: the same scenario, other client ids, and a C peer.
      await emit(`c-${name}-${g}`, await CReplica.create(driver, 33, gc), await CReplica.create(driver, 44, gc), steps)
    }
    await emit(`yjs-random-${g}`, new YReplica(55, gc), new YReplica(66, gc), randomScenario(gc ? 1 : 2, 12), false)
    await emit(`c-random-${g}`, await CReplica.create(driver, 77, gc), await CReplica.create(driver, 88, gc), randomScenario(gc ? 3 : 4, 12), false)
  }
} finally {
  await driver.close()
}
console.log(`gen-fuzz-corpus: wrote ${JSON.stringify(counts)} under ${OUT}`)
