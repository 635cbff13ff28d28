// replica.mjs - one interface over a Yjs document and a C engine document,
// so every interop test can run the same operations on both.
//
// An operation is a plain object in the ydriver protocol (see ydriver.c):
//   { cmd: 'text_insert', root: 'text', kind: 'text', path: [], index, text, attrs }
// Values travel in the "wire" form: JSON with tags for what JSON lacks
// ($bin, $bigint, $undef, $num) and for nested types ($text, $map, $array).
// Both replica kinds answer content(), encode(), sv(), ... with the same
// shapes, so tests compare them with assert.deepStrictEqual / byte equality.
import * as Y from 'yjs'
import { hex, unhex } from './driver.mjs'

/** The roots every test document has. */
export const ROOTS = [
  { root: 'text', kind: 'text' },
  { root: 'map', kind: 'map' },
  { root: 'array', kind: 'array' }
]

// ---- wire values -----------------------------------------------------------

/** Wire form -> the JavaScript value Yjs is given. */
export function fromWire (v) {
  if (Array.isArray(v)) return v.map(fromWire)
  if (v === null || typeof v !== 'object') return v
  const keys = Object.keys(v)
  if (keys.length === 1) {
    if (keys[0] === '$bin') return unhex(v.$bin)
    if (keys[0] === '$bigint') return BigInt(v.$bigint)
    if (keys[0] === '$undef') return undefined
    if (keys[0] === '$num') return Number(v.$num === '-0' ? -0 : v.$num)
  }
  const o = {}
  for (const k of keys) o[k] = fromWire(v[k])
  return o
}

/** A value read from Yjs -> wire form (what ydriver returns for the same content). */
export function toWire (v) {
  if (v instanceof Y.Text) return { $text: v.toString() }
  if (v instanceof Y.Map) return { $map: mapToWire(v) }
  if (v instanceof Y.Array) return { $array: v.toArray().map(toWire) }
  if (v instanceof Y.AbstractType) return { $xml: 'other' }
  if (v instanceof Uint8Array) return { $bin: hex(v) }
  if (typeof v === 'bigint') return { $bigint: v.toString() }
  if (v === undefined) return { $undef: true }
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return { $num: 'NaN' }
    if (v === Infinity) return { $num: 'Infinity' }
    if (v === -Infinity) return { $num: '-Infinity' }
    if (Object.is(v, -0)) return { $num: '-0' }
    return v
  }
  if (Array.isArray(v)) return v.map(toWire)
  if (v !== null && typeof v === 'object') {
    const o = {}
    for (const k of Object.keys(v)) o[k] = toWire(v[k])
    return o
  }
  return v
}

function mapToWire (m) {
  const o = {}
  for (const [k, v] of m.entries()) o[k] = toWire(v)
  return o
}

/** Normalizes one root text change for comparison: formatting attribute
 * values are JSON by definition (Yjs stores them with JSON.stringify), so a
 * JavaScript -0 that Yjs's local event still shows is 0. */
function normChange ({ root, delta, ...rest }) {
  const norm = v => (v && typeof v === 'object' && !Array.isArray(v) && v.$num === '-0' && Object.keys(v).length === 1) ? 0 : v
  return {
    root,
    ...rest,
    delta: delta.map(d => d.attributes
      ? { ...d, attributes: Object.fromEntries(Object.entries(d.attributes).map(([k, v]) => [k, norm(v)])) }
      : d)
  }
}

// ---- Yjs side ----------------------------------------------------------------

export function yType (doc, { root, kind, path = [] }) {
  let t = kind === 'text' ? doc.getText(root) : kind === 'map' ? doc.getMap(root) : doc.getArray(root)
  for (const step of path) {
    t = t.get(step)
    if (!(t instanceof Y.AbstractType)) throw new Error(`path ${JSON.stringify(path)} does not lead to a shared type`)
  }
  return t
}

const newYType = name => name === 'text' ? new Y.Text() : name === 'map' ? new Y.Map() : new Y.Array()

/** Runs one operation on a Yjs document (inside the caller's transaction). */
export function applyYOp (doc, op) {
  const t = yType(doc, op)
  const attrs = op.attrs === undefined ? undefined : fromWire(op.attrs)
  switch (op.cmd) {
    case 'text_insert': return attrs === undefined ? t.insert(op.index, op.text) : t.insert(op.index, op.text, attrs)
    case 'text_insert_embed': return attrs === undefined ? t.insertEmbed(op.index, fromWire(op.embed)) : t.insertEmbed(op.index, fromWire(op.embed), attrs)
    case 'text_delete': return t.delete(op.index, op.len)
    case 'text_format': return t.format(op.index, op.len, attrs)
    case 'map_set': return t.set(op.key, fromWire(op.value))
    case 'map_set_type': return t.set(op.key, newYType(op.type))
    case 'map_delete': return t.delete(op.key)
    case 'array_insert': return t.insert(op.index, op.values.map(fromWire))
    case 'array_insert_type': return t.insert(op.index, [newYType(op.type)])
    case 'array_delete': return t.delete(op.index, op.len)
    default: throw new Error(`unknown op ${op.cmd}`)
  }
}

/** The content of a root (or nested) type in wire form: text as a string,
 * map as an object, array as an array. */
