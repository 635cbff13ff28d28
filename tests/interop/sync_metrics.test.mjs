// sync_metrics.test.mjs - what /metrics says about sync, driven by real
// clients: open connections and documents, committed sync updates (the
// counter Prometheus turns into updates/s), bytes in and out, the fan-out
// latency histogram, and structs pending on missing dependencies.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Vaultd, provider, rawSocket, synced, until } from './lib/vaultd.mjs'

/** /metrics as a Map from series (name with labels) to number. */
async function metrics (server) {
  const r = await server.api('GET', '/metrics')
  assert.equal(r.status, 200)
  const m = new Map()
  for (const line of r.body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    m.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return m
}

const hex = s => Uint8Array.from(s.trim().split(/\s+/).map(h => parseInt(h, 16)))

async function withServer (fn, opts) {
  const server = await Vaultd.start(opts)
  try {
    await fn(server)
    await server.stop()
  } finally {
    await server.dispose()
  }
}

test('sync connections, committed updates, bytes and fan-out are counted', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Metrics.md', '')
  const m0 = await metrics(server)
  assert.equal(m0.get('vault_sync_connections'), 0)
  assert.equal(m0.get('vault_sync_updates_total'), 0)
  assert.equal(m0.get('vault_sync_fanout_seconds_count'), 0)

  const a = provider(server, token, note)
  const b = provider(server, token, note)
  await synced(a)
  await synced(b)
  const m1 = await metrics(server)
  assert.equal(m1.get('vault_sync_connections'), 2)
  assert.equal(m1.get('vault_sync_documents'), 1)
  assert.ok(m1.get('vault_open_documents') >= 1)
  assert.equal(m1.get('vault_sync_updates_total'), 0) // the two step 2s brought nothing new
  assert.ok(m1.get('vault_sync_received_bytes_total') > 0)
  assert.ok(m1.get('vault_sync_sent_bytes_total') > 0)

  // ten edits by a, each its own transaction, so its own update message and commit
  let bytes = 0
  a.doc.on('update', u => { bytes += u.length })
  const t = a.doc.getText('content')
  for (let i = 0; i < 10; i++) t.insert(t.length, `${i}`)
  await until(() => b.text() === '0123456789', 'b to receive every edit')
  const m2 = await metrics(server)
  assert.equal(m2.get('vault_sync_updates_total'), 10)
  assert.equal(m2.get('vault_sync_fanout_seconds_count'), 10)
  assert.equal(m2.get('vault_sync_fanout_seconds_bucket{le="+Inf"}'), 10)
  assert.ok(m2.get('vault_sync_fanout_seconds_sum') > 0)
  // each update arrived framed (3+ bytes more), and went out to b the same way
  assert.ok(m2.get('vault_sync_received_bytes_total') - m1.get('vault_sync_received_bytes_total') >= bytes + 30)
  assert.ok(m2.get('vault_sync_sent_bytes_total') - m1.get('vault_sync_sent_bytes_total') >= bytes + 30)

  a.destroy()
  b.destroy()
  await until(async () => (await metrics(server)).get('vault_sync_connections') === 0, 'the connections to be gone')
  assert.equal((await metrics(server)).get('vault_sync_documents'), 0)
}))

test('structs waiting for a missing dependency show as pending until it arrives', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Pending.md', '')
  const ws = await rawSocket(server, note, token)
  assert.equal((await metrics(server)).get('vault_pending_structs'), 0)
  // client 2 types "!" after client 1's "i", which the server has not seen (docs/sync.md)
  ws.send(hex('00 02 0a 01 01 02 00 84 01 01 01 21 00'))
  await until(async () => (await metrics(server)).get('vault_pending_structs') === 1, 'one pending struct')
  assert.equal(await server.text(token, note), '')
  // client 1's "hi" arrives: both integrate, nothing waits
  ws.send(hex('00 02 12 01 01 01 00 04 01 07 63 6f 6e 74 65 6e 74 02 68 69 00'))
  await until(async () => (await metrics(server)).get('vault_pending_structs') === 0, 'nothing pending')
  await until(async () => (await server.text(token, note)) === 'hi!', 'the text to be complete')
  ws.close()
  await ws.closed
}))

test('documents unload after --doc-idle-ms unused, never while a connection holds them', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const open = async () => (await metrics(server)).get('vault_open_documents')
  // A provider on the first note holds it open the whole time.
  const held = await server.note(token, vault, '/Held.md', 'held')
  const h = provider(server, token, held)
  await synced(h)
  // Open many notes one after another, through sync and through REST.
  const notes = []
  for (let i = 0; i < 40; i++) {
    const id = await server.note(token, vault, `/Many/${i}.md`, `note ${i}`)
    notes.push(id)
    if (i % 2 === 0) {
      const c = provider(server, token, id)
      await synced(c)
      c.doc.getText('content').insert(0, '# ')
      await until(async () => (await server.text(token, id)) === `# note ${i}`, 'the sync edit to be stored')
      assert.ok(await open() >= 2, 'the held note and this one are open')
      c.destroy()
    } else {
      const get = await server.api('GET', `/api/v1/notes/${id}`, { token })
      const put = await server.api('PUT', `/api/v1/notes/${id}`, {
        token, body: { content: `# note ${i}` }, headers: { 'if-match': get.headers.get('etag') }
      })
      assert.equal(put.status, 200)
    }
  }
  // Memory follows the documents in use: only the held note stays.
  await until(async () => (await open()) === 1 && (await metrics(server)).get('vault_sync_connections') === 1,
    'every unused document to be unloaded')
  // Unloaded documents load again, intact.
  for (let i = 0; i < notes.length; i++) assert.equal(await server.text(token, notes[i]), `# note ${i}`)
  await until(async () => (await open()) === 1, 'the reloaded documents to be unloaded again')
  // The held note was never unloaded under its connection, which still edits it.
  h.doc.getText('content').insert(4, ' on')
  await until(async () => (await server.text(token, held)) === 'held on', 'the held note to take an edit')
  h.destroy()
  await until(async () => (await open()) === 0, 'the last document to be unloaded once its connection left')
}, { args: ['--doc-idle-ms', '200'] }))

test('a document is not unloaded while its commits are in flight', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Slow.md', '')
  // Commits take 600 ms, documents idle out after 50 ms: a document whose connection leaves
  // while its commit is in flight must stay until the commit is answered (ASan would catch a
  // use after free).
  const a = provider(server, token, note)
  await synced(a)
  await until(async () => (await metrics(server)).get('vault_sync_updates_total') === 0, 'a quiet start')
  const before = (await metrics(server)).get('vault_sync_received_bytes_total')
  let bytes = 0
  a.doc.on('update', u => { bytes += u.length })
  a.doc.getText('content').insert(0, 'slow')
  await until(async () => (await metrics(server)).get('vault_sync_received_bytes_total') >= before + bytes + 3, 'the update to arrive')
  a.destroy()
  await until(async () => (await server.text(token, note)) === 'slow', 'the slow commit to land', 30000)
  await until(async () => (await metrics(server)).get('vault_open_documents') === 0, 'the documents to be unloaded')
  assert.equal(await server.text(token, note), 'slow')
}, { args: ['--doc-idle-ms', '50'], env: { VAULT_TEST_COMMIT_DELAY_MS: '600' } }))
