// merge.test.mjs - the merge DESIGN.md promises ("Never lose an edit"):
// "Hello world"; device A inserts "beautiful " at 6; device B replaces
// "world" with "universe"; after exchanging updates both devices read
// "Hello beautiful universe" - with two C devices, and with a C device and a
// Yjs device in either role.
//
// The two inserts land at the same place, so their order is the CRDT's
// tie-break: lower client id first, as in Yjs. Device A has the lower id
// here; a second test swaps the ids and checks C and Yjs still agree.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { withDriver } from './lib/driver.mjs'
import { YReplica, CReplica } from './lib/replica.mjs'

const T = { root: 'text', kind: 'text' }

const make = (driver, engine, client) => engine === 'c' ? CReplica.create(driver, client, false) : new YReplica(client, false)

/** Runs the DESIGN.md scenario; returns what A and B read after the exchange. */
async function scenario (driver, engineA, engineB, clientA, clientB) {
  const a = await make(driver, engineA, clientA)
  const b = await make(driver, engineB, clientB)
  try {
    const base = await a.txn([{ cmd: 'text_insert', ...T, index: 0, text: 'Hello world' }])
    await b.apply(base)
    assert.equal(await b.content(T), 'Hello world', 'B received the base text')
    // Offline, concurrently:
    const ua = await a.txn([{ cmd: 'text_insert', ...T, index: 6, text: 'beautiful ' }])
    const ub = await b.txn([
      { cmd: 'text_delete', ...T, index: 6, len: 5 },
      { cmd: 'text_insert', ...T, index: 6, text: 'universe' }
    ])
    assert.equal(await a.content(T), 'Hello beautiful world')
    assert.equal(await b.content(T), 'Hello universe')
    // Reconnect: each applies the other's update.
    await a.apply(ub)
    await b.apply(ua)
    const ta = await a.content(T)
    const tb = await b.content(T)
    assert.equal(ta, tb, 'A and B converge')
    assert.deepEqual(await a.pending(), { structs: false, deletes: false })
    assert.deepEqual(await b.pending(), { structs: false, deletes: false })
    return ta
  } finally {
    await a.close()
    await b.close()
  }
}

for (const [ea, eb] of [['c', 'c'], ['c', 'yjs'], ['yjs', 'c'], ['yjs', 'yjs']]) {
  test(`DESIGN.md merge: "Hello world" -> "Hello beautiful universe" (A=${ea}, B=${eb})`, async () => {
    await withDriver(async driver => {
      assert.equal(await scenario(driver, ea, eb, 1, 2), 'Hello beautiful universe')
    })
  })
}

test('DESIGN.md merge with the client ids swapped: C and Yjs break the tie the same way', async () => {
  await withDriver(async driver => {
    const expected = await scenario(driver, 'yjs', 'yjs', 2, 1)
    assert.equal(await scenario(driver, 'c', 'c', 2, 1), expected)
    assert.equal(await scenario(driver, 'c', 'yjs', 2, 1), expected)
    assert.equal(await scenario(driver, 'yjs', 'c', 2, 1), expected)
  })
})
