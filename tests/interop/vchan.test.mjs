// vchan.test.mjs - the vault channel (GET /api/v1/vaults/{vault}/sync, docs/sync.md) against a
// real vaultd, on SQLite and on a real PostgreSQL (scripts/pg-test.sh): HELLO/CHANGED since 0
// and since N, STEP1/STEP2, UPDATE -> ACK with the commit's seq (and the update survives a
// SIGKILL right after the ACK), pushes between vault channels, y-websocket providers and REST
// in seq order, notes created and renamed offline through the index document, refusals (bad
// index change, viewer, missing dependencies, unknown note) that change nothing, strangers
// refused like missing vaults, malformed messages closing only their own connection, a
// long-offline client that receives only what changed, and versions of channel edits naming
// their author.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { Vaultd, provider, synced, until, sleep } from './lib/vaultd.mjs'
import { TestPostgres } from './lib/pg.mjs'
import { VaultClient, openChannel, encodeHello, encodeStep1, encodeUpdate, E } from './lib/vchan.mjs'

let pg = null
before(() => { pg = TestPostgres.start() })
after(() => { if (pg) pg.stop() })

const backends = ['sqlite', 'postgres']

async function setup (backend, env = {}) {
  const server = await Vaultd.start(backend === 'postgres' ? { database: pg.database(), env } : { env })
  const owner = await server.user('owner@example.com')
  const vault = await server.vault(owner)
  return { server, owner, vault }
}

/** Runs fn on a fresh server of `backend`; stops it cleanly (no sanitizer report) at the end. */
async function withServer (backend, fn, env = {}) {
  const s = await setup(backend, env)
  const clients = []
  s.client = (token = s.owner) => {
    const c = new VaultClient(s.server, s.vault, token)
    clients.push(c)
    return c
  }
  try {
    await fn(s)
    for (const c of clients) c.destroy()
    await s.server.stop()
  } catch (e) {
    e.message += `\nvaultd stderr (tail):\n${s.server.stderr.slice(-3000)}`
    throw e
  } finally {
    for (const c of clients) c.destroy()
    await s.server.dispose()
  }
}

async function vaultSeq (s) {
  const r = await s.server.api('GET', `/api/v1/vaults/${s.vault}`, { token: s.owner })
  assert.equal(r.status, 200)
  return r.body.seq
}

async function listNotes (s) {
  const r = await s.server.api('GET', `/api/v1/vaults/${s.vault}/notes`, { token: s.owner })
  assert.equal(r.status, 200)
  return r.body.notes
}

/** Strictly increasing. */
function assertIncreasing (seqs, what) {
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `${what}: ${seqs.join(',')}`)
}

