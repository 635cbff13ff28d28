// trash_history.test.mjs - trash and history against the stock y-websocket
// provider: an edit made offline to a note that was trashed meanwhile is
// delivered when the provider reconnects (the note stays in the trash,
// marked as edited there, and a restore shows the edit); a restored version
// reaches a connected provider and merges with its own edits.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Vaultd, provider, synced, until } from './lib/vaultd.mjs'

async function withServer (opts, fn) {
  const server = await Vaultd.start(opts)
  try {
    await fn(server)
    await server.stop()
  } finally {
    await server.dispose()
  }
}

test('an offline edit reaches a note trashed meanwhile, which stays in the trash', () => withServer({}, async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Draft.md', 'Hello world\n')
  const a = provider(server, token, note)
  await synced(a)
  a.p.disconnect()
  a.doc.getText('content').insert(12, 'written on the train\n')
  // Meanwhile another device trashes the note.
  const del = await server.api('DELETE', `/api/v1/notes/${note}`, { token })
  assert.equal(del.status, 204)
  a.p.connect()
  const item = await until(async () => {
    const r = await server.api('GET', `/api/v1/vaults/${vault}/trash`, { token })
    const it = r.body.trash.find(t => t.id === note)
    return it && it.editedInTrash ? it : null
  }, 'the trash to show the offline edit')
  assert.equal(item.path, '/Draft.md')
  assert.equal((await server.api('GET', `/api/v1/notes/${note}`, { token })).status, 404)
  const live = await server.api('GET', `/api/v1/vaults/${vault}/notes`, { token })
  assert.deepEqual(live.body.notes, [])
  const restored = await server.api('POST', `/api/v1/notes/${note}/restore`, { token })
  assert.equal(restored.status, 200)
  assert.equal(await server.text(token, note), 'Hello world\nwritten on the train\n')
  assert.equal(a.text(), 'Hello world\nwritten on the train\n')
  a.destroy()
}))

test('a restored version reaches a connected provider and merges with its edits', () => withServer({ env: { VAULT_VERSION_IDLE_MS: '100' } }, async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Poem.md', 'roses are red\n')
  const versions = async () => (await server.api('GET', `/api/v1/notes/${note}/versions`, { token })).body.versions
  await until(async () => (await versions()).length === 1, 'the first version')
  const a = provider(server, token, note)
  await synced(a)
  a.doc.getText('content').insert(14, 'violets are blue\n')
  await until(async () => (await versions()).length === 2, 'the second version')
  const r = await server.api('POST', `/api/v1/notes/${note}/versions/1/restore`, { token })
  assert.equal(r.status, 200)
  await until(() => a.text() === 'roses are red\n', 'the provider to see the restored text')
  a.doc.getText('content').insert(0, '# Poem\n')
  await until(async () => (await server.text(token, note)) === '# Poem\nroses are red\n', 'REST to see the merge')
  const vs = await until(async () => {
    const v = await versions()
    return v.length >= 3 ? v : null
  }, 'the restore to be a version')
  assert.ok(vs.some(v => v.restoredFrom === 1))
  a.destroy()
}))
