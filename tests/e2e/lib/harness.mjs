// harness.mjs - what every end-to-end test needs: a real vaultd (the ASan build, on a free
// port, in a temporary data directory, serving web/dist), Debian's Chromium driven headless by
// playwright-core (no browser download), and helpers that act as a person would: sign up,
// create a vault and a note, type. Screenshots go to build/e2e-artifacts/.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const require = createRequire(join(repoRoot, 'web/package.json'))
const { chromium } = require('playwright-core')

export const artifacts = join(repoRoot, 'build/e2e-artifacts')
export const CHROMIUM = process.env.VN_CHROMIUM ?? '/usr/bin/chromium'
// A busy 2-core machine running an ASan server: waits are long, never part of what is tested.
export const WAIT = 60000

export class Server {
  /** `args`: more vaultd flags (e.g. ['--version-idle-ms', '300']). */
  static async start ({ args = [] } = {}) {
    const s = new Server()
    s.args = args
    s.dir = mkdtempSync(join(tmpdir(), 'vn-e2e-'))
    await s.#spawn('127.0.0.1:0')
    return s
  }

  async #spawn (listen) {
    const build = process.env.VN_BUILD_DIR ? resolve(repoRoot, process.env.VN_BUILD_DIR) : join(repoRoot, 'build/asan')
    const bin = join(build, 'src/server/vaultd')
    const web = join(repoRoot, 'web/dist')
    if (!existsSync(bin)) throw new Error(`vaultd not found at ${bin}: run make build-asan (or set VN_BUILD_DIR)`)
    if (!existsSync(join(web, 'index.html'))) throw new Error('web/dist is missing: run make web')
    this.stderr = ''
    this.proc = spawn(bin, ['--listen', listen, '--data-dir', join(this.dir, 'data'), '--web-dir', web, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1' }
    })
    const proc = this.proc
    proc.stderr.on('data', d => { this.stderr += d })
    this.exited = new Promise(resolve => proc.on('exit', (code, signal) => resolve({ code, signal })))
    let out = ''
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`vaultd did not start:\n${this.stderr}`)), WAIT)
      proc.stdout.on('data', d => {
        out += d
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)
        if (m) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      })
      proc.on('exit', code => {
        clearTimeout(timer)
        reject(new Error(`vaultd exited with ${code}:\n${this.stderr}`))
      })
    })
    this.port = port
    this.url = `http://127.0.0.1:${port}`
  }

  /** Stops the server (asserting a clean exit) but keeps its data: the network is "gone". */
  async halt () {
    this.proc.kill('SIGTERM')
    const { code, signal } = await this.exited
    assert.equal(code, 0, `vaultd exited with ${code ?? signal}; stderr:\n${this.stderr.slice(-4000)}`)
  }

  /** Starts the server again after halt(), on the same port and data. */
  async restart () {
    await this.#spawn(`127.0.0.1:${this.port}`)
  }

  /** SIGTERM; asserts a clean exit (no sanitizer report); removes the data directory. */
  async stop () {
    this.proc.kill('SIGTERM')
    const { code, signal } = await this.exited
    rmSync(this.dir, { recursive: true, force: true })
    assert.equal(code, 0, `vaultd exited with ${code ?? signal}; stderr:\n${this.stderr.slice(-4000)}`)
  }

  /** One REST call as the user of `token` (or nobody), to set up or check what a test needs. */
  async call (method, path, body, token) {
    const res = await fetch(this.url + path, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers }
  }

  /** Freezes the server (SIGSTOP): sockets stay open, nothing is answered or committed. */
  pause () { this.proc.kill('SIGSTOP') }
  resume () { this.proc.kill('SIGCONT') }

  /** A bearer token for REST checks (the browser itself only ever holds the session cookie). */
  async token (email, password = 'correct horse battery') {
    const r = await this.call('POST', '/api/v1/auth/login', { email, password })
    assert.equal(r.status, 200)
    return r.body.token
  }

  /** The note's text as the server has it (REST GET). */
  async noteText (token, id) {
    const r = await this.call('GET', `/api/v1/notes/${id}`, undefined, token)
    assert.equal(r.status, 200)
    return r.body.content
  }
}

export async function launch () {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: WAIT })
}