for (const backend of backends) {
  test(`${backend}: HELLO since 0 lists the index first, then notes by seq; since N only what changed`, () => withServer(backend, async s => {
    const a = await s.server.note(s.owner, s.vault, '/A.md', '# Alpha')
    const b = await s.server.note(s.owner, s.vault, '/B.md', 'beta')
    const seq = await vaultSeq(s)
    const c = s.client()
    const changed = await c.connect()
    assert.equal(changed.seq, seq)
    assert.deepEqual(changed.docs.map(d => d.doc), [s.vault, a, b])
    assert.ok(changed.docs[0].seq === seq) // the index was written last
    assert.ok(changed.docs[1].seq < changed.docs[2].seq)
    assert.equal(c.text(a), '# Alpha')
    assert.equal(c.text(b), 'beta')
    assert.equal(c.files().get(a).get('path'), '/A.md')
    assert.equal(c.files().get(b).get('kind'), 'note')

    // A REST edit of b only: since = seq lists b alone.
    const cur = await s.server.api('GET', `/api/v1/notes/${b}`, { token: s.owner })
    const put = await s.server.api('PUT', `/api/v1/notes/${b}`, { token: s.owner, body: { content: 'beta 2' }, headers: { 'if-match': cur.headers.get('etag') } })
    assert.equal(put.status, 200)
    const ws = await openChannel(s.server, s.vault, s.owner)
    ws.send(encodeHello(seq))
    const ch2 = await ws.next(m => m.type === 'changed')
    assert.deepEqual(ch2.docs.map(d => d.doc), [b])
    assert.equal(ch2.seq, seq + 1)
    assert.equal(ch2.docs[0].seq, seq + 1)
    // HELLO again is answered again; since = current lists nothing
    ws.send(encodeHello(ch2.seq))
    const ch3 = await ws.next(m => m.type === 'changed')
    assert.deepEqual(ch3.docs, [])
    assert.equal(ch3.seq, seq + 1)
    // STEP1 with an empty state vector: the whole note
    ws.send(encodeStep1(b, new Uint8Array([0])))
    const st2 = await ws.next(m => m.type === 'step2')
    const d = new Y.Doc()
    Y.applyUpdate(d, st2.update)
    assert.equal(d.getText('content').toString(), 'beta 2')
    // zero bytes count as the empty state vector
    ws.send(encodeStep1(b, new Uint8Array(0)))
    const st0 = await ws.next(m => m.type === 'step2')
    assert.deepEqual(st0.update, st2.update)
    // STEP1 with the full state vector: nothing more
    ws.send(encodeStep1(b, Y.encodeStateVector(d)))
    const st3 = await ws.next(m => m.type === 'step2')
    const d2 = new Y.Doc()
    Y.applyUpdate(d2, st3.update)
    assert.equal(d2.getText('content').toString(), '')
    ws.close()
  }))

  test(`${backend}: UPDATE is acknowledged with its commit's seq, and survives a SIGKILL right after the ACK`, () => withServer(backend, async s => {
    const n = await s.server.note(s.owner, s.vault, '/Crash.md', '')
    const c = s.client()
    await c.connect()
    for (let round = 0; round < 5; round++) {
      c.doc(n).getText('content').insert(c.text(n).length, `line ${round}\n`)
      await c.settled()
      const ackSeq = c.seqs[c.seqs.length - 1]
      assert.equal(await vaultSeq(s), ackSeq) // the ACK carries the seq the commit got
      c.disconnect()
      await s.server.crash() // SIGKILL: nothing after the ACK may be needed for durability
      assert.equal(await s.server.text(s.owner, n), c.text(n))
      await c.connect()
    }
    assert.equal(await s.server.text(s.owner, n), 'line 0\nline 1\nline 2\nline 3\nline 4\n')
    assertIncreasing(c.seqs, 'ACK seqs')
  }))

  test(`${backend}: commits reach every vault channel, y-websocket provider and REST reader, in seq order`, () => withServer(backend, async s => {
    const n = await s.server.note(s.owner, s.vault, '/Shared.md', 'start')
    const a = s.client()
    const b = s.client()
    await a.connect()
    await b.connect()
    const p = provider(s.server, s.owner, n)
    await synced(p)
    const want = () => a.text(n) === b.text(n) && b.text(n) === p.text()

    // vault channel -> the other channel and the provider
    a.doc(n).getText('content').insert(5, ' A')
    await a.settled()
    await until(() => b.text(n) === 'start A' && p.text() === 'start A', 'the channel edit to spread')
    // provider -> both channels
    p.doc.getText('content').insert(0, 'P ')
    await until(() => a.text(n) === 'P start A' && b.text(n) === 'P start A', 'the provider edit to reach channels')
    // REST -> both channels and the provider
    const cur = await s.server.api('GET', `/api/v1/notes/${n}`, { token: s.owner })
    const put = await s.server.api('PUT', `/api/v1/notes/${n}`, { token: s.owner, body: { content: 'P start A R' }, headers: { 'if-match': cur.headers.get('etag') } })
    assert.equal(put.status, 200)
    await until(() => want() && a.text(n) === 'P start A R', 'the REST edit to reach everyone')
    // a REST-created note reaches the channels: its content and its index entry
    const m = await s.server.note(s.owner, s.vault, '/New.md', '# New')
    await until(() => a.files().has(m) && b.text(m) === '# New' && a.text(m) === '# New', 'a REST-created note to be pushed')

    // a burst from everyone at once
    for (let i = 0; i < 20; i++) {
      a.doc(n).getText('content').insert(0, 'a')
      b.doc(n).getText('content').insert(0, 'b')
      p.doc.getText('content').insert(0, 'p')
    }
    await a.settled()
    await b.settled()
    await until(async () => want() && (await s.server.text(s.owner, n)) === a.text(n), 'everyone to converge')
    assert.equal(a.text(n).length, 'P start A R'.length + 60)
    assertIncreasing(a.seqs, 'seqs seen by a')
    assertIncreasing(b.seqs, 'seqs seen by b')
    assert.equal(Math.max(...a.seqs, 0), await vaultSeq(s))
    p.destroy()
  }))

  test(`${backend}: an offline client creates, fills and renames notes through the index document`, () => withServer(backend, async s => {
    const c = s.client()
    await c.connect()
    c.disconnect()
    // offline: two notes with content, one renamed, one trashed
    const x = c.createNote('/Inbox/Idea.md', '# Big idea\nbody')
    const y = c.createNote('/Inbox/Scratch.md', 'scratch')
    c.files().get(x).set('path', '/Projects/Idea.md')
    c.files().get(y).set('trashed', Date.now())
    assert.ok(c.pending.length >= 4)
    const other = s.client()
    await other.connect()
    await c.connect()
    await c.settled()
    const notes = await listNotes(s)
    assert.deepEqual(notes.map(f => [f.id, f.path, f.title]), [[x, '/Projects/Idea.md', 'Big idea']])
    assert.equal(await s.server.text(s.owner, x), '# Big idea\nbody')
    const trashed = await s.server.api('GET', `/api/v1/notes/${y}`, { token: s.owner })
    assert.equal(trashed.status, 404) // trashed notes are gone from REST
    // the other channel saw it all
    await until(() => other.text(x) === '# Big idea\nbody' && other.files().get(x)?.get('path') === '/Projects/Idea.md', 'the other channel to see the new note')
    // a rename online, then a REST rename: both ways
    c.files().get(x).set('path', '/Done/Idea.md')
    await c.settled()
    assert.equal((await listNotes(s))[0].path, '/Done/Idea.md')
    const patch = await s.server.api('PATCH', `/api/v1/notes/${x}`, { token: s.owner, body: { path: '/Archive/Idea.md' } })
    assert.equal(patch.status, 200)
    await until(() => c.files().get(x).get('path') === '/Archive/Idea.md', 'the REST rename to be pushed')
    // an edit through REST of the note the channel created
    await until(async () => (await listNotes(s))[0].path === '/Archive/Idea.md', 'the projection')
  }))

  test(`${backend}: a bad index change is refused with ERROR 4 and changes nothing`, () => withServer(backend, async s => {
    const n = await s.server.note(s.owner, s.vault, '/Keep.md', 'keep')
    const c = s.client()
    await c.connect()
    const seq = await vaultSeq(s)
    const bad = [
      ['../etc/passwd', 'note'], ['/a//b.md', 'note'], ['/ends/', 'note'], ['relative.md', 'note'],
      ['/ok.md', 'folder']
    ]
    for (const [path, kind] of bad) {
      const before = c.pending.length
      c.index.transact(() => {
        const m = new Y.Map()
        c.files().set('0123456789abcdef0123456789abcdef', m)
        m.set('path', path)
        m.set('kind', kind)
        m.set('created', 1)
      })
      assert.equal(c.pending.length, before + 1)
      const ref = c.pending[c.pending.length - 1].ref
      await until(() => c.errors.some(e => e.ref === ref), `the refusal of ${path}`)
      const err = c.errors.find(e => e.ref === ref)
      assert.equal(err.code, E.BAD_INDEX)
      assert.equal(err.doc, s.vault)
      assert.ok(err.reason.length > 0)
      // drop the refused change locally: start over from the server's index
      c.pending = c.pending.filter(p => p.ref !== ref)
      c.docs.get(s.vault).destroy()
      c.docs.delete(s.vault)
      c.disconnect()
      c.since = 0
      await c.connect()
    }
    // a rename of an existing note to a bad path, and removing an entry
    c.files().get(n).set('path', '/x/../y.md')
    await until(() => c.errors.length === bad.length + 1, 'the bad rename refusal')
    assert.equal(c.errors.at(-1).code, E.BAD_INDEX)
    assert.equal(await vaultSeq(s), seq)
    assert.deepEqual((await listNotes(s)).map(f => f.path), ['/Keep.md'])
    const fresh = s.client()
    await fresh.connect()
    assert.deepEqual([...fresh.files().keys()], [n])
    assert.equal(fresh.files().get(n).get('path'), '/Keep.md')
    fresh.files().delete(n)
    await until(() => fresh.errors.length === 1, 'the removal refusal')
    assert.equal(fresh.errors[0].code, E.BAD_INDEX)
    assert.equal(await vaultSeq(s), seq)
  }))

  test(`${backend}: a viewer reads and is pushed to, but its UPDATE gets ERROR 1 and the connection stays`, () => withServer(backend, async s => {
    const n = await s.server.note(s.owner, s.vault, '/Shared.md', 'hello')
    const viewer = await s.server.user('viewer@example.com')
    await s.server.member(s.owner, s.vault, 'viewer@example.com', 'viewer')
    const v = s.client(viewer)
    await v.connect()
    assert.equal(v.text(n), 'hello')
    const seq = await vaultSeq(s)
    v.doc(n).getText('content').insert(0, 'VIEWER ')
    await until(() => v.errors.length === 1, 'the refusal')
    assert.equal(v.errors[0].code, E.READ_ONLY)
    assert.equal(v.errors[0].doc, n)
    v.createNote('/Viewer.md', 'no')
    await until(() => v.errors.length === 3, 'the refusals of the new note')
    assert.ok(v.errors.every(e => e.code === E.READ_ONLY))
    assert.equal(await vaultSeq(s), seq)
    assert.equal(await s.server.text(s.owner, n), 'hello')
    // still connected: pushes arrive
    const e = s.client()
    await e.connect()
    e.doc(n).getText('content').insert(5, '!')
    await e.settled()
    await until(() => v.text(n).endsWith('hello!'), 'the viewer to receive the edit')
    assert.equal(v.ws.readyState, 1)
  }))

  test(`${backend}: strangers, anonymous callers and missing vaults are refused before the upgrade`, () => withServer(backend, async s => {
    const stranger = await s.server.user('stranger@example.com')
    const err = await openChannel(s.server, s.vault, stranger).catch(e => e)
    assert.equal(err.status, 404)
    const missing = await openChannel(s.server, 'ffffffffffffffffffffffffffffffff', s.owner).catch(e => e)
    assert.equal(missing.status, 404)
    assert.equal(err.body, missing.body) // no existence leak
    const anon = await openChannel(s.server, s.vault, null).catch(e => e)
    assert.equal(anon.status, 401)
    const plain = await s.server.api('GET', `/api/v1/vaults/${s.vault}/sync`, { token: s.owner })
    assert.equal(plain.status, 400)
    const viaQuery = await openChannel(s.server, `${s.vault}?token=x`, null).catch(e => e)
    assert.equal(viaQuery.status, 401)
  }))
}

