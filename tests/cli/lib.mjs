// lib.mjs - helpers for the `vn` tests: run the real vn binary against a real vaultd
// (tests/interop/lib/vaultd.mjs) through a TCP proxy that the test can cut to take a
// client offline, with a config directory of its own per test, and read folders back.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import net from 'node:net'
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { Vaultd, repoRoot, until, sleep } from '../interop/lib/vaultd.mjs'
import { VaultClient } from '../interop/lib/vchan.mjs'

export { Vaultd, until, sleep, VaultClient }

export function vnPath () {
  const build = process.env.VN_BUILD_DIR
    ? resolve(repoRoot, process.env.VN_BUILD_DIR)
    : join(repoRoot, 'build/asan')
  return join(build, 'src/client/vn')
}

/** A TCP proxy on a free port in front of `port`; `cut()` drops every connection and
 * refuses new ones (the network is gone), `restore()` brings it back. Counts bytes. */
export class Proxy {
  static async start (port) {
    const p = new Proxy(port)
    await p.#listen()
    return p
  }

  constructor (port) {
    this.target = port
    this.socks = new Set()
    this.bytesUp = 0
    this.bytesDown = 0
  }

  #listen (port = 0) {
    this.server = net.createServer(c => {
      const up = net.connect(this.target, '127.0.0.1')
      this.socks.add(c)
      this.socks.add(up)
      c.on('data', d => { this.bytesUp += d.length })
      up.on('data', d => { this.bytesDown += d.length })
      c.pipe(up)
      up.pipe(c)
      const end = () => { c.destroy(); up.destroy(); this.socks.delete(c); this.socks.delete(up) }
      c.on('error', end)
      up.on('error', end)
      c.on('close', end)
      up.on('close', end)
    })
    return new Promise(resolve => this.server.listen(port, '127.0.0.1', () => {
      this.port = this.server.address().port
      this.url = `http://127.0.0.1:${this.port}`
      resolve()
    }))
  }

  async cut () {
    for (const s of this.socks) s.destroy()
    this.socks.clear()
    await new Promise(resolve => this.server.close(resolve))
  }

  async restore () { await this.#listen(this.port) }

  async close () { await this.cut().catch(() => {}) }
}

/** One person with a vn config of their own, on one server (through a proxy). */
export class Person {
  constructor (t, server, proxy, email) {
    this.server = server
    this.proxy = proxy
    this.email = email
    this.home = mkdtempSync(join(tmpdir(), 'vn-cli-'))
    this.config = join(this.home, 'config')
    t.after(() => rmSync(this.home, { recursive: true, force: true }))
  }

  /** Registers `email` (unless register is false: a second device of the same person)
   * and runs `vn login` through `proxy`. */
  static async create (t, server, proxy, email, { register = true } = {}) {
    const p = new Person(t, server, proxy, email)
    if (register) p.token = await server.user(email)
    const r = await p.vn(['login', proxy.url], { env: { VN_EMAIL: email, VN_PASSWORD: 'correct horse battery' } })
    assert.equal(r.code, 0, r.stderr)
    return p
  }

  dir (name) { return join(this.home, name) }