export function yContent (doc, where) {
  const t = yType(doc, where)
  if (t instanceof Y.Text) return t.toString()
  if (t instanceof Y.Map) return mapToWire(t)
  return t.toArray().map(toWire)
}

export class YReplica {
  /** With deltas, an observer reads the root text's YTextEvent.delta after
   * every transaction, as an editor binding does (see lastChanges). Reading
   * it is not free of side effects in Yjs: it deletes redundant formatting
   * markers, in a transaction of its own (a second update). */
  constructor (clientId, gc = true, { deltas = false } = {}) {
    this.engine = 'yjs'
    this.doc = new Y.Doc({ gc })
    this.doc.clientID = clientId
    // Define the roots up front, as an application does: Yjs treats a root
    // it has not been asked for yet as a plain AbstractType, which skips the
    // formatting cleanup Y.Text runs after remote transactions.
    for (const w of ROOTS) yType(this.doc, w)
    this.captured = null
    this.doc.on('update', u => { if (this.captured) this.captured.push(u) })
    this.deltas = deltas
    this.changes = []
    if (deltas) this.doc.getText('text').observe(e => { this.changes.push([{ root: 'text', delta: e.delta.map(toWire) }]) })
  }

  /** The root text deltas of the transactions the last txn() or apply() ran,
   * one array per transaction (transactions that left it alone are omitted). */
  lastChanges () { return this.changes.map(t => t.map(normChange)) }

  /** Runs the operations in one transaction; resolves with its update (null if none). */
  async txn (ops) {
    const caps = []
    this.captured = caps
    this.changes = []
    try {
      this.doc.transact(() => { for (const op of ops) applyYOp(this.doc, op) })
    } finally {
      this.captured = null
    }
    if (caps.length > 1 && !this.deltas) throw new Error(`Yjs emitted ${caps.length} updates for one transaction`)
    return caps.length > 1 ? Y.mergeUpdates(caps) : caps[0] ?? null
  }

  /** Applies an update; resolves with the updates the document emitted
   * while applying it (its 'update' events). */
  async apply (update) {
    this.changes = []
    const caps = []
    this.captured = caps
    try {
      Y.applyUpdate(this.doc, update)
    } finally {
      this.captured = null
    }
    return caps
  }

  async encode (sv) { return sv ? Y.encodeStateAsUpdate(this.doc, sv) : Y.encodeStateAsUpdate(this.doc) }
  async sv () { return Y.encodeStateVector(this.doc) }
  async snapshot () { return Y.encodeSnapshot(Y.snapshot(this.doc)) }
  async content (where) { return yContent(this.doc, where) }
  async pending () {
    return { structs: this.doc.store.pendingStructs !== null, deletes: this.doc.store.pendingDs !== null }
  }

  async close () { this.doc.destroy() }
}

// ---- C side ---------------------------------------------------------------------

export class CReplica {
  /** Use CReplica.create(). */
  constructor (driver, docId, observing) {
    this.engine = 'c'
    this.driver = driver
    this.docId = docId
    this.observing = observing
  }

  /** With changes, the document reports its change observer's text deltas (see lastChanges). */
  static async create (driver, clientId, gc = true, { changes = false } = {}) {
    const r = await driver.call('new', { client: clientId, gc, changes })
    if (r.client !== clientId || r.gc !== gc) throw new Error(`ydoc_new gave client ${r.client} gc ${r.gc}, asked for ${clientId} ${gc}`)
    // Define the roots up front, like YReplica (ydoc_get gives them their kind).
    await Promise.all(ROOTS.map(w => driver.call('len', { doc: r.doc, ...w })))
    return new CReplica(driver, r.doc, changes)
  }

  async txn (ops) {
    const d = this.driver
    const doc = this.docId
    const all = [d.call('begin', { doc })]
    for (const op of ops) all.push(d.call(op.cmd, { doc, ...op }))
    const commit = d.call('commit', { doc })
    try {
      await Promise.all(all)
    } catch (e) {
      await commit.catch(() => {})
      throw e
    }
    const r = await commit
    // With observers, a second update may follow, as in Yjs (see YReplica).
    if (r.count > 1 && !this.observing) throw new Error(`the engine emitted ${r.count} updates for one transaction`)
    this.changes = r.changes
    return r.update === null ? null : unhex(r.update)
  }

  async apply (update) {
    const r = await this.driver.call('apply', { doc: this.docId, update: hex(update) })
    this.changes = r.changes
    return r.updates.map(unhex)
  }

  /** Like YReplica.lastChanges; only for a document created with changes. */
  lastChanges () { return (this.changes ?? []).filter(t => t.length > 0).map(t => t.map(normChange)) }

  async encode (sv) {
    const args = { doc: this.docId }
    if (sv) args.sv = hex(sv)
    return unhex((await this.driver.call('encode', args)).update)
  }

  async sv () { return unhex((await this.driver.call('sv', { doc: this.docId })).sv) }
  async snapshot () { return unhex((await this.driver.call('snapshot', { doc: this.docId })).snapshot) }
  async content (where) { return (await this.driver.call('get', { doc: this.docId, ...where })).value }
  async pending () {
    const r = await this.driver.call('pending', { doc: this.docId })
    return { structs: r.structs !== 0, deletes: r.deletes }
  }

  async close () { await this.driver.call('free', { doc: this.docId }) }
}