// The server skips rebuilding a note's text for its title while the text
// holds no '#' (sync.md); channel edits that add, change and remove a
// heading, and a REST edit between them, must all show in the title.
test('the title follows channel edits that add and remove headings, and REST edits between them', () => withServer('sqlite', async s => {
  const n = await s.server.note(s.owner, s.vault, '/Notes/Plain idea.md', 'plain')
  const c = s.client()
  await c.connect()
  const text = () => c.doc(n).getText('content')
  const title = async () => (await s.server.api('GET', `/api/v1/notes/${n}`, { token: s.owner })).body.title
  text().insert(5, ' words')
  await c.settled() // acknowledged after the commit that holds the title
  assert.equal(await title(), 'Plain idea')
  text().insert(0, '#')
  await c.settled()
  assert.equal(await title(), 'Plain idea') // '#plain' is no heading
  text().insert(1, ' ')
  await c.settled()
  assert.equal(await title(), 'plain words')
  text().insert(13, ' more')
  await c.settled()
  assert.equal(await title(), 'plain words more')
  text().delete(0, 2)
  await c.settled()
  assert.equal(await title(), 'Plain idea')
  const cur = await s.server.api('GET', `/api/v1/notes/${n}`, { token: s.owner })
  const put = await s.server.api('PUT', `/api/v1/notes/${n}`, { token: s.owner, body: { content: '# From REST\nbody' }, headers: { 'if-match': cur.headers.get('etag') } })
  assert.equal(put.status, 200)
  await until(() => c.text(n) === '# From REST\nbody', 'the channel to see the PUT')
  text().insert(11, ' now') // no '#' in this update; the text has one
  await c.settled()
  assert.equal(await title(), 'From REST now')
  assert.equal(await s.server.text(s.owner, n), '# From REST now\nbody')
}))

