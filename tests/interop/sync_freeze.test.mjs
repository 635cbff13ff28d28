// sync_freeze.test.mjs - frozen documents (src/server/docs.h, docs/sync.md "Open documents in
// memory"): with a tiny freeze time (--doc-freeze-ms 30), every open document freezes between
// two steps of these tests (the vault_docs_frozen gauge says so), and users see nothing of it:
// stock y-websocket providers edit, see each other's edits and presence, go offline and merge
// on reconnect, and a late joiner syncs the whole note; REST GET, PUT, the history's versions
// (rendered from the in-memory document, deleted content included), their diff and restore,
// and search all work on frozen notes; a vault channel client pulls, pushes and is
// acknowledged. Each thaw is counted (vault_docs_thaws_total).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { provider, synced, until, withVault } from './lib/vaultd.mjs'
import { VaultClient } from './lib/vchan.mjs'

const withServer = fn => withVault({
  args: ['--doc-freeze-ms', '30'],
  env: { VAULT_VERSION_IDLE_MS: '100', VAULT_CONSUMER_INTERVAL_MS: '50' }
}, fn)

async function metrics (server) {
  return {
    open: await server.metric('vault_open_documents'),
    frozen: await server.metric('vault_docs_frozen'),
    frozenBytes: await server.metric('vault_docs_frozen_bytes'),
    freezes: await server.metric('vault_docs_freezes_total'),
    thaws: await server.metric('vault_docs_thaws_total')
  }
}

/** Waits until every open document is frozen (at least `atLeast` of them); returns the metrics. */
async function allFrozen (server, atLeast = 1) {
  return until(async () => {
    const m = await metrics(server)
    return m.frozen >= atLeast && m.frozen === m.open ? m : null
  }, 'every open document to be frozen')
}

test('providers edit, see each other and presence, merge offline edits, across freezes', () => withServer(async ({ server, owner, vault }) => {
  const note = await server.note(owner, vault, '/Frozen.md', 'Hello')
  const a = provider(server, owner, note)
  const b = provider(server, owner, note)
  await synced(a)
  await synced(b)
  let m = await allFrozen(server, 2) // the note and the vault's index document
  assert.ok(m.frozenBytes > 0)
  for (let round = 1; round <= 2; round++) {
    const thaws = (await allFrozen(server)).thaws
    a.doc.getText('content').insert(a.text().length, ` a${round}`)
    await until(() => b.text() === a.text(), 'b to receive a\'s edit')
    assert.ok((await metrics(server)).thaws > thaws, 'the edit thawed the note')
    await allFrozen(server)
    b.doc.getText('content').insert(0, `b${round} `)
    await until(() => a.text() === b.text(), 'a to receive b\'s edit')
    await allFrozen(server)
    a.p.awareness.setLocalStateField('user', { name: `Ann ${round}` })
    await until(() => b.p.awareness.getStates().get(a.doc.clientID)?.user?.name === `Ann ${round}`,
      'b to see a\'s presence')
  }
  assert.equal(a.text(), 'b2 b1 Hello a1 a2')

  // Offline on both sides of a freeze: a's batch and b's edits merge on reconnect.
  a.p.disconnect()
  for (let i = 0; i < 20; i++) a.doc.getText('content').insert(0, `${i % 10}`)
  b.doc.getText('content').insert(b.text().length, ' online')
  await until(async () => (await server.text(owner, note)).endsWith(' online'), 'b\'s edit to be stored')
  await allFrozen(server)
  a.p.connect()
  await until(() => a.text() === b.text() && a.text().length === 'b2 b1 Hello a1 a2 online'.length + 20,
    'the offline batch and the online edit to merge')

  // A late joiner syncs the whole note from a frozen document.
  await allFrozen(server)
  const c = provider(server, owner, note)
  await synced(c)
  await until(() => c.text() === a.text(), 'the late joiner to have the whole note')
  await allFrozen(server)
  assert.equal(await server.text(owner, note), a.text())
  for (const p of [a, b, c]) assert.deepEqual(p.p.closes, [])
  m = await metrics(server)
  assert.ok(m.freezes >= 8 && m.thaws >= 7, JSON.stringify(m))
  for (const p of [a, b, c]) p.destroy()
}))

