// train.test.mjs - the train scenario of the vn issue: laptop A goes offline and edits
// many notes for a long while (several offline `vn sync` rounds, each captured into the
// replica), creates, renames and deletes some; desktop B edits some of the same notes
// online; A comes back and syncs. Both folders end identical, every edit of both sides is
// there, and the texts are exactly what the real Yjs renders from the server's documents.
// On both storage backends (SQLite, and a throwaway PostgreSQL from scripts/pg-test.sh).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { renameSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { setup, Person, Proxy, files, write, read, yjsView } from './lib.mjs'
import { TestPostgres } from '../interop/lib/pg.mjs'

const body = i => `# Note ${i}\n\nfirst line of ${i}\nsecond line of ${i}\nthird line of ${i}\n`

function insertAfterLine (text, n, line) {
  const lines = text.split('\n')
  lines.splice(n, 0, line)
  return lines.join('\n')
}

let pg = null
before(() => { pg = TestPostgres.start() })
after(() => pg?.stop())

test('train: A offline for many rounds, B online on the same notes, A syncs: nothing lost (SQLite)', async t => {
  await train(t, {})
})

test('train on PostgreSQL', async t => {
  await train(t, { database: pg.database() })
})

async function train (t, backend) {
  const { server, proxy: proxyB } = await setup(t, backend)
  const proxyA = await Proxy.start(server.port)
  t.after(() => proxyA.close())
  const laptop = await Person.create(t, server, proxyA, 'ada@example.test')
  const desktop = await Person.create(t, server, proxyB, 'ada@example.test', { register: false })
  const token = laptop.token
  const vault = await server.vault(token, 'Notes')
  for (let i = 0; i < 40; i++) await server.note(token, vault, `/notes/${i}.md`, body(i))
  const a = await laptop.clone(vault, 'A')
  const b = await desktop.clone(vault, 'B')
  const want = {} // note name -> lines that must be in the final text

  await proxyA.cut() // the train leaves the station
  // round 1 offline: edits in the middle of notes 0..19, five new notes, three renames
  for (let i = 0; i < 20; i++) {
    write(a, `notes/${i}.md`, insertAfterLine(read(a, `notes/${i}.md`), 3, `A was here in ${i}`))
    want[i] = [`A was here in ${i}`]
  }
  for (let i = 0; i < 5; i++) write(a, `new/${i}.md`, `# New ${i}\nwritten on the train\n`)
  renameSync(join(a, 'notes/30.md'), join(a, 'notes/thirty.md'))
  renameSync(join(a, 'notes/31.md'), join(a, 'archive/31.md'.replace('archive/', 'notes/archived-')))
  renameSync(join(a, 'notes/5.md'), join(a, 'notes/five.md')) // renamed after being edited
  let r = await laptop.sync('A', { code: 4 })
  assert.match(r.stderr, /local changes are saved/)
  // round 2 offline, an hour later: more edits (some of the same notes again), a delete
  for (let i = 10; i < 25; i++) {
    const name = i === 5 ? 'five' : String(i)
    write(a, `notes/${name}.md`, read(a, `notes/${name}.md`) + `A again in ${i}\n`)
    ;(want[i] ??= []).push(`A again in ${i}`)
  }
  unlinkSync(join(a, 'notes/39.md'))
  await laptop.sync('A', { code: 4 })

  // meanwhile B works online on notes 15..34 (overlapping A's 15..24 and the renamed 30, 31)
  for (let i = 15; i < 35; i++) {
    write(b, `notes/${i}.md`, `B first in ${i}\n` + read(b, `notes/${i}.md`))
    ;(want[i] ??= []).push(`B first in ${i}`)
    if (i % 5 === 0) await desktop.sync('B')
  }
  await desktop.sync('B')

  await proxyA.restore() // back online
  r = await laptop.sync('A')
  assert.match(r.stdout, /Sent \d+ local changes/)
  await desktop.sync('B')
  await laptop.sync('A')
  const fa = files(a)
  assert.deepEqual(files(b), fa, 'both folders are identical')
  assert.deepEqual(await yjsView(server, vault, token), fa, 'the texts are what Yjs merges')

  // nothing lost: every line of both sides is there
  const nameOf = i => i === 5 ? 'notes/five.md' : i === 30 ? 'notes/thirty.md' : i === 31 ? 'notes/archived-31.md' : `notes/${i}.md`
  for (let i = 0; i < 39; i++) {
    const text = fa[nameOf(i)]
    assert.ok(text !== undefined, `${nameOf(i)} exists`)
    for (const line of body(i).split('\n')) assert.ok(text.includes(line), `${nameOf(i)} keeps "${line}"`)
    for (const line of want[i] ?? []) assert.ok(text.includes(line), `${nameOf(i)} has "${line}"`)
  }
  assert.equal(fa['notes/39.md'], undefined, 'the note deleted on the train is gone')
  for (let i = 0; i < 5; i++) assert.equal(fa[`new/${i}.md`], `# New ${i}\nwritten on the train\n`)
  assert.equal(Object.keys(fa).length, 39 + 5)
  // A's edit sits in the middle, B's line on top: the merge is character-wise
  assert.ok(fa['notes/15.md'].startsWith('B first in 15\n# Note 15\n\nfirst line of 15\nA was here in 15\n'), fa['notes/15.md'])
}

test('a device back after a long time exchanges only what changed, not the vault', async t => {
  const { server, proxy: proxyS } = await setup(t)
  const proxyC = await Proxy.start(server.port)
  t.after(() => proxyC.close())
  const desk = await Person.create(t, server, proxyS, 'ada@example.test')
  const laptop = await Person.create(t, server, proxyC, 'ada@example.test', { register: false })
  const vault = await server.vault(desk.token, 'Notes')
  const s = await desk.clone(vault, 'S')
  for (let i = 0; i < 300; i++) write(s, `n/${i}.md`, body(i).repeat(20))
  await desk.sync('S')
  let before = proxyC.bytesUp + proxyC.bytesDown
  const c = await laptop.clone(vault, 'C')
  const cloneBytes = proxyC.bytesUp + proxyC.bytesDown - before
  await proxyC.cut() // a week away
  for (let i = 0; i < 3; i++) write(c, `n/${i}.md`, read(c, `n/${i}.md`) + 'from the laptop\n')
  await laptop.sync('C', { code: 4 })
  for (let i = 100; i < 103; i++) write(s, `n/${i}.md`, 'from the desk\n' + read(s, `n/${i}.md`))
  await desk.sync('S')
  await proxyC.restore()
  before = proxyC.bytesUp + proxyC.bytesDown
  await laptop.sync('C')
  const syncBytes = proxyC.bytesUp + proxyC.bytesDown - before
  await desk.sync('S')
  assert.deepEqual(files(c), files(s))
  // 6 changed notes out of 300: a few KB against the clone's hundreds of KB
  assert.ok(syncBytes * 50 < cloneBytes, `sync ${syncBytes} bytes vs clone ${cloneBytes} bytes`)
})