test('a version made of vault channel edits names the member who made them', () => withServer('sqlite', async s => {
  const n = await s.server.note(s.owner, s.vault, '/Authored.md', 'start')
  const versions = async () => (await s.server.api('GET', `/api/v1/notes/${n}/versions`, { token: s.owner })).body.versions
  await until(async () => (await versions()).length === 1, 'the version of the creation')
  const bob = await s.server.user('bob@example.com')
  const add = await s.server.api('POST', `/api/v1/vaults/${s.vault}/members`, { token: s.owner, body: { email: 'bob@example.com', role: 'editor' } })
  assert.equal(add.status, 201)
  const me = await s.server.api('GET', '/api/v1/me', { token: bob })
  assert.equal(me.status, 200)
  const c = s.client(bob)
  await c.connect()
  c.doc(n).getText('content').insert(5, ' by bob')
  await c.settled()
  await until(async () => (await versions()).length === 2, 'the version of the channel edit')
  const [latest, first] = await versions()
  assert.equal(latest.author, me.body.id)
  assert.equal(latest.authorName, me.body.name || me.body.email)
  assert.notEqual(first.author, me.body.id) // the owner created the note
  assert.equal(await s.server.text(s.owner, n), 'start by bob')
}, { VAULT_VERSION_IDLE_MS: '100' }))

