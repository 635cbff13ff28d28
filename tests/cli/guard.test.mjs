// guard.test.mjs - the two safety nets of the folder: a file edited while a sync writes
// it is never overwritten (its edit merges on the next round), and a mass deletion does
// not spread to the server without a confirmation.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setup, Person, files, write, read, until, yjsView } from './lib.mjs'

test('a file edited during a sync is not clobbered, and its edit merges next round', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  await server.note(ada.token, vault, '/Journal.md', 'Monday\n')
  const a = await ada.clone(vault, 'A')
  const b = await ada.clone(vault, 'B')
  write(b, 'Journal.md', 'Monday\nTuesday\n')
  await ada.sync('B')
  // A syncs; vn stops right before it replaces Journal.md; the user saves meanwhile
  const pause = mkdtempSync(join(tmpdir(), 'vn-pause-'))
  t.after(() => rmSync(pause, { recursive: true, force: true }))
  const run = ada.start(['sync'], { cwd: a, env: { VN_TEST_PAUSE_DIR: pause } })
  await until(() => existsSync(join(pause, 'paused')), 'vn to reach the write of Journal.md', 60000)
  assert.equal(readFileSync(join(pause, 'paused'), 'utf8'), 'Journal.md')
  write(a, 'Journal.md', 'Sunday\nMonday\n') // the user's edit, made during the sync
  writeFileSync(join(pause, 'resume'), '')
  const r = await run.done
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /1 files changed during the sync were not overwritten/)
  assert.equal(read(a, 'Journal.md'), 'Sunday\nMonday\n') // not clobbered
  assert.equal(readdirHidden(a).length, 0, 'no temporary file left behind')
  // next round: the user's edit and B's merge
  await ada.sync('A')
  assert.equal(read(a, 'Journal.md'), 'Sunday\nMonday\nTuesday\n')
  await ada.sync('B')
  assert.deepEqual(files(b), files(a))
  assert.deepEqual(await yjsView(server, vault, ada.token), files(a))
})

function readdirHidden (dir) {
  return readdirSync(dir).filter(n => n.startsWith('.vn-tmp'))
}

test('the deletion guard stops a mass delete until --yes confirms it', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  for (let i = 0; i < 20; i++) await server.note(ada.token, vault, `/n${i}.md`, `note ${i}\n`)
  const a = await ada.clone(vault, 'A')
  const b = await ada.clone(vault, 'B')
  // a few deletions pass
  unlinkSync(join(a, 'n0.md'))
  unlinkSync(join(a, 'n1.md'))
  await ada.sync('A')
  // 8 of the 18 left (44%): refused, nothing sent, nothing changed
  for (let i = 2; i < 10; i++) unlinkSync(join(a, `n${i}.md`))
  write(a, 'n10.md', 'note 10 edited\n')
  let r = await ada.sync('A', { code: 5 })
  assert.match(r.stderr, /deletion guard: 8 of the 18 notes/)
  assert.match(r.stderr, /--yes/)
  r = await ada.vn(['status'], { cwd: a })
  assert.match(r.stdout, /deleted: +n2\.md/)
  assert.match(r.stdout, /modified: +n10\.md/)
  assert.match(r.stdout, /trip the deletion guard/)
  await ada.sync('B')
  assert.equal(Object.keys(files(b)).length, 18)
  assert.equal(read(b, 'n10.md'), 'note 10\n')
  // confirmed
  r = await ada.sync('A', { args: ['--yes'] })
  await ada.sync('B')
  assert.equal(Object.keys(files(b)).length, 10)
  assert.equal(read(b, 'n10.md'), 'note 10 edited\n')
  assert.deepEqual(await yjsView(server, vault, ada.token), files(a))
  const trash = (await server.api('GET', `/api/v1/vaults/${vault}/notes`, { token: ada.token })).body.notes
  assert.equal(trash.length, 10)
})

test('the guard counts absolute numbers too: 51 deletions in a big vault ask', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  const a = await ada.clone(vault, 'A')
  for (let i = 0; i < 300; i++) write(a, `f/${i}.md`, `${i}\n`)
  await ada.sync('A')
  for (let i = 0; i < 51; i++) unlinkSync(join(a, `f/${i}.md`)) // 17%: under the share, over 50
  const r = await ada.sync('A', { code: 5 })
  assert.match(r.stderr, /deletion guard: 51 of the 300 notes/)
  await ada.sync('A', { args: ['--yes'] })
  assert.equal((await server.api('GET', `/api/v1/vaults/${vault}/notes`, { token: ada.token })).body.notes.length, 249)
})

test('a crash between a write and its record does not apply the remote changes twice', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  await server.note(ada.token, vault, '/Journal.md', 'Monday\n')
  const a = await ada.clone(vault, 'A')
  const b = await ada.clone(vault, 'B')
  write(b, 'Journal.md', 'Monday\nTuesday\n')
  await ada.sync('B')
  const pause = mkdtempSync(join(tmpdir(), 'vn-pause-'))
  t.after(() => rmSync(pause, { recursive: true, force: true }))
  const run = ada.start(['sync'], { cwd: a, env: { VN_TEST_PAUSE_DIR: pause } })
  await until(() => existsSync(join(pause, 'paused')), 'vn to reach the write of Journal.md', 60000)
  run.child.kill('SIGKILL') // the power goes...
  await run.done
  write(a, 'Journal.md', 'Monday\nTuesday\n') // ...right after the rename reached the disk
  for (const n of readdirSync(a)) if (n.startsWith('.vn-tmp')) unlinkSync(join(a, n))
  await ada.sync('A')
  assert.equal(read(a, 'Journal.md'), 'Monday\nTuesday\n')
  await ada.sync('B')
  assert.deepEqual(files(b), files(a))
  assert.deepEqual(await yjsView(server, vault, ada.token), files(a))
})

test('a clone cut short after writing some files: the next sync adopts them, no duplicates', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  for (let i = 0; i < 8; i++) await server.note(ada.token, vault, `/n${i}.md`, `note ${i}\n`)
  const pause = mkdtempSync(join(tmpdir(), 'vn-pause-'))
  t.after(() => rmSync(pause, { recursive: true, force: true }))
  const dir = ada.dir('A')
  const run = ada.start(['clone', vault, dir], { env: { VN_TEST_PAUSE_DIR: pause } })
  const paused = join(pause, 'paused')
  const resume = join(pause, 'resume')
  for (let i = 0; i < 3; i++) { // three files reach the folder...
    await until(() => existsSync(paused), 'vn to reach a write', 60000)
    writeFileSync(resume, '')
    await until(() => !existsSync(resume), 'vn to go on', 60000)
  }
  await until(() => existsSync(paused), 'vn to reach the fourth write', 60000)
  run.child.kill('SIGKILL') // ...then the clone dies before recording them
  await run.done
  for (const n of readdirSync(dir)) if (n.startsWith('.vn-tmp')) unlinkSync(join(dir, n))
  const written = Object.keys(files(dir))
  assert.equal(written.length, 3)
  write(dir, written[0], read(dir, written[0]) + 'edited before the next sync\n')
  await ada.sync('A')
  const notes = (await server.api('GET', `/api/v1/vaults/${vault}/notes`, { token: ada.token })).body.notes
  assert.equal(notes.length, 8, 'no note was created twice')
  assert.equal(Object.keys(files(dir)).length, 8)
  assert.match(read(dir, written[0]), /edited before the next sync/)
  assert.deepEqual(await yjsView(server, vault, ada.token), files(dir))
})
