// server.test.mjs - the vn commands that read the server's search index and trash:
// `vn search`, `vn trash` and `vn untrash` (which brings a deleted note, with an edit it got
// while in the trash, back into the folder).
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