test('malformed messages close only their own connection (1002, 1003), the vault is untouched', () => withServer('sqlite', async s => {
  const n = await s.server.note(s.owner, s.vault, '/N.md', 'text')
  const good = s.client()
  await good.connect()
  const seq = await vaultSeq(s)
  const cases = [
    ['a message before HELLO', encodeStep1(n, new Uint8Array([0])), 1002, false],
    ['an unknown type', new Uint8Array([9]), 1002, true],
    ['a server-only type', new Uint8Array([6, 1, 1]), 1002, true],
    ['a truncated UPDATE', encodeUpdate(n, 1, new Uint8Array([1, 2, 3])).slice(0, 20), 1002, true],
    ['a bad doc id', encodeStep1('NOT-HEX-NOT-HEX-NOT-HEX-NOT-HEX-', new Uint8Array([0])), 1002, true],
    ['ref 0', encodeUpdate(n, 1, new Uint8Array([0, 0])).map((b, i, a) => i === 34 ? 0 : b), 1002, true],
    ['a malformed update', encodeUpdate(n, 1, new Uint8Array([5, 1, 2])), 1002, true],
    ['a malformed state vector', encodeStep1(n, new Uint8Array([3, 1])), 1002, true],
    ['trailing bytes', new Uint8Array([...encodeHello(0), 0]), 1002, false],
    ['a text message', 'hello', 1003, true]
  ]
  for (const [what, bytes, code, hello] of cases) {
    const ws = await openChannel(s.server, s.vault, s.owner)
    if (hello) {
      ws.send(encodeHello(0))
      await ws.next(m => m.type === 'changed')
    }
    ws.send(bytes)
    const closed = await ws.closed
    assert.equal(closed.code, code, what)
  }
  assert.equal(await vaultSeq(s), seq)
  assert.equal(await s.server.text(s.owner, n), 'text')
  // the good connection carries on
  good.doc(n).getText('content').insert(4, '!')
  await good.settled()
  assert.equal(await s.server.text(s.owner, n), 'text!')
  assert.equal(good.ws.readyState, 1)
}))

