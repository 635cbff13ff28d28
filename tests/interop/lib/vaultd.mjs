// vaultd.mjs - helpers for tests that run a real vaultd: start and stop it on a
// free port with a temporary data directory, call its REST API, and open
// y-websocket providers (the unmodified `y-websocket` package) on its sync
// endpoint with a bearer token in the Authorization header.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import http from 'node:http'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WebsocketProvider } from 'y-websocket'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

export function vaultdPath () {
  const build = process.env.VN_BUILD_DIR
    ? resolve(repoRoot, process.env.VN_BUILD_DIR)
    : join(repoRoot, 'build/asan')
  return join(build, 'src/server/vaultd')
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** Polls `fn` until it returns a truthy value; fails with `what` after `ms`. */
export async function until (fn, what, ms = 15000) {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** A running vaultd. `dataDir` is kept between restarts; stop() checks a clean exit. */
export class Vaultd {
  static async start (opts = {}) {
    const v = new Vaultd(opts)
    await v.#spawn()
    return v
  }

  constructor ({ dataDir, env = {}, database, args = [] } = {}) {
    const path = vaultdPath()
    if (!existsSync(path)) {
      throw new Error(`vaultd not found at ${path}. Build it first:\n` +
        '  cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Asan && cmake --build build/asan -j2\n' +
        'or point VN_BUILD_DIR at a build directory that has src/server/vaultd.')
    }
    this.path = path
    this.ownDir = dataDir === undefined
    this.dataDir = dataDir ?? mkdtempSync(join(tmpdir(), 'vn-sync-'))
    this.env = env
    this.database = database // a postgres:// URL, or undefined for SQLite in dataDir
    this.args = args // more vaultd flags
    this.stderr = ''
    this.clients = new Set() // providers opened by provider(), destroyed by dispose()
  }

  async #spawn (port = 0) {
    this.stderr = ''
    const args = ['--listen', `127.0.0.1:${port}`, '--data-dir', this.dataDir]
    if (this.database) args.push('--database', this.database)
    this.proc = spawn(this.path, [...args, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1', ...this.env }
    })
    this.proc.stderr.on('data', d => { this.stderr += d })
    this.exited = new Promise(resolve => this.proc.on('exit', (code, signal) => resolve({ code, signal })))
    let out = ''
    this.port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`vaultd did not start:\n${this.stderr}`)), 20000)
      this.proc.stdout.on('data', d => {
        out += d
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)
        if (m) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      })
      this.proc.on('exit', code => {
        clearTimeout(timer)
        reject(new Error(`vaultd exited with ${code} before listening:\n${this.stderr}`))
      })
    })
    this.url = `http://127.0.0.1:${this.port}`
    this.wsUrl = `ws://127.0.0.1:${this.port}/api/v1/sync`
  }

  /** SIGTERM, and asserts a clean exit (status 0: no sanitizer report). */
  async stop () {
    this.proc.kill('SIGTERM')
    const { code, signal } = await this.exited
    assert.equal(code, 0, `vaultd exited with ${code ?? signal}; stderr:\n${this.stderr.slice(-4000)}`)
  }

  /** SIGKILL (no shutdown at all), then start again on the same data directory. With
   * `samePort`, on the port it had (so that clients reconnect by themselves; the port was
   * free when first picked, and a restart retries a few times if it is briefly taken). */
  async crash ({ samePort = false } = {}) {
    this.proc.kill('SIGKILL')
    await this.exited
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#spawn(samePort ? this.port : 0)
        return
      } catch (e) {
        if (!samePort || attempt === 20) throw e
        await sleep(100)
      }
    }
  }

  /** Starts the server again (after it exited) on the same data directory, on a new port. */
  async start () {
    await this.#spawn()
  }

  async restart () {
    await this.stop()
    await this.#spawn()
  }

  /** Stops the server if it still runs and removes its data directory. */
  async dispose () {
    for (const c of this.clients) c.destroy()
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGKILL')
      await this.exited
    }
    if (this.ownDir) rmSync(this.dataDir, { recursive: true, force: true })
  }

  /** One REST call; returns { status, headers (with .get(name)), body (parsed when JSON) }.
   * Each call uses its own connection, closed after the answer, so that stopping the server
   * does not wait for idle keep-alive connections. */
  api (method, path, { token, body, headers = {} } = {}) {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const h = { ...headers }
    if (token) h.authorization = `Bearer ${token}`
    if (data) {
      h['content-type'] = 'application/json'
      h['content-length'] = data.length
    }
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.port, method, path, headers: h, agent: false }, res => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', d => { text += d })
        res.on('end', () => {
          let parsed = text
          try { parsed = JSON.parse(text) } catch {}
          resolve({ status: res.statusCode, headers: { get: name => res.headers[name.toLowerCase()] ?? null }, body: parsed })
        })
      })
      req.on('error', reject)
      req.end(data)
    })
  }

  /** Registers and signs in a user; returns the bearer token. */
  async user (email) {
    const password = 'correct horse battery'
    const r = await this.api('POST', '/api/v1/auth/register', { body: { email, password } })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    const l = await this.api('POST', '/api/v1/auth/login', { body: { email, password } })
    assert.equal(l.status, 200, JSON.stringify(l.body))
    return l.body.token
  }

  async vault (token, name = 'Sync tests') {
    const r = await this.api('POST', '/api/v1/vaults', { token, body: { name } })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    return r.body.id
  }

  async note (token, vault, path, content = '') {
    const r = await this.api('POST', `/api/v1/vaults/${vault}/notes`, { token, body: { path, content } })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    return r.body.id
  }

  async member (token, vault, email, role) {
    const r = await this.api('POST', `/api/v1/vaults/${vault}/members`, { token, body: { email, role } })
    assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body))
  }

  /** The value of series `name` (no labels) in /metrics; fails if it is not there. */
  async metric (name) {
    const r = await this.api('GET', '/metrics')
    assert.equal(r.status, 200)
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(r.body)
    assert.ok(m, `${name} in /metrics`)
    return Number(m[1])
  }

  /** The note's text as REST GET returns it. */
  async text (token, note) {
    const r = await this.api('GET', `/api/v1/notes/${note}`, { token })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    return r.body.content
  }
}