/** A fresh browser profile (its own cookies and IndexedDB), like another device. */
export async function newDevice (browser, server, opts = {}) {
  const context = await browser.newContext({ baseURL: server.url, viewport: { width: 1200, height: 800 }, ...opts })
  context.setDefaultTimeout(WAIT)
  context.setDefaultNavigationTimeout(WAIT)
  const page = await context.newPage()
  page.on('pageerror', e => console.error(`[page error] ${e.message}`))
  return { context, page }
}

let shots = 0
const suite = basename(process.argv[1] ?? 'e2e').replace(/\.test\.mjs$/, '')

/** Saves build/e2e-artifacts/<test file>-<n>-<name>.png for a person to look at. */
export async function screenshot (page, name) {
  mkdirSync(artifacts, { recursive: true })
  const file = `${suite}-${String(++shots).padStart(2, '0')}-${name}.png`
  await page.screenshot({ path: join(artifacts, file), fullPage: true })
}

export async function signUp (page, { name, email, password = 'correct horse battery' }) {
  await page.goto('/signup')
  await page.getByLabel('Name').fill(name)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign up' }).click()
  await page.getByRole('heading', { name: 'Your vaults' }).waitFor()
}

export async function logIn (page, { email, password = 'correct horse battery' }) {
  await page.goto('/login')
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('heading', { name: 'Your vaults' }).waitFor()
}

export async function createVault (page, name) {
  await page.getByLabel('New vault name').fill(name)
  await page.getByRole('button', { name: 'Create vault' }).click()
  await page.getByRole('heading', { name }).waitFor()
  return /\/v\/([0-9a-f]{32})/.exec(page.url())[1]
}

/** Creates a note in the open vault (in `folder`, a folder row's name, or at the top). */
export async function createNote (page, name, folder) {
  if (folder) {
    await page.getByRole('button', { name: `Actions for folder ${folder}` }).click()
    await page.getByRole('menuitem', { name: 'New note here' }).click()
  } else {
    await page.getByRole('button', { name: 'New note' }).click()
  }
  await page.getByRole('dialog').getByLabel('Name').fill(name)
  await page.getByRole('dialog').getByRole('button', { name: 'Create' }).click()
  await page.getByRole('dialog').waitFor({ state: 'detached' })
  const file = /\.[A-Za-z0-9]+$/.test(name) ? name : `${name}.md`
  await page.getByTestId('note-path').filter({ hasText: `/${file}` }).waitFor()
  await editor(page).waitFor()
}

/** The id of the note open in `page` (from its URL). */
export const noteIdOf = page => /\/n\/([^/?#]+)/.exec(page.url())[1]

/** Polls `fn` until it returns a truthy value. */
export async function until (fn, what, ms = WAIT) {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

export const editor = page => page.locator('[data-testid=editor] .cm-content')
export const status = page => page.getByTestId('sync-status')

/** The note's text as the editor shows it: CodeMirror's lines joined by newlines, without the
 * widgets drawn between the letters (collaborators' cursors and names, placeholders). */
export async function editorText (page) {
  return page.locator('[data-testid=editor] .cm-content').evaluate(el =>
    [...el.querySelectorAll('.cm-line')].map(line => {
      const copy = line.cloneNode(true)
      copy.querySelectorAll('[contenteditable=false], .cm-widgetBuffer, .cm-placeholder').forEach(w => w.remove())
      return copy.textContent.replace(/\u2060/g, '')
    }).join('\n'))
}

/** Waits until the editor's text satisfies `pred` (or equals it, for a string). */
export async function waitForText (page, pred, what) {
  const ok = typeof pred === 'string' ? t => t === pred : pred
  const end = Date.now() + WAIT
  let last = ''
  for (;;) {
    last = await editorText(page)
    if (ok(last)) return last
    if (Date.now() > end) throw new Error(`timed out waiting for ${what ?? JSON.stringify(pred)}; the editor shows ${JSON.stringify(last)}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

export async function waitForStatus (page, text) {
  await page.getByTestId('sync-status').filter({ hasText: new RegExp(`^${text}$`) }).waitFor()
}

/** Types at the end of the note, like a person pressing keys. */
export async function typeAtEnd (page, text) {
  await editor(page).click()
  await page.keyboard.press('Control+End')
  await page.keyboard.type(text, { delay: 10 })
}