test('an update with missing dependencies gets ERROR 3, is never acknowledged, and changes nothing', () => withServer('sqlite', async s => {
  const n = await s.server.note(s.owner, s.vault, '/N.md', 'abc')
  const ws = await openChannel(s.server, s.vault, s.owner)
  ws.send(encodeHello(0))
  await ws.next(m => m.type === 'changed')
  ws.send(encodeStep1(n, new Uint8Array([0])))
  const st2 = await ws.next(m => m.type === 'step2' && m.doc === n)
  // Two edits of a replica; send only the second.
  const replica = new Y.Doc()
  Y.applyUpdate(replica, st2.update)
  assert.equal(replica.getText('content').toString(), 'abc')
  const updates = []
  replica.on('update', u => updates.push(u))
  replica.getText('content').insert(3, 'd')
  replica.getText('content').insert(4, 'e')
  const seq = await vaultSeq(s)
  ws.send(encodeUpdate(n, 900, updates[1]))
  const e1 = await ws.next(m => m.type === 'error' && m.ref === 900, 'the refusal')
  assert.equal(e1.code, E.MISSING)
  assert.equal(e1.doc, n)
  await sleep(200)
  assert.equal(ws.inbox.filter(m => m.type === 'ack').length, 0)
  assert.equal(await vaultSeq(s), seq)
  assert.equal(await s.server.text(s.owner, n), 'abc')
  // the first, then the second again: both acknowledged with seqs
  ws.send(encodeUpdate(n, 901, updates[0]))
  ws.send(encodeUpdate(n, 902, updates[1]))
  const a1 = await ws.next(m => m.type === 'ack' && m.ref === 901)
  const a2 = await ws.next(m => m.type === 'ack' && m.ref === 902)
  assert.ok(a1.seq > seq && a2.seq > a1.seq)
  assert.equal(await s.server.text(s.owner, n), 'abcde')
  // sending it once more changes nothing: ACK with seq 0
  ws.send(encodeUpdate(n, 903, updates[1]))
  const a3 = await ws.next(m => m.type === 'ack' && m.ref === 903)
  assert.equal(a3.seq, 0)
  // a note the index does not know: ERROR 2, nothing changed
  ws.send(encodeUpdate('0123456789abcdef0123456789abcdef', 904, updates[0]))
  const e2 = await ws.next(m => m.type === 'error' && m.ref === 904)
  assert.equal(e2.code, E.NO_DOC)
  assert.equal(await vaultSeq(s), a2.seq)
  ws.close()
}))

