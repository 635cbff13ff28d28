// basic.test.mjs - vn's commands one by one: login (config mode 0600), vaults,
// create-vault, clone, status, logout, --help, and the errors and exit codes a script
// relies on (bad usage 2, auth 3, unreachable 4, not found 6).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setup, Person, files, write, mode, Proxy } from './lib.mjs'

test('login stores the token in a 0600 file, vaults and create-vault use it, logout removes it', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const cfg = join(ada.config, 'vn', 'config')
  assert.equal(mode(cfg), 0o600)
  assert.equal(mode(join(ada.config, 'vn')), 0o700)
  let r = await ada.vn(['create-vault', 'Team notes'])
  assert.equal(r.code, 0, r.stderr)
  const id = r.stdout.trim()
  assert.match(id, /^[0-9a-f]{32}$/)
  r = await ada.vn(['vaults'])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, new RegExp(`${id}\\s+owner\\s+Team notes`))
  const token = /^token=(.*)$/m.exec(readFileSync(cfg, 'utf8'))[1]
  assert.equal((await server.api('GET', '/api/v1/me', { token })).status, 200)
  r = await ada.vn(['logout'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(existsSync(cfg), false)
  r = await ada.vn(['vaults'])
  assert.equal(r.code, 3)
  assert.match(r.stderr, /not logged in/)
  // the session really ended on the server
  assert.equal((await server.api('GET', '/api/v1/me', { token })).status, 401)
})

test('bad logins, unreachable servers and bad usage give clear errors and exit codes', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  let r = await ada.vn(['login', proxy.url], { env: { VN_EMAIL: 'ada@example.test', VN_PASSWORD: 'wrong password' } })
  assert.equal(r.code, 3)
  assert.match(r.stderr, /wrong email or password/)
  r = await ada.vn(['login', 'ftp://example.test'])
  assert.equal(r.code, 2)
  r = await ada.vn(['login'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /usage: vn login URL/)
  // no terminal, no VN_EMAIL: refuses instead of hanging
  r = await ada.vn(['login', proxy.url], { env: { VN_EMAIL: '', VN_PASSWORD: '' } })
  // an empty email is sent and refused by the server
  assert.notEqual(r.code, 0)
  r = await ada.vn(['frobnicate'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /no command "frobnicate"/)
  // the overview names every command with what it does
  r = await ada.vn(['help'])
  assert.equal(r.code, 0)
  for (const line of ['login URL +sign in', 'clone \\[-v\\] VAULT DIR +download a vault',
    'sync \\[--watch\\].* +send and receive changes', 'untrash FILE +bring a trashed note back']) {
    assert.match(r.stdout, new RegExp('^  ' + line, 'm'))
  }
  r = await ada.vn(['sync', '--bogus'])
  assert.equal(r.code, 2)
  r = await ada.vn(['sync'], { cwd: ada.home })
  assert.equal(r.code, 2)
  assert.match(r.stderr, /not inside a vault folder/)
  r = await ada.vn(['clone', 'No such vault', ada.dir('x')])
  assert.equal(r.code, 6)
  assert.match(r.stderr, /no vault named/)
  assert.equal(existsSync(ada.dir('x')), false)
  // a server that does not answer: exit 4 and a sentence naming it
  const dead = await Proxy.start(server.port)
  await dead.cut()
  r = await ada.vn(['login', dead.url], { env: { VN_EMAIL: 'ada@example.test', VN_PASSWORD: 'correct horse battery' } })
  assert.equal(r.code, 4)
  assert.match(r.stderr, /cannot reach/)
  // the earlier login is untouched by the failed ones
  r = await ada.vn(['vaults'])
  assert.equal(r.code, 0, r.stderr)
  for (const cmd of ['login', 'logout', 'vaults', 'create-vault', 'clone', 'sync', 'status', 'log', 'show', 'restore', 'search', 'trash', 'untrash']) {
    r = await ada.vn([cmd, '--help'])
    assert.equal(r.code, 0, `${cmd} --help: ${r.stderr}`)
    assert.match(r.stdout, new RegExp(`usage: vn ${cmd}`))
  }
  r = await ada.vn(['--help'])
  assert.equal(r.code, 0)
  assert.match(r.stdout, /Exit codes/)
})

test('clone, status and sync: a folder of Markdown, other files left alone, offline capture', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  await server.note(ada.token, vault, '/Projects/Q1/Design.md', '# Design\n\nHello world\n')
  await server.note(ada.token, vault, '/Inbox.md', 'buy milk\n')
  const a = await ada.clone('Notes', 'A')
  assert.deepEqual(files(a), { 'Projects/Q1/Design.md': '# Design\n\nHello world\n', 'Inbox.md': 'buy milk\n' })
  // cloning into a folder that is not empty is refused
  mkdirSync(ada.dir('full'))
  writeFileSync(join(ada.dir('full'), 'x.md'), 'x')
  let r = await ada.vn(['clone', vault, ada.dir('full')])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /not an empty folder/)

  write(a, 'Inbox.md', 'buy milk\nand bread\n')
  write(a, 'New note.md', 'fresh\n')
  write(a, 'photo.png', Buffer.from([0x89, 0x50, 0x4e, 0x47]))
  r = await ada.vn(['status'], { cwd: join(a, 'Projects') })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /modified: +Inbox\.md/)
  assert.match(r.stdout, /new: +New note\.md/)
  assert.match(r.stdout, /photo\.png \(not a Markdown/)
  assert.match(r.stdout, /Server: reachable, signed in as ada@example\.test/)
  // status changed nothing
  assert.equal((await ada.vn(['status'], { cwd: a })).stdout.includes('modified:  Inbox.md'), true)

  // offline: the sync captures the changes, says so, exits 4
  await proxy.cut()
  r = await ada.vn(['status'], { cwd: a })
  assert.match(r.stdout, /Server: unreachable/)
  r = await ada.sync('A', { code: 4 })
  assert.match(r.stderr, /local changes are saved/)
  r = await ada.vn(['status'], { cwd: a })
  assert.match(r.stdout, /Local changes since the last sync:\n {2}none/)
  assert.match(r.stdout, /not yet acknowledged by the server: [1-9]/)
  await proxy.restore()
  await ada.sync('A')
  r = await ada.vn(['status'], { cwd: a })
  assert.doesNotMatch(r.stdout, /not yet acknowledged/)
  const notes = (await server.api('GET', `/api/v1/vaults/${vault}/notes`, { token: ada.token })).body.notes
  assert.deepEqual(notes.map(n => n.path).sort(), ['/Inbox.md', '/New note.md', '/Projects/Q1/Design.md'])
  const inbox = notes.find(n => n.path === '/Inbox.md')
  assert.equal(await server.text(ada.token, inbox.id), 'buy milk\nand bread\n')
  assert.equal(statSync(join(a, 'photo.png')).size, 4) // left alone
  // a folder that is not ours any more: a clear refusal
  const bob = await Person.create(t, server, proxy, 'bob@example.test')
  r = await bob.vn(['sync'], { cwd: a })
  assert.equal(r.code, 6, r.stderr)
  assert.match(r.stderr, /no longer exists on the server, or you are no longer a member/)
})

