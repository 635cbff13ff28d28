// yjs_bench.mjs - the Yjs side of `make bench-crdt` (bench/crdt.sh).
//
//   node bench/crdt/yjs_bench.mjs TRACE.bin ENCODED.out
//
// One measured run on the compact trace that `crdt_bench convert` wrote (its
// format is described in crdt_bench.c), doing exactly what `crdt_bench run`
// does with the same client ids and gc on (the Yjs default):
//   replay  sequential: one doc.transact per trace transaction on Y.Text
//           "text", client 0x5eed, an 'update' listener receiving each
//           transaction's update. Concurrent: one replica per agent (client
//           1000 + agent); before each transaction its agent's replica
//           applies the updates of its parents' version it lacks, then makes
//           the edit; every local update is kept.
//   merge   concurrent only: a fresh Y.Doc (client 999) applies every kept
//           update in trace order.
//   encode  Y.encodeStateAsUpdate (v1) of the final document; written to
//           ENCODED.out so the script can compare it with the C engine's.
//   load    Y.applyUpdate of that update into a fresh Y.Doc.
// Results are checked against endContent outside the timed parts; one JSON
// line goes to stdout. Peak memory is measured from outside.
import { readFileSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import * as Y from 'yjs'

const SEQ_CLIENT = 0x5eed
const AGENT_CLIENT = 1000
const MERGE_CLIENT = 999

function fail (msg) {
  process.stderr.write(`yjs_bench: ${msg}\n`)
  process.exit(1)
}

function loadTrace (path) {
  const buf = readFileSync(path)
  let off = 0
  const u32 = () => { const v = buf.readUInt32LE(off); off += 4; return v }
  const str = n => { const s = buf.toString('utf8', off, off + n); off += n; return s }
  if (buf.toString('latin1', 0, 4) !== 'VNTR') fail(`${path}: not a trace file`)
  off = 4
  if (u32() !== 1) fail(`${path}: unknown version`)
  const concurrent = u32() === 1
  const agents = u32()
  const ntxns = u32()
  const endContent = str(u32())
  const txns = new Array(ntxns)
  for (let i = 0; i < ntxns; i++) {
    const agent = u32()
    const parents = []
    for (let k = u32(); k > 0; k--) parents.push(u32())
    const patches = []
    for (let k = u32(); k > 0; k--) {
      const pos = u32()
      const del = u32()
      patches.push([pos, del, str(u32())])
    }
    txns[i] = { agent, parents, patches }
  }
  return { concurrent, agents, txns, endContent }
}

function newDoc (client) {
  const doc = new Y.Doc({ gc: true })
  doc.clientID = client
  return doc
}

function edit (doc, text, patches) {
  doc.transact(() => {
    for (const [pos, del, ins] of patches) {
      if (del) text.delete(pos, del)
      if (ins) text.insert(pos, ins)
    }
  })
}

// VN_BENCH_UPDATES_HASH=1 (a check, not a measurement: it slows the replay)
// adds "update_hash": FNV-1a (32 bits) over every update's length (4 bytes,
// little-endian) and bytes, in order; crdt_bench computes the same.
const HASH = process.env.VN_BENCH_UPDATES_HASH === '1'
const sink = { updates: 0, bytes: 0, keep: false, kept: null, hash: 0x811c9dc5 }
function hashByte (h, b) { return Math.imul(h ^ b, 0x01000193) >>> 0 }
function onUpdate (update) {
  sink.updates++
  sink.bytes += update.length
  if (HASH) {
    let h = sink.hash
    for (let k = 0; k < 4; k++) h = hashByte(h, (update.length >>> (8 * k)) & 0xff)
    for (const b of update) h = hashByte(h, b)
    sink.hash = h
  }
  if (sink.keep) {
    sink.kept = update
    sink.keep = false
  }
}

function replayConcurrent (trace) {
  const n = trace.agents
  const ntxns = trace.txns.length
  const upd = new Array(ntxns)
  const ver = new Array(ntxns)
  const has = Array.from({ length: n }, () => new Array(n).fill(0))
  const agentTxns = Array.from({ length: n }, () => [])
  for (const [i, txn] of trace.txns.entries()) agentTxns[txn.agent].push(i)
  const agentLen = new Array(n).fill(0)
  const rep = []
  const text = []
  for (let a = 0; a < n; a++) {
    rep.push(newDoc(AGENT_CLIENT + a))
    text.push(rep[a].getText('text'))
    rep[a].on('update', onUpdate)
  }
  for (let i = 0; i < ntxns; i++) {
    const x = trace.txns[i]
    const a = x.agent
    const target = new Array(n).fill(0)
    for (const p of x.parents) for (let b = 0; b < n; b++) if (ver[p][b] > target[b]) target[b] = ver[p][b]
    if (target[a] !== agentLen[a]) fail(`txn ${i}: does not follow its agent's previous one`)
    for (let b = 0; b < n; b++) {
      if (has[a][b] > target[b]) fail(`txn ${i}: replica ahead of the parents' version`)
      for (; has[a][b] < target[b]; has[a][b]++) Y.applyUpdate(rep[a], upd[agentTxns[b][has[a][b]]])
    }
    sink.keep = true
    edit(rep[a], text[a], x.patches)
    if (sink.keep) fail(`txn ${i}: no update`)
    upd[i] = sink.kept
    agentLen[a]++
    target[a]++
    has[a][a] = target[a]
    ver[i] = target
  }
  for (const d of rep) d.destroy()
  return upd
}

function checkText (doc, trace, what) {
  if (doc.getText('text').toString() !== trace.endContent) fail(`${what}: the text is not endContent`)
}

const [path, outPath] = process.argv.slice(2)
if (!path || !outPath) fail('usage: node yjs_bench.mjs TRACE.bin ENCODED.out')
const trace = loadTrace(path)
let doc
let replayMs
let mergeMs = null
let t0
if (!trace.concurrent) {
  doc = newDoc(SEQ_CLIENT)
  const text = doc.getText('text')
  doc.on('update', onUpdate)
  t0 = performance.now()
  for (const txn of trace.txns) edit(doc, text, txn.patches)
  replayMs = performance.now() - t0
  if (sink.updates !== trace.txns.length) fail(`${sink.updates} updates for ${trace.txns.length} transactions`)
} else {
  t0 = performance.now()
  const upd = replayConcurrent(trace)
  replayMs = performance.now() - t0
  doc = newDoc(MERGE_CLIENT)
  t0 = performance.now()
  for (const u of upd) Y.applyUpdate(doc, u)
  mergeMs = performance.now() - t0
  if (doc.store.pendingStructs || doc.store.pendingDs) fail('merge: still pending')
}
checkText(doc, trace, trace.concurrent ? 'merge' : 'replay')

t0 = performance.now()
const enc = Y.encodeStateAsUpdate(doc)
const encodeMs = performance.now() - t0
doc.destroy()

const loaded = newDoc(SEQ_CLIENT + 1)
t0 = performance.now()
Y.applyUpdate(loaded, enc)
const loadMs = performance.now() - t0
checkText(loaded, trace, 'load')
loaded.destroy()

writeFileSync(outPath, enc)
const r3 = x => Math.round(x * 1000) / 1000
process.stdout.write(JSON.stringify({
  replay_ms: r3(replayMs),
  encode_ms: r3(encodeMs),
  load_ms: r3(loadMs),
  merge_ms: mergeMs === null ? null : r3(mergeMs),
  bytes: enc.length,
  updates: sink.updates,
  update_bytes: sink.bytes,
  ...(HASH ? { update_hash: sink.hash } : {})
}) + '\n')
