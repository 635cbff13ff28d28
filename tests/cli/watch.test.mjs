// watch.test.mjs - `vn sync --watch`: stays connected, sends a file saved in the folder
// (inotify) and writes what other devices change (server pushes) without another command;
// survives the network going away and coming back; stops cleanly on SIGTERM.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setup, Person, files, write, read, until, yjsView, VaultClient } from './lib.mjs'

test('sync --watch: folder changes go out, server changes come in, live', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  const note = await server.note(ada.token, vault, '/Live.md', 'start\n')
  const a = await ada.clone(vault, 'A')
  const w = ada.start(['sync', '--watch'], { cwd: a })
  t.after(() => { if (w.child.exitCode === null) w.child.kill('SIGKILL') })
  await until(() => w.out.stderr.includes('watching'), 'vn to start watching', 60000)

  // the folder is taken: a second vn refuses instead of racing the first
  const busy = await ada.vn(['sync'], { cwd: a })
  assert.equal(busy.code, 1)
  assert.match(busy.stderr, /another vn is working on/)

  // another device (the real yjs, on the vault channel) edits: the file follows
  const c = new VaultClient(server, vault, ada.token)
  t.after(() => c.destroy())
  await c.connect()
  c.doc(note).getText('content').insert(0, 'from yjs\n')
  await c.settled()
  await until(() => read(a, 'Live.md') === 'from yjs\nstart\n', 'the pushed edit in the file', 60000).catch(e => { throw new Error(e.message + '\n' + w.out.stderr + read(a, 'Live.md')) })

  // the folder changes: a save and a new file reach the server
  write(a, 'Live.md', 'from yjs\nstart\nfrom the folder\n')
  write(a, 'Sub/New.md', 'new while watching\n')
  await until(() => c.text(note) === 'from yjs\nstart\nfrom the folder\n', 'the saved edit on the server', 60000)
  await until(async () => {
    const n = (await server.api('GET', `/api/v1/vaults/${vault}/notes`, { token: ada.token })).body.notes
    return n.some(x => x.path === '/Sub/New.md')
  }, 'the new note on the server', 60000)

  // the network goes away and comes back: edits on both sides meet again
  await proxy.cut()
  write(a, 'Offline.md', 'written while offline\n')
  c.doc(note).getText('content').insert(0, 'yjs again\n')
  await c.settled()
  await until(() => w.out.stderr.includes('offline'), 'vn to notice', 60000)
  await proxy.restore()
  await until(() => read(a, 'Live.md').startsWith('yjs again\n'), 'the edit made meanwhile', 90000)
  await until(async () => {
    const n = (await server.api('GET', `/api/v1/vaults/${vault}/notes`, { token: ada.token })).body.notes
    return n.some(x => x.path === '/Offline.md')
  }, 'the offline note on the server', 90000)

  w.child.kill('SIGTERM')
  const r = await w.done
  assert.equal(r.code, 0, r.stderr)
  assert.equal(existsSync(join(a, '.vault', 'replica.db')), true)
  await ada.sync('A')
  assert.deepEqual(await yjsView(server, vault, ada.token), files(a))
})
