// sync_compact.test.mjs - background compaction of a note's update log, with a
// real vaultd (VAULT_DOC_COMPACT_AT=20: a log of 20 rows gets its oldest rows
// replaced by one snapshot row) and real y-websocket providers: the log stays
// short, versions (REST ETags) keep counting every update, a recent ETag still
// merges while one inside the snapshot gets 412, nothing committed while
// compactions run is lost, and what the server stored reads back the same
// after a restart.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import * as Y from 'yjs'
import { Vaultd, provider, synced, until } from './lib/vaultd.mjs'

const COMPACT_AT = 20

/** Rows of the note's log and the versions they stand for, read from SQLite (read-only, while
 * the server runs: WAL lets a reader in). */
function logRows (server, doc) {
  const out = execFileSync('sqlite3', ['-readonly', join(server.dataDir, 'vault.db'),
    `SELECT COUNT(*) || ' ' || COALESCE(SUM(n), 0) FROM doc_updates WHERE doc = '${doc}';`], { encoding: 'utf8' })
  const [rows, versions] = out.trim().split(' ').map(Number)
  return { rows, versions }
}

const version = etag => Number(/^"v(\d+)"$/.exec(etag)[1])

async function withServer (fn) {
  const server = await Vaultd.start({ env: { VAULT_DOC_COMPACT_AT: String(COMPACT_AT) } })
  try {
    await fn(server)
    await server.stop()
  } finally {
    await server.dispose()
  }
}

test('the log is compacted in the background; versions keep counting every update', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Log.md', 'start\n')
  const first = await server.api('GET', `/api/v1/notes/${note}`, { token })
  const v0 = version(first.headers.get('etag'))
  const a = provider(server, token, note)
  await synced(a)
  const t = a.doc.getText('content')
  let recent = null
  for (let i = 0; i < 60; i++) {
    t.insert(t.length, `line ${i}\n`) // one transaction, one update, one commit each
    if (i === 54) {
      await until(async () => (await server.text(token, note)).endsWith('line 54\n'), 'line 54 to be stored')
      recent = await server.api('GET', `/api/v1/notes/${note}`, { token })
    }
  }
  const text = a.text()
  await until(async () => (await server.text(token, note)) === text, 'every line to be stored')
  const now = await server.api('GET', `/api/v1/notes/${note}`, { token })
  assert.equal(version(now.headers.get('etag')), v0 + 60, 'each update is one version')
  // once every commit is in (REST reads memory, which may be ahead of the log by the commits in
  // flight), the log stands for every version in fewer rows than the compaction threshold
  await until(() => { const l = logRows(server, note); return l.versions === v0 + 60 && l.rows < COMPACT_AT }, 'the log to be compacted')
  await until(() => /"update log compacted"/.test(server.stderr), 'the compaction to be logged') // after its commit

  // a version inside the snapshot cannot be merged with: 412, nothing changes
  const old = await server.api('PUT', `/api/v1/notes/${note}`, {
    token, body: { content: 'start\nold edit\n' }, headers: { 'if-match': first.headers.get('etag') }
  })
  assert.equal(old.status, 412)
  assert.equal(await server.text(token, note), text)
  // a recent version (5 updates old, inside the rows kept) merges
  const merged = await server.api('PUT', `/api/v1/notes/${note}`, {
    token, body: { content: recent.body.content.replace('start\n', 'START\n') }, headers: { 'if-match': recent.headers.get('etag') }
  })
  assert.equal(merged.status, 200, JSON.stringify(merged.body))
  assert.equal(merged.body.merged, true)
  assert.equal(merged.body.content, text.replace('start\n', 'START\n'))
  await until(() => a.text() === merged.body.content, 'the provider to see the merge')
  const sv = Y.encodeStateVector(a.doc)
  a.destroy()

  await server.restart()
  assert.equal(await server.text(token, note), merged.body.content)
  const fresh = provider(server, token, note)
  await synced(fresh)
  await until(() => fresh.text() === merged.body.content, 'a fresh provider to read the compacted log')
  assert.deepEqual(Y.encodeStateVector(fresh.doc), sv)
  fresh.destroy()
}))

test('updates committed while compactions run are never lost', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Busy.md', '')
  const clients = [0, 1, 2].map(() => provider(server, token, note))
  for (const c of clients) await synced(c)
  // three writers, 100 updates each, interleaved: compactions start every ~10 commits
  const writers = clients.map(async (c, i) => {
    const t = c.doc.getText('content')
    for (let k = 0; k < 100; k++) {
      t.insert(k % 7 === 0 ? 0 : t.length, `${i}:${k} `)
      if (k % 10 === 0) await new Promise(resolve => setImmediate(resolve))
    }
  })
  await Promise.all(writers)
  const final = await until(async () => {
    const rest = await server.text(token, note)
    return clients.every(c => c.text() === rest) ? rest : null
  }, 'every client and REST to agree', 60000)
  for (let i = 0; i < 3; i++) for (let k = 0; k < 100; k++) assert.ok(final.includes(`${i}:${k} `), `${i}:${k}`)
  const etagNow = (await server.api('GET', `/api/v1/notes/${note}`, { token })).headers.get('etag')
  await until(() => { const l = logRows(server, note); return l.versions === version(etagNow) && l.rows < COMPACT_AT }, 'the log to be compacted')
  for (const c of clients) c.destroy()
  await server.restart()
  assert.equal(await server.text(token, note), final)
  const { rows, versions } = logRows(server, note)
  const etag = (await server.api('GET', `/api/v1/notes/${note}`, { token })).headers.get('etag')
  assert.equal(versions, version(etag))
  assert.ok(rows < versions)
}))

test('a long log written with compaction off is compacted when the note is next loaded', async () => {
  const server = await Vaultd.start({ env: { VAULT_DOC_COMPACT_AT: '0' } })
  try {
    const token = await server.user('ada@example.com')
    const vault = await server.vault(token)
    const note = await server.note(token, vault, '/Old.md', '')
    const a = provider(server, token, note)
    await synced(a)
    const t = a.doc.getText('content')
    for (let i = 0; i < 50; i++) t.insert(t.length, `${i},`)
    const text = a.text()
    await until(() => logRows(server, note).rows >= 50, 'every update to be committed')
    a.destroy()
    await server.stop()
    const before = logRows(server, note)
    assert.equal(before.rows, 50) // one row per update: nothing compacted
    assert.equal(before.versions, 50)
    server.env = { VAULT_DOC_COMPACT_AT: String(COMPACT_AT) }
    await server.start()
    assert.equal(await server.text(token, note), text) // loads the note
    await until(() => logRows(server, note).rows < COMPACT_AT, 'the log to be compacted after the load')
    assert.equal(logRows(server, note).versions, 50)
    await server.restart()
    assert.equal(await server.text(token, note), text)
    await server.stop()
  } finally {
    await server.dispose()
  }
})
