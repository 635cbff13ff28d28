// converge.test.mjs - convergence fuzz, C and Yjs replicas mixed, in the
// style of Yjs's own random tests (yjs/tests/testHelper.js).
//
// Per seed: 6 replicas (at least two of each engine, order shuffled), all gc
// on or all gc off. Each iteration edits one random replica (random text, map
// and array operations, nested types, formatting) and, as testHelper does,
// sometimes delivers a message, flushes everything, or disconnects or
// reconnects a replica. On top of that the network reorders messages,
// duplicates them, drops them, and now and then two replicas re-sync by
// state vector (y-protocols sync step 1 / step 2), which re-sends what was
// dropped. A replica that connects syncs with every online replica the same
// way.
//
// Each seed reports two subtests:
//  1. Convergence. At the end every replica reconnects and all messages are
//     flushed (repeated while Y.Text formatting cleanup still changes
//     something); then every replica has the same content, state vector and
//     delete set, nothing pending, Yjs loading any replica's state reads the
//     same content, and the C engine's merge of all updates a C replica saw
//     reads as the converged document. (Converged replicas need not encode
//     the same bytes: Yjs replicas split items differently by history.)
//  2. Byte equality. Every C replica has a Yjs shadow with the same client
//     id that makes the same edits and receives the same messages in the
//     same order: each update the C replica emits (for its own edits and
//     while applying others'), its state vector and pending flags after
//     each apply, each sync step 2 it answers and its final encoded state
//     equal the shadow's byte for byte;
//     the C engine's mergeUpdates / diffUpdate of all updates each C replica
//     saw equal Yjs's.
//
// Seeds are printed in the test names; VN_SEED=<n> replays one seed,
// VN_CONVERGE_SEEDS / VN_CONVERGE_ITERATIONS change the amount of work.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import * as prng from 'lib0/prng'
import { withDriver, assertBytes, hex } from './lib/driver.mjs'
import { YReplica, CReplica, yContent } from './lib/replica.mjs'
import { ROOTS, genOp, seedsFor, viewOf } from './lib/random-ops.mjs'

const REPLICAS = 6
const ITERATIONS = Number(process.env.VN_CONVERGE_ITERATIONS ?? 400)
const SEEDS = Number(process.env.VN_CONVERGE_SEEDS ?? 16)

class Peer {
  constructor (id, replica, shadow) {
    this.id = id
    this.r = replica
    this.shadow = shadow // for a C replica: a Yjs replica fed the same input
    this.online = true
    this.inbox = new Map() // sender Peer -> [message]
    this.seen = [] // every update this peer made or applied, for the merge check
  }
}

class Network {
  constructor (gen, peers) {
    this.gen = gen
    this.peers = peers
    this.stats = { edits: 0, delivered: 0, dropped: 0, duplicated: 0, reordered: 0, resyncs: 0, reconnects: 0 }
    this.mismatches = new Map() // kind -> first difference
    this.shadowErrors = 0
  }

  send (to, from, msg) {
    if (!to.online) return
    if (!to.inbox.has(from)) to.inbox.set(from, [])
    to.inbox.get(from).push(msg)
  }

  broadcast (from, msg) {
    if (!from.online) return
    for (const p of this.peers) if (p !== from) this.send(p, from, msg)
  }

  /** Sync step 1 both ways between two online peers. */
  async handshake (a, b) {
    this.send(b, a, { type: 'step1', sv: await a.r.sv() })
    this.send(a, b, { type: 'step1', sv: await b.r.sv() })
  }

  async connect (p) {
    if (p.online) return false
    p.online = true
    this.stats.reconnects++
    for (const q of this.peers) if (q !== p && q.online) await this.handshake(p, q)
    return true
  }

  disconnect (p) {
    p.online = false
    p.inbox = new Map() // what was in flight to it is lost
  }

