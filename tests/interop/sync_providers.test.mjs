// sync_providers.test.mjs - the sync endpoint against the stock y-websocket
// provider: three unmodified WebsocketProviders edit one note at random while
// going offline and online; in the end the three texts, the REST GET, and the
// document the server stored (read after a restart, over REST and by a fresh
// provider) are identical. Also: a REST edit reaches connected providers, and
// awareness is relayed and removed when a peer leaves.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { Vaultd, provider, synced, until, sleep } from './lib/vaultd.mjs'

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with VN_SEED. */
function rng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const words = ['alpha ', 'beta ', 'γάμμα ', 'delta\n', '😀', '# Title\n', 'x', 'longer words here ']

async function withServer (fn) {
  const server = await Vaultd.start()
  try {
    await fn(server)
    await server.stop()
  } finally {
    await server.dispose()
  }
}

const seed = Number(process.env.VN_SEED ?? 1)

test(`three providers edit at random, offline and online, and converge (seed ${seed})`, () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Random.md', 'Start\n')
  const clients = [0, 1, 2].map(() => provider(server, token, note))
  for (const c of clients) await synced(c)
  for (const c of clients) assert.equal(c.text(), 'Start\n')

  const rand = rng(seed)
  for (let step = 0; step < 300; step++) {
    const c = clients[Math.floor(rand() * clients.length)]
    const r = rand()
    if (r < 0.06) {
      if (c.p.shouldConnect) c.p.disconnect()
      else c.p.connect()
      continue
    }
    const text = c.doc.getText('content')
    if (r < 0.3 && text.length > 0) {
      const pos = Math.floor(rand() * text.length)
      text.delete(pos, Math.min(1 + Math.floor(rand() * 5), text.length - pos))
    } else {
      // Insert whole words at code-unit positions that do not split a surrogate pair.
      const s = text.toString()
      let pos = Math.floor(rand() * (s.length + 1))
      if (pos > 0 && pos < s.length && /[\udc00-\udfff]/.test(s[pos])) pos--
      text.insert(pos, words[Math.floor(rand() * words.length)])
    }
    if (step % 10 === 0) await sleep(5)
  }
  for (const c of clients) c.p.connect()
  for (const c of clients) await synced(c)
  const final = await until(async () => {
    const texts = clients.map(c => c.text())
    const rest = await server.text(token, note)
    return texts.every(t => t === texts[0]) && rest === texts[0] ? rest : null
  }, 'the three providers and REST to agree')
  assert.ok(final.length > 0)
  const sv = Y.encodeStateVector(clients[0].doc)
  for (const c of clients) c.destroy()

  // What the server stored is the same document.
  await server.restart()
  assert.equal(await server.text(token, note), final)
  const fresh = provider(server, token, note)
  await synced(fresh)
  await until(() => fresh.text() === final, 'a fresh provider to read the stored document')
  assert.deepEqual(Y.encodeStateVector(fresh.doc), sv)
  fresh.destroy()
}))

test('an edit another client has seen survives a crash of the server', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Crash.md', '')
  const a = provider(server, token, note)
  const b = provider(server, token, note)
  await synced(a)
  await synced(b)
  const t = a.doc.getText('content')
  for (let i = 0; i < 50; i++) t.insert(t.length, `line ${i}\n`)
  // b sees an edit only after its commit: once b has it all, a crash cannot lose it
  const seen = await until(() => b.text().includes('line 49\n') ? b.text() : null, 'b to see every line')
  a.destroy()
  b.destroy()
  await server.crash()
  assert.equal(await server.text(token, note), seen)
}))

test('a REST edit reaches connected providers after its commit', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Rest.md', 'Hello world')
  const a = provider(server, token, note)
  await synced(a)
  const get = await server.api('GET', `/api/v1/notes/${note}`, { token })
  const put = await server.api('PUT', `/api/v1/notes/${note}`, {
    token, body: { content: 'Hello universe' }, headers: { 'if-match': get.headers.get('etag') }
  })
  assert.equal(put.status, 200)
  await until(() => a.text() === 'Hello universe', 'the provider to receive the REST edit')
  // and the provider's own edit merges with it over REST
  a.doc.getText('content').insert(6, 'beautiful ')
  await until(async () => (await server.text(token, note)) === 'Hello beautiful universe', 'REST to see the edit')
  a.destroy()
}))