/** A y-websocket sync message (messageSync, then type and payload as y-protocols writes them):
 * type 0 step 1, 1 step 2, 2 update. */
export function syncMessage (type, payload) {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, type)
  encoding.writeVarUint8Array(e, payload)
  return encoding.toUint8Array(e)
}

/** A WebSocket class for y-websocket that sends `token` as a bearer header. */
export function bearerWebSocket (token) {
  return class extends WebSocket {
    constructor (url, protocols) {
      super(url, protocols, { headers: token ? { authorization: `Bearer ${token}` } : {} })
    }
  }
}

/** The message type of vaultd's "saved" acknowledgement (docs/sync.md). */
export const messageSaved = 4

/** A stock WebsocketProvider on note `note`, with its own Y.Doc. With `saved: true` it asks
 * for saved messages (`?saved=1`) and keeps the latest one's state vector in `client.saved`
 * (a Map client -> clock; empty until the first arrives); `client.isSaved()` says whether
 * it covers everything this client wrote (its own client id's clock). */
export function provider (server, token, note, opts = {}) {
  const { saved = false, ...rest } = opts
  const doc = new Y.Doc()
  const p = new WebsocketProvider(server.wsUrl, note, doc, {
    WebSocketPolyfill: bearerWebSocket(token),
    disableBc: true, // peers in one process must meet through the server, not a BroadcastChannel
    maxBackoffTime: 300,
    ...(saved ? { params: { saved: '1' } } : {}),
    ...rest
  })
  p.closes = []
  p.savedMessages = 0
  const client = {
    doc,
    p,
    saved: new Map(),
    isSaved: () => (client.saved.get(doc.clientID) ?? 0) >= Y.getState(doc.store, doc.clientID),
    text: () => doc.getText('content').toString(),
    // destroying the doc also stops its Awareness timer, so the test process can exit
    destroy: () => {
      server.clients.delete(client)
      p.destroy()
      doc.destroy()
    }
  }
  server.clients.add(client)
  p.on('connection-close', ev => { if (ev) p.closes.push({ code: ev.code, reason: String(ev.reason) }) })
  // A stock provider logs "Unable to compute message" for a type it does not know; count them
  // instead, so a test can check that only clients that asked get saved messages.
  p.messageHandlers[messageSaved] = (_encoder, decoder) => {
    p.savedMessages++
    if (!saved) return
    const sv = Y.decodeStateVector(decoding.readVarUint8Array(decoder))
    // saved messages only grow within a connection; across a crash the newest wins
    for (const [c, clock] of sv) if ((client.saved.get(c) ?? 0) < clock) client.saved.set(c, clock)
  }
  return client
}

/** Runs fn({ server, owner, vault }) on a fresh vaultd (Vaultd.start(opts)) with one user
 * (owner@example.com, its bearer token) and one vault; a failure carries the tail of vaultd's
 * stderr. */
export async function withVault (opts, fn) {
  const server = await Vaultd.start(opts)
  try {
    const owner = await server.user('owner@example.com')
    const vault = await server.vault(owner)
    await fn({ server, owner, vault })
    await server.stop()
  } catch (e) {
    e.message += `\nvaultd stderr (tail):\n${server.stderr.slice(-3000)}`
    throw e
  } finally {
    await server.dispose()
  }
}

export async function synced (c, ms = 15000) {
  await until(() => c.p.synced, 'the provider to sync', ms)
}

/** Opens a raw WebSocket; resolves with it once open, or rejects with the HTTP status. */
export function rawSocket (server, note, token, headers = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers }
    if (token) h.authorization = `Bearer ${token}`
    const ws = new WebSocket(`${server.wsUrl}/${note}`, { headers: h })
    ws.binaryType = 'nodebuffer'
    ws.received = []
    ws.on('message', d => ws.received.push(new Uint8Array(d)))
    ws.closed = new Promise(resolve => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })))
    ws.on('open', () => resolve(ws))
    ws.on('unexpected-response', (req, res) => {
      let body = ''
      res.on('data', d => { body += d })
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })))
    })
    ws.on('error', reject)
  })
}