  async edit (p) {
    const n = prng.int32(this.gen, 1, 100) <= 80 ? 1 : prng.int32(this.gen, 2, 4)
    // Ops of one transaction are generated from the view before it; later
    // ops of the same transaction are restricted to ones the first cannot
    // invalidate (map and array inserts at index 0, map sets).
    const view = await viewOf(p.r)
    const ops = [genOp(this.gen, view)]
    for (let i = 1; i < n; i++) {
      ops.push(prng.bool(this.gen)
        ? { cmd: 'map_set', ...ROOTS[1], key: `t${i}`, value: i }
        : { cmd: 'array_insert', ...ROOTS[2], index: 0, values: [`txn-op-${i}`] })
    }
    const u = await p.r.txn(ops)
    this.stats.edits += ops.length
    if (p.shadow) {
      this.checkShadow('update', u, await p.shadow.txn(ops), `${this.label(p)}: update of the transaction ${JSON.stringify(ops)} differs from Yjs`)
    }
    if (u) {
      p.seen.push(u)
      this.broadcast(p, { type: 'update', bytes: u })
    }
  }

  /** Delivers one message to a random online peer; returns false if none is waiting.
   * With `chaos`, the message may be dropped, duplicated or taken out of order. */
  async deliver (chaos) {
    const gen = this.gen
    const receivers = this.peers.filter(p => p.online && p.inbox.size > 0)
    if (receivers.length === 0) return false
    const to = prng.oneOf(gen, receivers)
    const [from, queue] = prng.oneOf(gen, [...to.inbox])
    let idx = 0
    if (chaos && queue.length > 1 && prng.int32(gen, 0, 9) === 0) {
      idx = prng.int32(gen, 1, queue.length - 1)
      this.stats.reordered++
    }
    const [msg] = queue.splice(idx, 1)
    if (chaos && prng.int32(gen, 0, 19) === 0 && msg.type === 'update') {
      this.stats.dropped++
    } else {
      if (chaos && prng.int32(gen, 0, 19) === 0) {
        queue.push(msg) // it will arrive again later
        this.stats.duplicated++
      }
      await this.receive(to, from, msg)
    }
    if (queue.length === 0 && to.inbox.get(from) === queue) to.inbox.delete(from)
    return true
  }

  async receive (to, from, msg) {
    this.stats.delivered++
    if (msg.type === 'step1') {
      const diff = await to.r.encode(msg.sv)
      if (to.shadow) this.checkShadow('sync step 2', diff, await to.shadow.encode(msg.sv), `${this.label(to)}: sync step 2 for state vector ${hex(msg.sv)} differs from Yjs`)
      this.send(from, to, { type: 'update', bytes: diff })
    } else {
      const emitted = await to.r.apply(msg.bytes)
      if (to.shadow) {
        const expected = await to.shadow.apply(msg.bytes)
        this.checkShadow('update emitted on apply', Buffer.concat(emitted.map(e => Buffer.concat([Buffer.from([e.length & 0xff, e.length >> 8 & 0xff, e.length >> 16 & 0xff]), e]))),
          Buffer.concat(expected.map(e => Buffer.concat([Buffer.from([e.length & 0xff, e.length >> 8 & 0xff, e.length >> 16 & 0xff]), e]))),
          `${this.label(to)}: the updates emitted while applying ${hex(msg.bytes).slice(0, 64)}... differ from Yjs (each prefixed with a 3-byte length)`)
        this.checkShadow('state after apply', Buffer.concat([await to.r.sv(), Buffer.from(JSON.stringify(await to.r.pending()))]),
          Buffer.concat([await to.shadow.sv(), Buffer.from(JSON.stringify(await to.shadow.pending()))]),
          `${this.label(to)}: state vector + pending flags after applying ${hex(msg.bytes).length / 2} bytes (${hex(msg.bytes).slice(0, 600)}) differ from Yjs`)
      }
      to.seen.push(msg.bytes)
    }
  }

  label (p) { return `seed ${this.seed}, replica ${p.id} (${p.r.engine})` }

  /** Byte equality with Yjs, recorded rather than thrown so the run goes on
   * and convergence is judged too. Once a replica and its shadow differ,
   * later differences usually follow from the first, so only the first of
   * each kind is kept. */
  checkShadow (kind, actual, expected, message) {
    try {
      assertBytes(actual, expected, message)
    } catch (e) {
      this.shadowErrors++
      if (!this.mismatches.has(kind)) this.mismatches.set(kind, e.message)
    }
  }

  async flushAll () {
    while (await this.deliver(false)) {}
  }
}

