// server.test.mjs - the vn commands that read the server's search index, trash and
// history: `vn search`, `vn trash`, `vn untrash` (which brings a deleted note, with an edit
// it got while in the trash, back into the folder), `vn log`, `vn show`, `vn restore`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { setup, Person, files, write, read, until, yjsView } from './lib.mjs'

test('search finds notes of the folder once synced', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  const a = await ada.clone(vault, 'A')
  write(a, 'Projects/Plan.md', '# Project plan\n\nWe drink café at the meeting.\n')
  write(a, 'Other.md', 'nothing to see\n')
  await ada.sync('A')
  let r
  await until(async () => {
    r = await ada.vn(['search', 'cafe'], { cwd: a })
    return r.code === 0 && r.stdout.includes('Projects/Plan.md')
  }, 'the indexer to index the note', 60000)
  assert.match(r.stdout, /«café»/)
  assert.doesNotMatch(r.stdout, /Other\.md/)
  r = await ada.vn(['search', 'nowhere-to-be-found'], { cwd: a })
  assert.equal(r.code, 0)
  assert.match(r.stdout, /No matches/)
  r = await ada.vn(['search', '"unclosed'], { cwd: a })
  assert.equal(r.code, 7)
  assert.match(r.stderr, /quote/)
  r = await ada.vn(['search'], { cwd: a })
  assert.equal(r.code, 2)
})

test('trash lists what was deleted in the folder; untrash brings it back with its edit', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  await server.note(ada.token, vault, '/Todo.md', 'one\n')
  await server.note(ada.token, vault, '/Keep.md', 'keep\n')
  const a = await ada.clone(vault, 'A')
  const b = await ada.clone(vault, 'B')
  let r = await ada.vn(['trash'], { cwd: a })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /The trash is empty/)
  unlinkSync(join(a, 'Todo.md'))
  await ada.sync('A')
  write(b, 'Todo.md', 'one\ntwo\n') // edited on B while it was being deleted on A
  await ada.sync('B')
  assert.equal(existsSync(join(b, 'Todo.md')), false)
  r = await ada.vn(['trash'], { cwd: a })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /Todo\.md {2}\(edited while in the trash\)/)
  r = await ada.vn(['untrash', 'Todo.md'], { cwd: a })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /Restored Todo\.md from the trash/)
  assert.equal(read(a, 'Todo.md'), 'one\ntwo\n')
  await ada.sync('B')
  assert.deepEqual(files(b), files(a))
  assert.deepEqual(await yjsView(server, vault, ada.token), files(a))
  r = await ada.vn(['untrash', 'Never.md'], { cwd: a })
  assert.equal(r.code, 6)
  assert.match(r.stderr, /not a note of this vault/)
})

test('log lists the versions of a note, show prints one, restore brings its text back', async t => {
  const { server, proxy } = await setup(t, { env: { VAULT_VERSION_IDLE_MS: '200' } })
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  const a = await ada.clone(vault, 'A')
  write(a, 'Essay.md', 'first draft\n')
  await ada.sync('A')
  let r
  const versions = async n => until(async () => {
    r = await ada.vn(['log', 'Essay.md'], { cwd: a })
    return r.code === 0 && r.stdout.trim().split('\n').filter(l => /^\d+ /.test(l)).length === n
  }, `${n} versions of Essay.md`, 60000)
  await versions(1)
  write(a, 'Essay.md', 'second draft, much better\n')
  await ada.sync('A')
  await versions(2)
  assert.match(r.stdout, /^2 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}\S+/m)
  r = await ada.vn(['show', 'Essay.md@1'], { cwd: a })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'first draft\n')
  // from outside the folder: the file's own path finds its vault
  r = await ada.vn(['show', join(a, 'Essay.md') + '@2'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'second draft, much better\n')
  r = await ada.vn(['show', '-C', a, '/Essay.md@2'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'second draft, much better\n')
  r = await ada.vn(['show', 'Essay.md@99'], { cwd: a })
  assert.equal(r.code, 6)
  r = await ada.vn(['show', 'Essay.md'], { cwd: a })
  assert.equal(r.code, 2)
  assert.match(r.stderr, /FILE@VERSION/)
  r = await ada.vn(['log', 'Nope.md'], { cwd: a })
  assert.equal(r.code, 6)
  r = await ada.vn(['restore', 'Essay.md', '1'], { cwd: a })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /Restored Essay\.md to version 1/)
  assert.equal(read(a, 'Essay.md'), 'first draft\n')
  await versions(3)
  assert.match(r.stdout, /restored from version 1/)
  r = await ada.vn(['restore', 'Essay.md', 'x'], { cwd: a })
  assert.equal(r.code, 2)
  assert.deepEqual(await yjsView(server, vault, ada.token), files(a))
})