test('a commit that fails is answered with ERROR 5, never acknowledged, and changes nothing', () => withServer('sqlite', async s => {
  const n = await s.server.note(s.owner, s.vault, '/N.md', 'abc') // REST commits still work
  const watcher = s.client()
  await watcher.connect()
  const p = provider(s.server, s.owner, n)
  await synced(p)
  const ws = await openChannel(s.server, s.vault, s.owner)
  ws.send(encodeHello(0))
  await ws.next(m => m.type === 'changed')
  ws.send(encodeStep1(n, new Uint8Array([0])))
  const replica = new Y.Doc()
  Y.applyUpdate(replica, (await ws.next(m => m.type === 'step2')).update)
  const updates = []
  replica.on('update', u => updates.push(u))
  replica.getText('content').insert(3, '!')
  const seq = await vaultSeq(s)
  for (const ref of [1, 2]) { // twice: the failed change was not kept in memory either
    ws.send(encodeUpdate(n, ref, updates[0]))
    const err = await ws.next(m => (m.type === 'error' || m.type === 'ack') && m.ref === ref)
    assert.equal(err.type, 'error')
    assert.equal(err.code, E.SERVER)
  }
  // an index change (a new note) fails the same way
  const idx = new Y.Doc()
  ws.send(encodeStep1(s.vault, new Uint8Array([0])))
  Y.applyUpdate(idx, (await ws.next(m => m.type === 'step2' && m.doc === s.vault)).update)
  const iu = []
  idx.on('update', u => iu.push(u))
  idx.transact(() => {
    const m = new Y.Map()
    idx.getMap('files').set('0123456789abcdef0123456789abcdef', m)
    m.set('path', '/Failed.md')
    m.set('kind', 'note')
    m.set('created', 1)
  })
  ws.send(encodeUpdate(s.vault, 3, iu[0]))
  const e3 = await ws.next(m => (m.type === 'error' || m.type === 'ack') && m.ref === 3)
  assert.equal(e3.code, E.SERVER)
  await sleep(300)
  assert.equal(await vaultSeq(s), seq)
  assert.equal(await s.server.text(s.owner, n), 'abc')
  assert.deepEqual((await listNotes(s)).map(f => f.path), ['/N.md'])
  assert.equal(watcher.text(n), 'abc')
  assert.equal(p.text(), 'abc')
  assert.equal(watcher.seqs.length, 0)
  ws.close()
  p.destroy()
}, { VAULT_FAULT: 'vchan-commit' }))

test('a long-offline client receives only the documents that changed', () => withServer('sqlite', async s => {
  const ids = []
  for (let i = 0; i < 30; i++) ids.push(await s.server.note(s.owner, s.vault, `/Notes/${i}.md`, `note ${i}`))
  const c = s.client()
  await c.connect()
  c.disconnect()
  const since = c.since
  // while away: three notes edited by REST, one by another channel
  const edited = [ids[3], ids[17], ids[29]]
  for (const id of edited) {
    const cur = await s.server.api('GET', `/api/v1/notes/${id}`, { token: s.owner })
    const r = await s.server.api('PUT', `/api/v1/notes/${id}`, { token: s.owner, body: { content: `${cur.body.content} edited` }, headers: { 'if-match': cur.headers.get('etag') } })
    assert.equal(r.status, 200)
  }
  const other = s.client()
  await other.connect()
  other.doc(ids[8]).getText('content').insert(0, '> ')
  await other.settled()
  // and offline, c edited a note too
  c.doc(ids[0]).getText('content').insert(0, 'offline ')
  const changed = await c.connect()
  assert.deepEqual(new Set(changed.docs.map(d => d.doc)), new Set([...edited, ids[8]]))
  assert.ok(changed.docs.every(d => d.seq > since))
  await c.settled()
  for (const id of edited) assert.equal(c.text(id), `${(await s.server.text(s.owner, id))}`)
  assert.equal(c.text(ids[8]), '> note 8')
  assert.equal(await s.server.text(s.owner, ids[0]), 'offline note 0')
  await until(() => other.text(ids[0]) === 'offline note 0', 'the other channel to get the offline edit')
}))

test('a message over 16 MiB closes the connection with 1009', () => withServer('sqlite', async s => {
  const ws = await openChannel(s.server, s.vault, s.owner)
  ws.send(encodeHello(0))
  await ws.next(m => m.type === 'changed')
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 4)
  ws.send(Buffer.concat([Buffer.from(encoding.toUint8Array(e)), Buffer.alloc(17 << 20)]))
  const closed = await ws.closed
  assert.ok(closed.code === 1009 || closed.code === 1006, `closed with ${closed.code}`)
  await sleep(100)
  const ok = await openChannel(s.server, s.vault, s.owner)
  ok.send(encodeHello(0))
  await ok.next(m => m.type === 'changed')
  ok.close()
}))