async function runSeed (driver, seed) {
  const gen = prng.create(seed)
  const gc = prng.bool(gen)
  const kinds = ['c', 'c', 'yjs', 'yjs']
  while (kinds.length < REPLICAS) kinds.push(prng.bool(gen) ? 'c' : 'yjs')
  for (let i = kinds.length - 1; i > 0; i--) { // shuffle
    const j = prng.int32(gen, 0, i)
    ;[kinds[i], kinds[j]] = [kinds[j], kinds[i]]
  }
  const peers = []
  for (let i = 0; i < REPLICAS; i++) {
    const client = 100 + i * 7 + prng.int32(gen, 0, 6) // distinct, random order
    peers.push(kinds[i] === 'c'
      ? new Peer(i, await CReplica.create(driver, client, gc), new YReplica(client, gc))
      : new Peer(i, new YReplica(client, gc)))
  }
  const net = new Network(gen, peers)
  net.seed = seed
  try {
    for (let it = 0; it < ITERATIONS; it++) {
      const roll = prng.int32(gen, 0, 100)
      if (roll <= 2) {
        if (prng.bool(gen)) {
          const online = peers.filter(p => p.online)
          if (online.length) net.disconnect(prng.oneOf(gen, online))
        } else {
          const offline = peers.filter(p => !p.online)
          if (offline.length) await net.connect(prng.oneOf(gen, offline))
        }
      } else if (roll <= 3) {
        await net.flushAll()
      } else if (roll <= 6) {
        const online = peers.filter(p => p.online)
        if (online.length >= 2) {
          const a = prng.oneOf(gen, online)
          const b = prng.oneOf(gen, online.filter(p => p !== a))
          await net.handshake(a, b)
          net.stats.resyncs++
        }
      }
      for (let k = prng.int32(gen, 0, 2); k > 0; k--) await net.deliver(true)
      await net.edit(prng.oneOf(gen, peers))
    }
    // Everyone reconnects and syncs with everyone: what was dropped is re-sent.
    // Applying remote formatting can make Y.Text delete redundant format
    // markers locally (after the replica answered sync step 2), so repeat the
    // full sync until no replica's snapshot changes.
    for (let round = 0, before = null; round < 5; round++) {
      for (const p of peers) net.disconnect(p)
      for (const p of peers) await net.connect(p)
      await net.flushAll()
      const now = (await Promise.all(peers.map(p => loadedSnapshot(p)))).join()
      if (now === before) break
      before = now
    }
    for (const [i, p] of peers.entries()) {
      if (p.shadow) net.checkShadow('final state', await p.r.encode(), await p.shadow.encode(), `seed ${seed}, replica ${i} (c): final encoded state differs from its Yjs shadow`)
    }
    await mergeBytes(driver, peers, net, seed)
    let converged = null
    try {
      await compareAll(driver, peers, gc, seed)
    } catch (e) {
      converged = e
    }
    return { stats: net.stats, converged, mismatches: net.mismatches, shadowErrors: net.shadowErrors }
  } finally {
    for (const p of peers) {
      await p.r.close()
      if (p.shadow) await p.shadow.close()
    }
  }
}

/** The snapshot (state vector and delete set) of a replica's state, read by Yjs. */
async function loadedSnapshot (p) {
  const y = new Y.Doc({ gc: false })
  Y.applyUpdate(y, await p.r.encode())
  const s = hex(Y.encodeSnapshot(Y.snapshot(y)))
  y.destroy()
  return s
}

