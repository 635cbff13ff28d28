// merge.test.mjs - concurrent changes in two folders merge and nothing is lost:
// the DESIGN.md example done with a text editor's whole-file rewrite, a rename on one
// side with an edit on the other, a delete on one side with an edit on the other, and
// two new files at one path. After each case both folders hold what Yjs (the real
// `yjs` package, reading the server's documents) renders for the vault.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setup, Person, files, write, rewrite, read, yjsView, VaultClient } from './lib.mjs'

async function twoFolders (t, contents) {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  for (const [path, text] of Object.entries(contents)) await server.note(ada.token, vault, path, text)
  const a = await ada.clone(vault, 'A')
  const b = await ada.clone(vault, 'B')
  return { server, ada, vault, a, b }
}

async function converge (ada, server, vault) {
  await ada.sync('A')
  await ada.sync('B')
  await ada.sync('A')
  const fa = files(ada.dir('A'))
  assert.deepEqual(files(ada.dir('B')), fa, 'both folders hold the same files')
  assert.deepEqual(await yjsView(server, vault, ada.token), fa, 'the folders hold what Yjs renders')
  return fa
}

test('DESIGN.md: "Hello world" + "beautiful " on A + "world" -> "universe" by a whole-file rewrite on B', async t => {
  const { server, ada, vault, a, b } = await twoFolders(t, { '/Greeting.md': 'Hello world' })
  write(a, 'Greeting.md', 'Hello beautiful world')
  await rewrite(b, 'Greeting.md', 'Hello universe')
  const f = await converge(ada, server, vault)
  assert.equal(f['Greeting.md'], 'Hello beautiful universe')
})

test('rename on one side, edit on the other: one file at the new path with the edit', async t => {
  const { server, ada, vault, a, b } = await twoFolders(t, { '/Plans/Q1.md': '# Q1\n\ngoals\n' })
  await rewrite(a, 'Plans/Q1 2027.md', read(a, 'Plans/Q1.md'))
  const { unlinkSync } = await import('node:fs')
  unlinkSync(join(a, 'Plans/Q1.md'))
  write(b, 'Plans/Q1.md', '# Q1\n\ngoals\nship vn\n')
  const f = await converge(ada, server, vault)
  assert.deepEqual(f, { 'Plans/Q1 2027.md': '# Q1\n\ngoals\nship vn\n' })
  assert.equal(existsSync(join(b, 'Plans/Q1.md')), false)
})

test('delete on one side, edit on the other: the edit is kept with the note in the trash', async t => {
  const { server, ada, vault, a, b } = await twoFolders(t, { '/Todo.md': 'one\n', '/Keep.md': 'keep\n' })
  const { unlinkSync } = await import('node:fs')
  unlinkSync(join(a, 'Todo.md'))
  await ada.sync('A') // the delete reaches the server first
  const listed = (await server.api('GET', `/api/v1/vaults/${vault}/notes`, { token: ada.token })).body.notes
  assert.deepEqual(listed.map(n => n.path), ['/Keep.md'])
  write(b, 'Todo.md', 'one\ntwo\n') // B edits offline, not knowing
  const r = await ada.sync('B')
  assert.match(r.stdout, /Todo\.md was deleted on another device while you edited it: your edit is kept with it in the trash/)
  const f = await converge(ada, server, vault)
  assert.deepEqual(f, { 'Keep.md': 'keep\n' })
  // the trashed note holds B's edit (read with the real yjs from the server's documents)
  const c = new VaultClient(server, vault, ada.token)
  try {
    await c.connect()
    let id = null
    c.files().forEach((m, k) => { if (m.get('path') === '/Todo.md') id = k })
    assert.ok(id)
    assert.equal(typeof c.files().get(id).get('trashed'), 'number')
    assert.equal(c.text(id), 'one\ntwo\n')
  } finally {
    c.destroy()
  }
})

test('delete on one side with no edit on the other: the file goes on both', async t => {
  const { server, ada, vault, a } = await twoFolders(t, { '/Old.md': 'old\n', '/Keep.md': 'keep\n' })
  const { unlinkSync } = await import('node:fs')
  unlinkSync(join(a, 'Old.md'))
  const f = await converge(ada, server, vault)
  assert.deepEqual(f, { 'Keep.md': 'keep\n' })
})

test('two new files at one path: both kept, the later one with a deterministic suffix', async t => {
  const { server, ada, vault, a, b } = await twoFolders(t, {})
  write(a, 'Ideas.md', 'from A\n')
  await ada.sync('A')
  write(b, 'Ideas.md', 'from B\n') // B created its own before hearing of A's
  // B's sync: B's new file is captured first, then A's arrives at the same path
  await ada.sync('B')
  const f = await converge(ada, server, vault)
  const names = Object.keys(f).sort()
  assert.equal(names.length, 2)
  assert.equal(f['Ideas.md'], 'from A\n') // the earlier one keeps the name
  assert.match(names[0], /^Ideas \([0-9a-f]{8}\)\.md$/)
  assert.equal(f[names[0]], 'from B\n')
})