test('REST, versions with deleted content, diff, restore and search work on frozen notes', () => withServer(async ({ server, owner, vault }) => {
  const note = await server.note(owner, vault, '/Poem.md', 'Hello world\n')
  const versions = async () => (await server.api('GET', `/api/v1/notes/${note}/versions`, { token: owner })).body.versions
  await until(async () => (await versions()).length === 1, 'the first version')
  const a = provider(server, owner, note)
  await synced(a)
  a.doc.getText('content').insert(6, 'zephyrous ')
  await until(async () => (await versions()).length === 2, 'the second version')
  a.doc.getText('content').delete(6, 10) // the words stay only in the document's deleted content
  await until(async () => (await versions()).length === 3, 'the third version')
  await until(async () => (await server.text(owner, note)) === 'Hello world\n', 'the deletion to be stored')

  await allFrozen(server)
  const v2 = await server.api('GET', `/api/v1/notes/${note}/versions/2`, { token: owner })
  assert.equal(v2.status, 200)
  assert.equal(v2.body.content, 'Hello zephyrous world\n')
  await allFrozen(server)
  const diff = await server.api('GET', `/api/v1/notes/${note}/versions/2/diff`, { token: owner })
  assert.equal(diff.status, 200)
  assert.match(diff.body.diff, /^-Hello zephyrous world$/m)
  assert.match(diff.body.diff, /^\+Hello world$/m)

  await allFrozen(server)
  const got = await server.api('GET', `/api/v1/notes/${note}`, { token: owner })
  assert.equal(got.status, 200)
  assert.equal(got.body.content, 'Hello world\n')
  await allFrozen(server)
  const put = await server.api('PUT', `/api/v1/notes/${note}`, {
    token: owner, body: { content: 'Hello quiet world\n' }, headers: { 'if-match': got.headers.get('etag') }
  })
  assert.equal(put.status, 200, JSON.stringify(put.body))
  await until(() => a.text() === 'Hello quiet world\n', 'the provider to see the PUT')

  await allFrozen(server)
  const restored = await server.api('POST', `/api/v1/notes/${note}/versions/2/restore`, { token: owner })
  assert.equal(restored.status, 200, JSON.stringify(restored.body))
  await until(() => a.text() === 'Hello zephyrous world\n', 'the provider to see the restore')

  await allFrozen(server)
  const found = await until(async () => {
    const r = await server.api('GET', `/api/v1/vaults/${vault}/search?q=zephyrous`, { token: owner })
    assert.equal(r.status, 200)
    return r.body.results.some(x => x.id === note) ? r.body : null
  }, 'search to find the restored word')
  assert.ok(found)
  assert.deepEqual(a.p.closes, [])
  a.destroy()
}))

test('a vault channel client pulls, pushes and is acknowledged on frozen documents', () => withServer(async ({ server, owner, vault }) => {
  const note = await server.note(owner, vault, '/Channel.md', 'one')
  const a = provider(server, owner, note) // holds the note open, so it freezes rather than closes
  await synced(a)
  await allFrozen(server, 2)
  const c = new VaultClient(server, vault, owner)
  await c.connect()
  await until(() => c.text(note) === 'one', 'the channel to pull the note')
  await allFrozen(server)
  c.doc(note).getText('content').insert(3, ' two')
  await c.settled()
  await until(() => a.text() === 'one two', 'the provider to see the channel\'s edit')
  await allFrozen(server)
  const created = c.createNote('/Made offline.md', 'three')
  await c.settled()
  await until(async () => (await server.text(owner, created)) === 'three', 'the new note to be stored')
  await allFrozen(server)
  a.doc.getText('content').insert(0, 'zero ')
  await until(() => c.text(note) === 'zero one two', 'the channel to be pushed the provider\'s edit')
  c.destroy()
  a.destroy()
}))
