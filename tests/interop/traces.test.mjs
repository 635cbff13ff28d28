// traces.test.mjs - real editing traces (josephg/editing-traces) through both
// engines. The traces are read at run time from $VN_TRACES_DIR, default
// ../shared/traces next to the repository; see FORMAT.md there.
//
// Sequential traces: one transaction per trace transaction on a Y.Text
// "text" with a fixed client id. The C engine replays the file itself (one
// driver command, so the 260k transactions of automerge-paper do not cross
// the pipe); Yjs replays it here. Both must read endContent, and the C
// engine's encoded document and state vector must equal Yjs's byte for byte.
//
// Concurrent trace (friendsforever): one replica per agent, as FORMAT.md
// describes: before each transaction its agent's replica receives exactly
// the transactions of its parents' version it lacks, then makes the edit
// locally. Done once with C replicas and once with Yjs replicas (same client
// ids, same order); every update, the final documents and their encodings
// must agree, and every replica must read endContent after a final sync.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { gunzipSync } from 'node:zlib'
import * as Y from 'yjs'
import { withDriver, assertBytes, repoRoot, unhex } from './lib/driver.mjs'
import { CReplica } from './lib/replica.mjs'

const TRACES = resolve(repoRoot, process.env.VN_TRACES_DIR ?? '../shared/traces')
const T = { root: 'text', kind: 'text' }
const CLIENT = 0x5eed

function load (rel) {
  const path = join(TRACES, rel)
  if (!existsSync(path)) throw new Error(`trace ${path} not found: set VN_TRACES_DIR to the folder holding sequential_traces/ and concurrent_traces/`)
  const trace = JSON.parse(gunzipSync(readFileSync(path)).toString('utf8'))
  // Positions are code points; with no character above U+FFFF they are
  // UTF-16 positions too, which is what both engines take.
  for (const txn of trace.txns) {
    for (const [, , ins] of txn.patches) {
      if (/[\uD800-\uDFFF]/.test(ins)) throw new Error(`${rel}: astral character in a patch, positions would need converting`)
    }
  }
  return { path, trace }
}

/** Equality of long texts, reporting where they first differ. */
function assertText (actual, expected, message) {
  if (actual === expected) return
  let i = 0
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++
  assert.fail(`${message}: lengths ${actual.length} vs ${expected.length}, first difference at ${i}\n` +
    `  actual:   ${JSON.stringify(actual.slice(Math.max(0, i - 20), i + 40))}\n` +
    `  expected: ${JSON.stringify(expected.slice(Math.max(0, i - 20), i + 40))}`)
}

function yjsReplay (trace, gc) {
  const doc = new Y.Doc({ gc })
  doc.clientID = CLIENT
  const text = doc.getText('text')
  for (const txn of trace.txns) {
    doc.transact(() => {
      for (const [pos, del, ins] of txn.patches) {
        if (del) text.delete(pos, del)
        if (ins) text.insert(pos, ins)
      }
    })
  }
  return doc
}

const SEQUENTIAL = [
  'sequential_traces/friendsforever_flat.json.gz',
  'sequential_traces/seph-blog1.json.gz',
  'sequential_traces/automerge-paper.json.gz'
]

for (const rel of SEQUENTIAL) {
  for (const gc of [true, false]) {
    test(`trace ${rel} (gc ${gc ? 'on' : 'off'}): C replay reads endContent and encodes as Yjs does`, t => withDriver(async driver => {
      const { path, trace } = load(rel)
      const c = await CReplica.create(driver, CLIENT, gc)
      try {
        const r = await driver.call('replay', { doc: c.docId, ...T, file: path })
        assert.equal(r.txns, trace.txns.length)
        assertText(await c.content(T), trace.endContent, 'C text after the replay')
        const t0 = Date.now()
        const y = yjsReplay(trace, gc)
        t.diagnostic(`${rel}: C replay ${r.ms} ms, Yjs replay ${Date.now() - t0} ms`)
        assertText(y.getText('text').toString(), trace.endContent, 'Yjs text after the replay')
        assertBytes(await c.sv(), Y.encodeStateVector(y), `${rel}: encodeStateVector`)
        assertBytes(await c.encode(), Y.encodeStateAsUpdate(y), `${rel}: encodeStateAsUpdate`)
        y.destroy()
      } finally {
        await c.close()
      }
    }))
  }
}

/**
 * Replays a concurrent trace with one replica per agent. `engine` supplies
 * replicas whose txn(ops, i) and apply(i) may be asynchronous and pipelined;
 * updates are referred to by transaction index. Returns the replicas.
 */
