// driver.mjs - starts tests/interop/ydriver (the C engine behind a JSON line
// protocol, see ydriver.c) and talks to it. Requests may be pipelined: every
// call() returns a promise, replies come back in request order.
import { AssertionError } from 'node:assert'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

export function driverPath () {
  const build = process.env.VN_BUILD_DIR
    ? resolve(repoRoot, process.env.VN_BUILD_DIR)
    : join(repoRoot, 'build/asan')
  return join(build, 'tests/interop/ydriver')
}

/** An error reply from the driver; .err is the engine's Y_ERR_* code (0 if none). */
export class DriverError extends Error {
  constructor (cmd, reply) {
    super(`ydriver ${cmd}: ${reply.error} (err ${reply.err})`)
    this.err = reply.err
    this.reply = reply
  }
}

export class Driver {
  /** Starts a driver process; throws with a clear message if it is not built. */
  constructor () {
    const path = driverPath()
    if (!existsSync(path)) {
      throw new Error(`C interop driver not found at ${path}. Build it first:\n` +
        '  cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Asan && cmake --build build/asan -j2\n' +
        'or point VN_BUILD_DIR at a build directory that has tests/interop/ydriver.')
    }
    this.proc = spawn(path, [], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1' }
    })
    this.pending = []
    this.nextId = 1
    this.buf = ''
    this.exited = null
    this.exitPromise = new Promise(resolve => {
      this.proc.on('exit', (code, signal) => {
        this.exited = { code, signal }
        const err = new Error(`ydriver exited (code ${code}, signal ${signal}) with ${this.pending.length} request(s) unanswered; see its stderr above`)
        for (const p of this.pending.splice(0)) p.reject(err)
        resolve(this.exited)
      })
    })
    this.proc.stdin.on('error', () => {}) // reported through 'exit'
    this.proc.stdout.setEncoding('utf8')
    this.proc.stdout.on('data', chunk => {
      this.buf += chunk
      let nl
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl)
        this.buf = this.buf.slice(nl + 1)
        const p = this.pending.shift()
        if (!p) throw new Error(`ydriver sent an unrequested line: ${line.slice(0, 200)}`)
        const reply = JSON.parse(line)
        if (reply.id !== p.id) p.reject(new Error(`ydriver reply id ${reply.id} for request ${p.id}`))
        else if (reply.ok || p.allowError) p.resolve(reply)
        else p.reject(new DriverError(p.cmd, reply))
      }
    })
  }

  _send (cmd, args, allowError) {
    if (this.exited) return Promise.reject(new Error(`ydriver has exited (code ${this.exited.code}, signal ${this.exited.signal})`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.push({ id, cmd, resolve, reject, allowError })
      this.proc.stdin.write(JSON.stringify({ id, cmd, ...args }) + '\n')
    })
  }

  /** Sends one request; resolves with the reply, rejects with DriverError on an error reply. */
  call (cmd, args = {}) { return this._send(cmd, args, false) }

  /** Like call(), but an error reply resolves too (check reply.ok, reply.err). */
  try (cmd, args = {}) { return this._send(cmd, args, true) }

  /** Ends the driver and resolves with its exit status; rejects if it did not exit cleanly (an ASan report, a leak). */
  async close () {
    if (!this.exited) this.proc.stdin.end()
    const { code, signal } = await this.exitPromise
    if (code !== 0) throw new Error(`ydriver exited with code ${code}, signal ${signal} (ASan/UBSan or leak report above)`)
  }
}

/**
 * Runs fn(driver) with a driver of its own, so a crash of the engine fails
 * only the test it happens in. After success the driver must exit cleanly
 * (no sanitizer or leak report); after a failure its exit status is not
 * checked, the first error is what the test reports.
 */
export async function withDriver (fn) {
  const driver = new Driver()
  let result
  try {
    result = await fn(driver)
  } catch (e) {
    await driver.close().catch(() => {})
    throw e
  }
  await driver.close()
  return result
}

export const hex = u8 => Buffer.from(u8).toString('hex')
export const unhex = s => new Uint8Array(Buffer.from(s, 'hex'))

/** Asserts two byte strings are equal; on failure reports the lengths and
 * the first differing offset with some context, not megabytes of hex. */
export function assertBytes (actual, expected, message) {
  const a = actual === null ? null : Buffer.from(actual)
  const e = expected === null ? null : Buffer.from(expected)
  if (a === null || e === null) {
    if (a === e) return
    throw new AssertionError({ message: `${message}\n  actual:   ${a === null ? 'null' : a.length + ' bytes ' + a.toString('hex').slice(0, 160)}\n  expected: ${e === null ? 'null' : e.length + ' bytes ' + e.toString('hex').slice(0, 160)}`, actual: '(see message)', expected: '(see message)', operator: 'bytes' })
  }
  if (a.equals(e)) return
  let i = 0
  while (i < a.length && i < e.length && a[i] === e[i]) i++
  const from = Math.max(0, i - 16)
  const show = b => `${b.length} bytes, at ${from}: ${b.subarray(from, i).toString('hex')}|${b.subarray(i, i + 32).toString('hex')}`
  throw new AssertionError({
    message: `${message}\n  first difference at byte ${i}\n  actual:   ${show(a)}\n  expected: ${show(e)}` +
      (a.length + e.length <= 600 ? `\n  actual (full):   ${a.toString('hex')}\n  expected (full): ${e.toString('hex')}` : ''),
    actual: '(see message)', expected: '(see message)', operator: 'bytes'
  })
}