  /** Runs vn; resolves with { code, stdout, stderr }. Never blocks the event loop (vaultd's
   * pipes are read by this process). */
  vn (args, { cwd, env = {}, input, signalAfter } = {}) {
    return new Promise((resolve, reject) => {
      const child = spawn(vnPath(), args, {
        cwd: cwd ?? this.home,
        env: {
          PATH: process.env.PATH,
          HOME: this.home,
          XDG_CONFIG_HOME: this.config,
          ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1',
          ...env
        },
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', d => { stdout += d })
      child.stderr.on('data', d => { stderr += d })
      child.on('error', reject)
      child.on('exit', (code, signal) => resolve({ code: code ?? 128 + 15, signal, stdout, stderr }))
      if (input !== undefined) {
        child.stdin.on('error', () => {}) // vn may exit before reading it
        child.stdin.end(input)
      }
      this.last = child
    })
  }

  /** Starts vn without waiting; returns { child, done, out() }. */
  start (args, { cwd, env = {} } = {}) {
    const child = spawn(vnPath(), args, {
      cwd: cwd ?? this.home,
      env: { PATH: process.env.PATH, HOME: this.home, XDG_CONFIG_HOME: this.config, ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const o = { stdout: '', stderr: '' }
    child.stdout.on('data', d => { o.stdout += d })
    child.stderr.on('data', d => { o.stderr += d })
    const done = new Promise(resolve => child.on('exit', (code, signal) => resolve({ code, signal, ...o })))
    return { child, done, out: o }
  }

  /** vn sync in folder `name`; asserts exit 0 unless `code` is given. */
  async sync (name, { code = 0, args = [] } = {}) {
    const r = await this.vn(['sync', ...args], { cwd: this.dir(name) })
    assert.equal(r.code, code, `vn sync in ${name}: exit ${r.code}\n${r.stdout}\n${r.stderr}`)
    return r
  }

  async clone (vault, name) {
    const r = await this.vn(['clone', vault, this.dir(name)])
    assert.equal(r.code, 0, `vn clone: ${r.stdout}\n${r.stderr}`)
    return this.dir(name)
  }
}

/** Every non-hidden file under dir (recursively): { 'a/b.md': 'text', ... }. */
export function files (dir) {
  const out = {}
  const walk = rel => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue
      const r = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) walk(r)
      else out[r] = readFileSync(join(dir, r), 'utf8')
    }
  }
  walk('')
  return out
}

export function write (dir, rel, text) {
  mkdirSync(dirname(join(dir, rel)), { recursive: true })
  writeFileSync(join(dir, rel), text)
}

/** Writes like an editor that saves to a new file and renames it over the old one. */
export function rewrite (dir, rel, text) {
  const tmp = join(dir, `.${Math.random().toString(16).slice(2)}.swp`)
  writeFileSync(tmp, text)
  // rename(2) through fs.renameSync
  return import('node:fs').then(fs => fs.renameSync(tmp, join(dir, rel)))
}

export function read (dir, rel) { return readFileSync(join(dir, rel), 'utf8') }

export function mode (path) { return statSync(path).mode & 0o777 }

/** What Yjs itself makes of the vault: a VaultClient (real yjs) fetches every document from
 * the server and renders the live notes as { path without '/': text }. */
export async function yjsView (server, vault, token) {
  const c = new VaultClient(server, vault, token)
  try {
    await c.connect()
    const out = {}
    const live = []
    c.files().forEach((m, id) => {
      if (m.get('kind') === 'note' && m.get('trashed') === undefined) live.push({ id, path: m.get('path'), created: m.get('created') })
    })
    live.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : a.created - b.created || (a.id < b.id ? -1 : 1))
    for (let i = 0; i < live.length; i++) {
      const e = live[i]
      let p = e.path.slice(1)
      if (i > 0 && live[i - 1].path === e.path) {
        const slash = p.lastIndexOf('/')
        const dot = p.lastIndexOf('.')
        const stem = dot > slash + 1 ? dot : p.length
        p = `${p.slice(0, stem)} (${e.id.slice(0, 8)})${p.slice(stem)}`
      }
      out[p] = c.text(e.id)
    }
    return out
  } finally {
    c.destroy()
  }
}

/** A server (with extra environment `env`; on PostgreSQL when `database` is a postgres://
 * URL), a proxy in front of it, and cleanup. */
export async function setup (t, { env, database } = {}) {
  const server = await Vaultd.start({ env, database })
  const proxy = await Proxy.start(server.port)
  t.after(async () => {
    await proxy.close()
    await server.stop()
    await server.dispose()
  })
  return { server, proxy }
}
