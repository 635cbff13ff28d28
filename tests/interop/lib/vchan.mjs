// vchan.mjs - a small vault channel client for tests (GET /api/v1/vaults/{vault}/sync,
// docs/sync.md "The vault channel"), written from the spec with `ws`, `yjs` and lib0's
// encoding, independent of the server's C code.
//
// - encode*/decode: the messages, byte for byte.
// - openChannel(): a raw connection with an inbox to await messages from.
// - VaultClient: the client algorithm of the spec: Y.Docs per document (the index document
//   and notes), a pending list of unacknowledged updates kept across connections, HELLO with
//   the last seq seen, STEP1 for every CHANGED document, STEP2 applied, pending updates sent,
//   pushes applied, `since` advanced by pushes and ACKs.
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { until } from './vaultd.mjs'

export const T = { HELLO: 0, CHANGED: 1, STEP1: 2, STEP2: 3, UPDATE: 4, PUSH: 5, ACK: 6, ERROR: 7 }
export const E = { READ_ONLY: 1, NO_DOC: 2, MISSING: 3, BAD_INDEX: 4, SERVER: 5 }

function msg (fn) {
  const e = encoding.createEncoder()
  fn(e)
  return encoding.toUint8Array(e)
}

export const encodeHello = since => msg(e => { encoding.writeVarUint(e, T.HELLO); encoding.writeVarUint(e, since) })
export const encodeStep1 = (doc, sv) => msg(e => {
  encoding.writeVarUint(e, T.STEP1); encoding.writeVarString(e, doc); encoding.writeVarUint8Array(e, sv)
})
export const encodeUpdate = (doc, ref, update) => msg(e => {
  encoding.writeVarUint(e, T.UPDATE); encoding.writeVarString(e, doc)
  encoding.writeVarUint(e, ref); encoding.writeVarUint8Array(e, update)
})

/** Decodes a server message into a plain object; throws on anything malformed. */
export function decode (bytes) {
  const d = decoding.createDecoder(bytes)
  const type = decoding.readVarUint(d)
  let m
  switch (type) {
    case T.CHANGED: {
      const seq = decoding.readVarUint(d)
      const n = decoding.readVarUint(d)
      const docs = []
      for (let i = 0; i < n; i++) docs.push({ doc: decoding.readVarString(d), seq: decoding.readVarUint(d) })
      m = { type: 'changed', seq, docs }
      break
    }
    case T.STEP2: m = { type: 'step2', doc: decoding.readVarString(d), update: decoding.readVarUint8Array(d) }; break
    case T.PUSH: m = { type: 'update', doc: decoding.readVarString(d), seq: decoding.readVarUint(d), update: decoding.readVarUint8Array(d) }; break
    case T.ACK: m = { type: 'ack', ref: decoding.readVarUint(d), seq: decoding.readVarUint(d) }; break
    case T.ERROR: m = { type: 'error', ref: decoding.readVarUint(d), code: decoding.readVarUint(d), doc: decoding.readVarString(d), reason: decoding.readVarString(d) }; break
    default: throw new Error(`unknown server message type ${type}`)
  }
  assert.equal(d.pos, bytes.length, 'trailing bytes in a server message')
  return m
}