test('a vault channel too slow for what it is pushed is closed with 1013; the others carry on', () => withServer('sqlite', async s => {
  const n = await s.server.note(s.owner, s.vault, '/Big.md', '')
  const slow = await openChannel(s.server, s.vault, s.owner)
  slow.on('error', () => {})
  slow.send(encodeHello(0))
  await slow.next(m => m.type === 'changed')
  slow._socket.pause() // reads nothing more: the kernel buffers fill, then the server's queue
  const a = s.client()
  const b = s.client()
  await a.connect()
  await b.connect()
  // 64 KiB updates that leave the text small: each insertion is deleted again
  const chunk = 'x'.repeat(64 << 10)
  const t = a.doc(n).getText('content')
  for (let i = 0; i < 600 && !/"code":1013/.test(s.server.stderr); i++) {
    t.insert(0, chunk)
    t.delete(0, chunk.length)
    await a.settled()
  }
  t.insert(0, 'done')
  await until(() => /"msg":"vault channel closed by the server".*"code":1013/.test(s.server.stderr), 'the slow reader to be closed with 1013')
  slow._socket.resume()
  const closed = await slow.closed
  assert.ok([1013, 1006].includes(closed.code), JSON.stringify(closed))
  await until(() => b.text(n) === 'done', 'the other channel to keep up')
  await a.settled()
  assert.equal(a.ws.readyState, 1)
  assert.equal(b.ws.readyState, 1)
}, { VAULT_SYNC_MAX_QUEUED: String(4 << 20) }))

test('shutting down closes vault channels with 1001 and exits cleanly', async () => {
  const s = await setup('sqlite')
  try {
    const n = await s.server.note(s.owner, s.vault, '/N.md', 'x')
    const ws = await openChannel(s.server, s.vault, s.owner)
    ws.send(encodeHello(0))
    await ws.next(m => m.type === 'changed')
    ws.send(encodeStep1(n, new Uint8Array([0])))
    await ws.next(m => m.type === 'step2')
    await s.server.stop() // asserts exit status 0: no sanitizer report, no leak
    const closed = await ws.closed
    assert.equal(closed.code, 1001)
  } finally {
    await s.server.dispose()
  }
})

test('the worked example of docs/sync.md is what lib0 writes (the test client agrees with the docs)', () => {
  const hex = u => Buffer.from(u).toString('hex').match(/../g).join(' ')
  const ascii = id => hex(Buffer.from(id))
  const vault = '5f0c2a7e9b1d4c3a8e6f0a1b2c3d4e5f'
  const note = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
  assert.equal(hex(encodeHello(0)), '00 00')
  assert.equal(hex(encodeStep1(note, new Uint8Array([0]))), `02 20 ${ascii(note)} 01 00`)
  // client 2 types "!" after client 1's "hi", as Yjs encodes it
  const s = new Y.Doc()
  s.clientID = 1
  s.getText('content').insert(0, 'hi')
  const c = new Y.Doc()
  c.clientID = 2
  Y.applyUpdate(c, Y.encodeStateAsUpdate(s))
  let bang = null
  c.on('update', u => { bang = u })
  c.getText('content').insert(2, '!')
  assert.equal(hex(Y.encodeStateAsUpdate(s)), '01 01 01 00 04 01 07 63 6f 6e 74 65 6e 74 02 68 69 00')
  assert.equal(hex(encodeUpdate(note, 1, bang)), `04 20 ${ascii(note)} 01 0a 01 01 02 00 84 01 01 01 21 00`)
  assert.equal(ascii(vault), '35 66 30 63 32 61 37 65 39 62 31 64 34 63 33 61 38 65 36 66 30 61 31 62 32 63 33 64 34 65 35 66')
})
