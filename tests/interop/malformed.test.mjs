// malformed.test.mjs - damaged real updates: the C engine refuses what Yjs
// cannot read, and a refused update leaves the document exactly as it was
// (DESIGN.md, write path step 2).
//
// Real Yjs updates (text with formatting and astral characters, maps with
// every Any kind, arrays, nested types, deletes) are cut at every length and
// have single bytes flipped. Each damaged update is applied to a C document
// that already holds content. If Yjs throws reading it (applied to a fresh
// Yjs document holding the same content), the C engine must return
// Y_ERR_MALFORMED and keep its state. If Yjs reads it and integrates all of
// it, the C engine must accept it too and read the same content. If Yjs
// reads it but leaves structs pending (a damaged clock or origin that can
// never be satisfied, e.g. an item whose origin is itself), a stricter
// reader may refuse it: the C engine either refuses it, unchanged, or
// accepts it and reads what Yjs reads.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { withDriver, assertBytes, hex } from './lib/driver.mjs'
import { CReplica, ROOTS, YReplica, yContent } from './lib/replica.mjs'

const Y_ERR_MALFORMED = -2
const T = { root: 'text', kind: 'text' }
const M = { root: 'map', kind: 'map' }
const A = { root: 'array', kind: 'array' }

/** A few real updates made by Yjs, applied on top of `base`. */
async function realUpdates () {
  const y = new YReplica(77, true)
  const base = await y.txn([{ cmd: 'text_insert', ...T, index: 0, text: 'base text' }, { cmd: 'map_set', ...M, key: 'k', value: 1 }])
  const updates = {
    text: await y.txn([{ cmd: 'text_insert', ...T, index: 4, text: ' wörld 😀', attrs: { bold: true } }, { cmd: 'text_delete', ...T, index: 0, len: 2 }]),
    map: await y.txn([
      { cmd: 'map_set', ...M, key: 'any', value: { a: [1, 0.5, 2 ** 40, 'x', null, true], b: { $bin: '0102' }, c: { $bigint: '-9' } } },
      { cmd: 'map_set', ...M, key: 'bin', value: { $bin: 'ff00' } }, { cmd: 'map_delete', ...M, key: 'k' }
    ]),
    array: await y.txn([
      { cmd: 'array_insert', ...A, index: 0, values: [1, 'two', { three: 3 }] }, { cmd: 'array_insert_type', ...A, index: 1, type: 'text' }
    ])
  }
  updates.whole = Y.encodeStateAsUpdate(y.doc)
  return { base, updates }
}

/** What Yjs makes of the damaged update: null if it throws, else the content and whether structs wait. */
function yjsReads (base, bytes) {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, base)
  try {
    Y.applyUpdate(doc, bytes)
  } catch {
    return null
  }
  return { content: ROOTS.map(w => yContent(doc, w)), pending: doc.store.pendingStructs !== null || doc.store.pendingDs !== null }
}

test('damaged Yjs updates: refused ones leave the C document unchanged, accepted ones read as in Yjs', () => withDriver(async driver => {
  const { base, updates } = await realUpdates()
  let refused = 0
  let accepted = 0
  for (const [name, u] of Object.entries(updates)) {
    const damaged = []
    for (let len = 0; len < u.length; len++) damaged.push([`${name} cut at ${len}`, u.subarray(0, len)])
    for (let i = 0; i < u.length; i++) {
      for (const x of [0x01, 0x80, 0xff]) {
        const d = new Uint8Array(u)
        d[i] ^= x
        damaged.push([`${name} byte ${i} ^ 0x${x.toString(16)}`, d])
      }
    }
    for (const [what, bytes] of damaged) {
      const expected = yjsReads(base, bytes)
      const repro = `\n  base:    ${hex(base)}\n  damaged: ${hex(bytes)}`
      // Apply to a scratch C document holding the base, so accepted updates don't pile up.
      const s = await CReplica.create(driver, 6, true)
      try {
        await s.apply(base)
        const before = await s.encode()
        const r = await driver.try('apply', { doc: s.docId, update: hex(bytes) })
        const refusedCleanly = async () => {
          assert.equal(r.err, Y_ERR_MALFORMED, `${what}: refused with Y_ERR_MALFORMED (got ${r.err}: ${r.error})${repro}`)
          assertBytes(await s.encode(), before, `${what}: a refused update left the document unchanged${repro}`)
          refused++
        }
        if (expected === null) {
          assert.ok(!r.ok, `${what}: Yjs cannot read this update, but the C engine accepted it${repro}`)
          await refusedCleanly()
        } else if (!r.ok && expected.pending) {
          await refusedCleanly()
        } else {
          assert.ok(r.ok, `${what}: Yjs reads and integrates this update, the C engine refused it: ${r.error}${repro}`)
          assert.deepEqual(await Promise.all(ROOTS.map(w => s.content(w))), expected.content, `${what}: content as Yjs reads it${repro}`)
          accepted++
        }
      } finally {
        await s.close()
      }
    }
  }
  assert.ok(refused > 0 && accepted > 0, `both outcomes exercised (refused ${refused}, accepted ${accepted})`)
}))