/** Opens the vault channel; resolves with the socket once open, or rejects with the HTTP status. */
export function openChannel (server, vault, token, headers = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers }
    if (token) h.authorization = `Bearer ${token}`
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api/v1/vaults/${vault}/sync`, { headers: h })
    ws.binaryType = 'nodebuffer'
    ws.inbox = [] // decoded messages, in arrival order
    ws.waiters = []
    ws.on('message', (data, isBinary) => {
      const m = isBinary ? decode(new Uint8Array(data)) : { type: 'text' }
      ws.inbox.push(m)
      for (const w of ws.waiters.slice()) w()
    })
    ws.closed = new Promise(resolve => ws.on('close', (code, reason) => {
      ws.closeCode = code
      resolve({ code, reason: String(reason) })
      for (const w of ws.waiters.slice()) w()
    }))
    ws.on('open', () => resolve(ws))
    ws.on('unexpected-response', (req, res) => {
      let body = ''
      res.on('data', d => { body += d })
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })))
    })
    ws.on('error', reject)
    /** Resolves with the first message in the inbox (from index `from` on) that `pred` accepts. */
    ws.next = (pred, what = 'a message', ms = 20000) => new Promise((resolve, reject) => {
      const check = () => {
        const i = ws.inbox.findIndex(pred)
        if (i >= 0) {
          ws.waiters = ws.waiters.filter(w => w !== check)
          clearTimeout(timer)
          resolve(ws.inbox.splice(i, 1)[0])
        } else if (ws.closeCode !== undefined) {
          ws.waiters = ws.waiters.filter(w => w !== check)
          clearTimeout(timer)
          reject(new Error(`connection closed (${ws.closeCode}) while waiting for ${what}`))
        }
      }
      const timer = setTimeout(() => {
        ws.waiters = ws.waiters.filter(w => w !== check)
        reject(new Error(`timed out waiting for ${what}`))
      }, ms)
      ws.waiters.push(check)
      check()
    })
  })
}

/** A native client of one vault, following the spec's client algorithm. */
export class VaultClient {
  constructor (server, vault, token) {
    this.server = server
    this.vault = vault
    this.token = token
    this.docs = new Map() // doc id -> Y.Doc
    this.pending = [] // { ref, doc, update } not yet acknowledged
    this.nextRef = 1
    this.since = 0
    this.seqs = [] // every seq seen on an UPDATE or ACK, in arrival order
    this.errors = []
    this.ws = null
  }

  doc (id) {
    let d = this.docs.get(id)
    if (!d) {
      d = new Y.Doc({ gc: false })
      d.on('update', (update, origin) => {
        if (origin === 'remote') return
        const p = { ref: this.nextRef++, doc: id, update }
        this.pending.push(p)
        if (this.ws && this.ready) this.ws.send(encodeUpdate(id, p.ref, update))
      })
      this.docs.set(id, d)
    }
    return d
  }

  get index () { return this.doc(this.vault) }
  files () { return this.index.getMap('files') }
  text (note) { return this.doc(note).getText('content').toString() }

  /** Creates a note (offline or not): an index entry and its content. Returns its id. */
  createNote (path, content = '') {
    const id = Array.from({ length: 32 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('')
    this.index.transact(() => {
      const m = new Y.Map()
      this.files().set(id, m)
      m.set('path', path)
      m.set('kind', 'note')
      m.set('created', Date.now())
    })
    if (content) this.doc(id).getText('content').insert(0, content)
    return id
  }

  /** Connects and runs the whole sync round; resolves once every CHANGED doc is synced and
   * every pending update was sent. Returns the CHANGED message. */
  async connect () {
    this.ready = false
    const ws = await openChannel(this.server, this.vault, this.token)
    this.ws = ws
    ws.on('message', () => this.#pump())
    ws.send(encodeHello(this.since))
    const changed = await ws.next(m => m.type === 'changed', 'CHANGED')
    this.changed = changed
    for (const { doc } of changed.docs) {
      const sv = this.docs.has(doc) ? Y.encodeStateVector(this.doc(doc)) : new Uint8Array([0])
      ws.send(encodeStep1(doc, sv))
    }
    const want = new Set(changed.docs.map(c => c.doc))
    while (want.size > 0) {
      const m = await ws.next(m => m.type === 'step2' && want.has(m.doc), 'STEP2')
      Y.applyUpdate(this.doc(m.doc), m.update, 'remote')
      want.delete(m.doc)
    }
    this.since = Math.max(this.since, changed.seq)
    this.ready = true
    for (const p of this.pending) ws.send(encodeUpdate(p.doc, p.ref, p.update))
    this.#pump()
    return changed
  }

  // Applies pushes, drops acknowledged updates, records errors (after the sync round).
  #pump () {
    const ws = this.ws
    if (!ws || !this.ready) return
    for (let i = 0; i < ws.inbox.length;) {
      const m = ws.inbox[i]
      if (m.type === 'update') {
        Y.applyUpdate(this.doc(m.doc), m.update, 'remote')
        this.seqs.push(m.seq)
        this.since = Math.max(this.since, m.seq)
      } else if (m.type === 'ack') {
        this.pending = this.pending.filter(p => p.ref !== m.ref)
        if (m.seq > 0) {
          this.seqs.push(m.seq)
          this.since = Math.max(this.since, m.seq)
        }
        this.acks = (this.acks ?? 0) + 1
      } else if (m.type === 'error') {
        this.errors.push(m)
      } else if (m.type === 'step2') {
        Y.applyUpdate(this.doc(m.doc), m.update, 'remote')
      } else {
        i++
        continue
      }
      ws.inbox.splice(i, 1)
    }
  }

  /** Resolves once every local update is acknowledged. */
  async settled (ms = 20000) {
    await until(() => { this.#pump(); return this.pending.length === 0 }, 'every update to be acknowledged', ms)
  }

  disconnect () {
    this.ready = false
    if (this.ws) this.ws.terminate()
    this.ws = null
  }

  destroy () {
    this.disconnect()
    for (const d of this.docs.values()) d.destroy()
  }
}