async function compareAll (driver, peers, gc, seed) {
  const label = i => `seed ${seed} (gc ${gc ? 'on' : 'off'}), replica ${i} (${peers[i].r.engine})`
  const contents = []
  for (const [i, p] of peers.entries()) {
    assert.deepEqual(await p.r.pending(), { structs: false, deletes: false }, `${label(i)}: nothing pending`)
    contents.push(await Promise.all(ROOTS.map(w => p.r.content(w))))
  }
  const sv0 = await peers[0].r.sv()
  for (let i = 1; i < peers.length; i++) {
    assert.deepEqual(contents[i], contents[0], `${label(i)}: same content as replica 0 (${peers[0].r.engine})`)
    assertBytes(await peers[i].r.sv(), sv0, `${label(i)}: same state vector as replica 0`)
  }
  // Yjs reads every replica's state as the same document.
  const snaps = []
  for (const [i, p] of peers.entries()) {
    const y = new Y.Doc({ gc: false })
    Y.applyUpdate(y, await p.r.encode())
    assert.deepEqual(ROOTS.map(w => yContent(y, w)), contents[0], `${label(i)}: Yjs loading its state reads the same content`)
    snaps.push(hex(Y.encodeSnapshot(Y.snapshot(y))))
    y.destroy()
  }
  for (let i = 1; i < snaps.length; i++) assert.equal(snaps[i], snaps[0], `${label(i)}: same delete set and state vector as replica 0`)
  // Everything one C replica saw, merged by the C engine, reads as the
  // converged document in Yjs. (Byte equality with Yjs's mergeUpdates and
  // diffUpdate is checked with the shadows, see mergeBytes.)
  const c = peers.find(p => p.r.engine === 'c')
  const cm = await driver.call('merge', { updates: c.seen.map(hex) })
  const y = new Y.Doc({ gc: false })
  Y.applyUpdate(y, Buffer.from(cm.update, 'hex'))
  assert.deepEqual(ROOTS.map(w => yContent(y, w)), contents[0], `seed ${seed}: the C engine's merge of the ${c.seen.length} updates replica ${c.id} saw reads as the converged document`)
  assert.equal(hex(Y.encodeSnapshot(Y.snapshot(y))), snaps[0], `seed ${seed}: the C engine's merge has the converged state vector and delete set`)
  y.destroy()
}

/** What an update means once loaded: content, state vector and delete set. */
function meaning (update) {
  const y = new Y.Doc({ gc: false })
  Y.applyUpdate(y, update)
  const m = JSON.stringify(ROOTS.map(w => yContent(y, w))) + hex(Y.encodeSnapshot(Y.snapshot(y)))
  y.destroy()
  return m
}

/** mergeUpdates / diffUpdate of everything each C replica saw, against
 * Yjs's (recorded like the shadow differences).
 *
 * mergeUpdates is compared by meaning, not bytes: when several inputs carry
 * the same struct id in different forms (a GC struct, a live item, a deleted
 * item), Yjs keeps whichever its sort leaves first, and its comparator
 * answers -1 both ways for GC against Item, so its choice follows the call
 * order of V8's Array.prototype.sort rather than a rule the format defines.
 * The merged update must decode to the same document; the bytes of the
 * engine's own encodings (updates, state, sync step 2, diffUpdate) are still
 * compared exactly. */
async function mergeBytes (driver, peers, net, seed) {
  for (const c of peers.filter(p => p.r.engine === 'c')) {
    const merged = Y.mergeUpdates(c.seen)
    const cm = await driver.call('merge', { updates: c.seen.map(hex) })
    const cmerged = Buffer.from(cm.update, 'hex')
    const sameMeaning = Buffer.compare(cmerged, Buffer.from(merged)) === 0 || meaning(cmerged) === meaning(merged)
    net.checkShadow('mergeUpdates', sameMeaning ? merged : cmerged, merged, `seed ${seed}: mergeUpdates of the ${c.seen.length} updates replica ${c.id} saw means another document than Yjs's merge`)
    const sv = Y.encodeStateVectorFromUpdate(c.seen[Math.floor(c.seen.length / 2)] ?? new Uint8Array([0, 0]))
    const cd = await driver.call('diff', { update: hex(merged), sv: hex(sv) })
    net.checkShadow('diffUpdate', Buffer.from(cd.update, 'hex'), Y.diffUpdate(merged, sv), `seed ${seed}: diffUpdate of the merged update against ${hex(sv)} differs from Yjs`)
  }
}

const seeds = seedsFor(SEEDS)
for (const seed of seeds) {
  test(`convergence fuzz, 6 replicas C+Yjs, seed ${seed} (VN_SEED=${seed} to replay)`, async t => {
    const run = await withDriver(driver => runSeed(driver, seed))
    t.diagnostic(`seed ${seed}: ${JSON.stringify(run.stats)}`)
    await t.test('all replicas converge: same content, state vector and delete set, nothing pending; Yjs reads each the same', () => {
      if (run.converged) throw run.converged
    })
    await t.test('every C update and sync step 2 equals its Yjs shadow byte for byte, diff equals Yjs\'s, merge means the same document', () => {
      assert.equal(run.shadowErrors, 0, `${run.shadowErrors} difference(s) from Yjs; the first of each kind:\n` +
        [...run.mismatches].map(([kind, m]) => `[${kind}] ${m}`).join('\n'))
    })
  })
}