test('files vn cannot sync are listed and left alone; a viewer\'s edits are refused and kept', async t => {
  const { server, proxy } = await setup(t)
  const ada = await Person.create(t, server, proxy, 'ada@example.test')
  const bob = await Person.create(t, server, proxy, 'bob@example.test')
  const vault = await server.vault(ada.token, 'Notes')
  await server.note(ada.token, vault, '/Shared.md', 'shared\n')
  await server.member(ada.token, vault, 'bob@example.test', 'viewer')
  const a = await ada.clone(vault, 'A')
  write(a, 'bad.md', Buffer.from([0x68, 0x69, 0xff, 0xfe, 0x0a])) // not UTF-8
  write(a, 'Trailing /x.md', 'a folder name ending with a space\n')
  write(a, 'notes.txt', 'plain text, not Markdown\n')
  let r = await ada.vn(['status'], { cwd: a })
  assert.match(r.stdout, /bad\.md \(not UTF-8 text\)/)
  assert.match(r.stdout, /Trailing \/x\.md \(.*space.*\)/)
  assert.match(r.stdout, /notes\.txt \(not a Markdown \(\.md\) file\)/)
  r = await ada.sync('A')
  assert.match(r.stdout, /Up to date/)
  const notes = (await server.api('GET', `/api/v1/vaults/${vault}/notes`, { token: ada.token })).body.notes
  assert.deepEqual(notes.map(n => n.path), ['/Shared.md'])
  assert.deepEqual(Object.keys(files(a)).sort(), ['Shared.md', 'Trailing /x.md', 'bad.md', 'notes.txt'])

  // bob only reads: his clone works, his edit is refused by the server and stays pending
  const b = await bob.clone(vault, 'B')
  assert.deepEqual(files(b), { 'Shared.md': 'shared\n' })
  write(b, 'Shared.md', 'shared\nbob was here\n')
  r = await bob.sync('B', { code: 3 })
  assert.match(r.stderr, /you can only read this vault/)
  r = await bob.vn(['status'], { cwd: b })
  assert.match(r.stdout, /not yet acknowledged by the server: 1/)
  const shared = notes[0].id
  assert.equal(await server.text(ada.token, shared), 'shared\n')
})