test('a sync edit updates the note\'s title and time like a REST edit', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Folder/Untitled.md', 'text')
  const before = await server.api('GET', `/api/v1/notes/${note}`, { token })
  const a = provider(server, token, note)
  await synced(a)
  a.doc.getText('content').insert(0, '# Meeting notes\n')
  const after = await until(async () => {
    const r = await server.api('GET', `/api/v1/notes/${note}`, { token })
    return r.body.title === 'Meeting notes' ? r : null
  }, 'the title to follow the sync edit')
  assert.equal(after.body.path, '/Folder/Untitled.md')
  assert.ok(after.body.updated >= before.body.updated)
  assert.equal(after.body.content, '# Meeting notes\ntext')
  // the version (ETag) counts the sync update, so a PUT against it merges cleanly
  const put = await server.api('PUT', `/api/v1/notes/${note}`, {
    token, body: { content: '# Meeting notes\ntext and more' }, headers: { 'if-match': after.headers.get('etag') }
  })
  assert.equal(put.status, 200)
  await until(() => a.text() === '# Meeting notes\ntext and more', 'the provider to see the PUT')
  const list = await server.api('GET', `/api/v1/vaults/${vault}/notes`, { token })
  assert.equal(list.body.notes[0].title, 'Meeting notes')
  a.destroy()
}))

// The server skips rebuilding a note's text for its title while the text
// holds no '#' (no heading: the title is the file name's); every way a
// heading can appear or go must still show in the title.
test('the title follows sync edits that add and remove headings, and REST edits between them', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Plans/Road map.md', 'plain text')
  const a = provider(server, token, note)
  await synced(a)
  const text = a.doc.getText('content')
  const titled = async (title, content, why) => {
    const r = await until(async () => {
      const got = await server.api('GET', `/api/v1/notes/${note}`, { token })
      return got.body.content === content && got.body.title === title ? got : null
    }, why)
    return r
  }
  text.insert(10, ' more words')
  await titled('Road map', 'plain text more words', 'edits without a heading to keep the file name')
  text.insert(0, '#') // not a heading yet: '#' then a letter
  await titled('Road map', '#plain text more words', 'a lone # to keep the file name')
  text.insert(1, ' ') // this update holds no '#', the text does
  await titled('plain text more words', '# plain text more words', 'the heading to become the title')
  text.insert(23, ' again')
  await titled('plain text more words again', '# plain text more words again', 'the heading line edited')
  text.delete(0, 2)
  await titled('Road map', 'plain text more words again', 'the file name once the heading is gone')
  // A REST edit adds a heading; a sync edit without '#' afterwards still
  // reads it (a title no earlier commit wrote, so the check waits for it).
  const cur = await server.api('GET', `/api/v1/notes/${note}`, { token })
  const put = await server.api('PUT', `/api/v1/notes/${note}`, {
    token, body: { content: '# From REST\nbody' }, headers: { 'if-match': cur.headers.get('etag') }
  })
  assert.equal(put.status, 200)
  await until(() => a.text() === '# From REST\nbody', 'the provider to see the PUT')
  text.insert(11, ' now')
  await titled('From REST now', '# From REST now\nbody', 'the REST heading to stay the title')
  a.destroy()
}))

test('awareness is relayed, and removed when a peer leaves', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Aware.md', '')
  const a = provider(server, token, note)
  const b = provider(server, token, note)
  await synced(a)
  await synced(b)
  const metrics = await server.api('GET', '/metrics')
  assert.match(metrics.body, /^vault_sync_connections 2$/m)
  assert.match(metrics.body, /^vault_sync_documents 1$/m)
  a.p.awareness.setLocalStateField('user', { name: 'Ada', cursor: 3 })
  const idA = a.doc.clientID
  await until(() => b.p.awareness.getStates().get(idA)?.user?.name === 'Ada', 'b to see a')
  // A late joiner gets the states already there.
  const c = provider(server, token, note)
  await synced(c)
  await until(() => c.p.awareness.getStates().get(idA)?.user?.name === 'Ada', 'c to see a')
  // A leaves abruptly (no goodbye message): the server announces it.
  a.p.ws.terminate()
  a.p.shouldConnect = false
  await until(() => !b.p.awareness.getStates().has(idA), 'b to see a leave')
  await until(() => !c.p.awareness.getStates().has(idA), 'c to see a leave')
  a.destroy()
  b.destroy()
  c.destroy()
}))