async function concurrentReplay (trace, engine) {
  const n = trace.numAgents
  const agentTxns = Array.from({ length: n }, () => [])
  const ver = [] // per transaction: per agent, how many of its transactions the version holds
  const replicas = []
  const has = [] // per replica: per agent, how many of its transactions it holds
  for (let a = 0; a < n; a++) {
    replicas.push(await engine.replica(a))
    has.push(new Array(n).fill(0))
  }
  const bring = (a, target) => {
    for (let b = 0; b < n; b++) {
      for (let k = has[a][b]; k < target[b]; k++) replicas[a].apply(agentTxns[b][k])
      has[a][b] = Math.max(has[a][b], target[b])
    }
  }
  for (const [i, txn] of trace.txns.entries()) {
    const a = txn.agent
    const target = new Array(n).fill(0)
    for (const p of txn.parents) for (let b = 0; b < n; b++) target[b] = Math.max(target[b], ver[p][b])
    if (has[a].some((h, b) => h > target[b])) throw new Error(`txn ${i}: agent ${a}'s replica is ahead of the parents' version`)
    if (target[a] !== agentTxns[a].length) throw new Error(`txn ${i}: does not follow agent ${a}'s previous transaction`)
    bring(a, target)
    const ops = []
    for (const [pos, del, ins] of txn.patches) {
      if (del) ops.push({ cmd: 'text_delete', ...T, index: pos, len: del })
      if (ins) ops.push({ cmd: 'text_insert', ...T, index: pos, text: ins })
    }
    replicas[a].txn(ops, i)
    agentTxns[a].push(i)
    target[a]++
    has[a][a] = target[a]
    ver.push(target)
    if (i % 2000 === 1999) await engine.settle()
  }
  const all = agentTxns.map(l => l.length)
  for (let a = 0; a < n; a++) bring(a, all)
  await engine.settle()
  return replicas
}

test('concurrent trace friendsforever: one replica per agent, C and Yjs give endContent and the same state', t => withDriver(async driver => {
  const { trace } = load('concurrent_traces/friendsforever.json.gz')
  const clientOf = a => 1000 + a

  // Yjs: updates kept in an array, everything synchronous.
  const yUpdates = []
  const yjs = {
    async replica (a) {
      const doc = new Y.Doc()
      doc.clientID = clientOf(a)
      doc.getText('text')
      return {
        doc,
        txn (ops, i) {
          let u = null
          const h = upd => { u = upd }
          doc.on('update', h)
          doc.transact(() => {
            for (const op of ops) op.cmd === 'text_delete' ? doc.getText('text').delete(op.index, op.len) : doc.getText('text').insert(op.index, op.text)
          })
          doc.off('update', h)
          yUpdates[i] = u
        },
        apply (i) { Y.applyUpdate(doc, yUpdates[i]) }
      }
    },
    async settle () {}
  }
  let t0 = Date.now()
  const yReplicas = await concurrentReplay(trace, yjs)
  const yMs = Date.now() - t0

  // C: every request is pipelined; updates stay in the driver's blob slots
  // (slot = transaction index) and are fetched for comparison at the end.
  let inflight = []
  const cEngine = {
    async replica (a) {
      const r = await CReplica.create(driver, clientOf(a), true)
      const doc = r.docId
      return {
        r,
        txn (ops, i) {
          inflight.push(driver.call('begin', { doc }))
          for (const op of ops) inflight.push(driver.call(op.cmd, { doc, ...op }))
          inflight.push(driver.call('commit', { doc, keep: i }).then(rep => {
            if (rep.count !== 1) throw new Error(`txn ${i}: the engine emitted ${rep.count} updates`)
          }))
        },
        apply (i) { inflight.push(driver.call('apply', { doc, update: i })) }
      }
    },
    async settle () {
      const batch = inflight
      inflight = []
      await Promise.all(batch)
    }
  }
  t0 = Date.now()
  const cReplicas = await concurrentReplay(trace, cEngine)
  t.diagnostic(`friendsforever: Yjs ${yMs} ms, C (through the driver) ${Date.now() - t0} ms`)

  try {
    for (const [a, y] of yReplicas.entries()) assertText(y.doc.getText('text').toString(), trace.endContent, `Yjs replica ${a}`)
    for (const [a, c] of cReplicas.entries()) {
      assertText(await c.r.content(T), trace.endContent, `C replica ${a}`)
      assert.deepEqual(await c.r.pending(), { structs: false, deletes: false }, `C replica ${a}: nothing pending`)
      assertBytes(await c.r.sv(), Y.encodeStateVector(yReplicas[a].doc), `C replica ${a}: state vector`)
      assertBytes(await c.r.encode(), Y.encodeStateAsUpdate(yReplicas[a].doc), `C replica ${a}: encoded state`)
    }
    // Every transaction's update, byte for byte.
    const takes = trace.txns.map((_, i) => driver.call('take', { slot: i }))
    for (const [i, p] of takes.entries()) {
      assertBytes(unhex((await p).bytes), yUpdates[i], `update of transaction ${i} (agent ${trace.txns[i].agent})`)
    }
  } finally {
    for (const c of cReplicas) await c.r.close()
  }
}))
