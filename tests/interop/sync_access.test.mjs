// sync_access.test.mjs - who may connect to the sync endpoint and what a bad
// connection costs: a viewer reads but its edits are refused (close 4403 after
// a permission-denied message) and the note is unchanged; a stranger is refused
// exactly as a missing note is; a malformed, oversized or text message closes
// only its own connection (1002 / 1009 / 1003) and leaves the note untouched,
// while the other connections carry on.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { Vaultd, provider, rawSocket, syncMessage, synced, until, sleep } from './lib/vaultd.mjs'

async function setup () {
  const server = await Vaultd.start()
  const owner = await server.user('owner@example.com')
  const vault = await server.vault(owner)
  const note = await server.note(owner, vault, '/Shared.md', 'Hello world')
  return { server, owner, vault, note }
}

async function withSetup (fn) {
  const s = await setup()
  try {
    await fn(s)
    await s.server.stop()
  } finally {
    await s.server.dispose()
  }
}


test('a viewer reads, and its edit is refused with 4403; the note is unchanged', () => withSetup(async ({ server, owner, vault, note }) => {
  const viewer = await server.user('viewer@example.com')
  await server.member(owner, vault, 'viewer@example.com', 'viewer')
  const v = provider(server, viewer, note)
  const e = provider(server, owner, note)
  await synced(v)
  await synced(e)
  assert.equal(v.text(), 'Hello world')
  // the viewer receives the editor's changes
  e.doc.getText('content').insert(11, '!')
  await until(() => v.text() === 'Hello world!', 'the viewer to receive the edit')

  const closed = new Promise(resolve => v.p.on('closed', resolve))
  v.doc.getText('content').insert(0, 'VIEWER WAS HERE ')
  const ev = await closed
  assert.equal(ev.code, 4403)
  assert.match(ev.reason, /read-only/)
  await sleep(200)
  assert.equal(await server.text(owner, note), 'Hello world!')
  assert.equal(e.text(), 'Hello world!')
  // y-websocket does not reconnect after a 44xx close
  await sleep(700)
  assert.equal(v.p.wsconnected, false)
  v.destroy()
  e.destroy()
}))

test('a viewer whose step 2 brings nothing new stays connected', () => withSetup(async ({ server, owner, vault, note }) => {
  const viewer = await server.user('viewer@example.com')
  await server.member(owner, vault, 'viewer@example.com', 'viewer')
  // An editor deletes text first, so every step 2 carries a delete set.
  const e = provider(server, owner, note)
  await synced(e)
  e.doc.getText('content').delete(0, 6)
  await until(async () => (await server.text(owner, note)) === 'world', 'the delete to be stored')
  const v = provider(server, viewer, note)
  await synced(v)
  await until(() => v.text() === 'world', 'the viewer to sync')
  // reconnecting sends the viewer's full delete set again: still nothing new
  v.p.disconnect()
  v.p.connect()
  await synced(v)
  await sleep(300)
  assert.deepEqual(v.p.closes.filter(c => c.code !== 1005 && c.code !== 1000), [])
  assert.equal(v.p.wsconnected, true)
  v.destroy()
  e.destroy()
}))

test('a stranger is refused exactly like a missing note; no token is 401', () => withSetup(async ({ server, note }) => {
  const stranger = await server.user('stranger@example.com')
  const a = await rawSocket(server, note, stranger).then(() => null, err => err)
  const b = await rawSocket(server, 'f'.repeat(32), stranger).then(() => null, err => err)
  assert.equal(a.status, 404)
  assert.equal(b.status, 404)
  assert.deepEqual(JSON.parse(a.body), JSON.parse(b.body))
  const c = await rawSocket(server, note, null).then(() => null, err => err)
  assert.equal(c.status, 401)
  // the token never goes in the URL: a token query parameter is not accepted
  const owner = await server.user('someone@example.com')
  const d = await rawSocket(server, `${note}?token=${owner}`, null).then(() => null, err => err)
  assert.equal(d.status, 401)
}))

test('a browser signs in with its session cookie', () => withSetup(async ({ server, owner, note }) => {
  const ws = await rawSocket(server, note, null, { cookie: `vn_session=${owner}` })
  await until(() => ws.received.length >= 1, 'the server\'s step 1')
  assert.deepEqual([...ws.received[0].subarray(0, 2)], [0, 0])
  ws.close()
  await ws.closed
  const bad = await rawSocket(server, note, null, { cookie: 'vn_session=nope' }).then(() => null, err => err)
  assert.equal(bad.status, 401)
}))

test('a plain GET (no WebSocket handshake) answers 400', () => withSetup(async ({ server, owner, note }) => {
  const r = await server.api('GET', `/api/v1/sync/${note}`, { token: owner })
  assert.equal(r.status, 400)
}))

test('malformed, oversized and text messages close only their own connection', () => withSetup(async ({ server, owner, note }) => {
  const a = provider(server, owner, note)
  const b = provider(server, owner, note)
  await synced(a)
  await synced(b)
  const cases = [
    ['unknown sync type', Uint8Array.from([0, 7, 0]), 1002],
    ['truncated message', Uint8Array.from([0, 2, 50, 1, 2]), 1002],
    ['unknown message type', Uint8Array.from([9]), 1002],
    ['trailing bytes', Uint8Array.from([3, 0]), 1002],
    ['garbage update', syncMessage(2, Uint8Array.from([5, 200, 1, 2, 3, 4, 5, 6, 7, 8])), 1002],
    ['cut real update', syncMessage(2, (() => {
      const d = new Y.Doc()
      d.getText('content').insert(0, 'this update is cut short')
      const u = Y.encodeStateAsUpdate(d)
      return u.subarray(0, u.length - 5)
    })()), 1002],
    ['malformed state vector', syncMessage(0, Uint8Array.from([3, 1])), 1002],
    ['awareness that is not JSON', (() => {
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, 1)
      const inner = encoding.createEncoder()
      encoding.writeVarUint(inner, 1)
      encoding.writeVarUint(inner, 42)
      encoding.writeVarUint(inner, 5)
      encoding.writeVarString(inner, '{"a":')
      encoding.writeVarUint8Array(e, encoding.toUint8Array(inner))
      return encoding.toUint8Array(e)
    })(), 1002],
    // The server refuses it from the frame header and drops the connection
    // without reading the rest: the client sees the 1009 close frame, or,
    // when its kernel reports the reset first, an abnormal closure (1006).
    ['oversized message', new Uint8Array((16 << 20) + 16), [1009, 1006]]
  ]
  for (const [what, bytes, code] of cases) {
    const ws = await rawSocket(server, note, owner)
    ws.on('error', () => {}) // a reset after the close frame is expected for the oversized one
    ws.send(bytes)
    const closed = await ws.closed
    if (Array.isArray(code)) assert.ok(code.includes(closed.code), `${what}: ${JSON.stringify(closed)}`)
    else assert.equal(closed.code, code, `${what}: ${JSON.stringify(closed)}`)
  }
  {
    const ws = await rawSocket(server, note, owner)
    ws.send('hello')
    assert.equal((await ws.closed).code, 1003)
  }
  assert.equal(await server.text(owner, note), 'Hello world')
  // the providers never noticed, and still sync with each other
  assert.deepEqual(a.p.closes, [])
  assert.deepEqual(b.p.closes, [])
  a.doc.getText('content').insert(0, 'Still ')
  await until(() => b.text() === 'Still Hello world', 'b to receive a\'s edit')
  await until(async () => (await server.text(owner, note)) === 'Still Hello world', 'REST to see it')
  a.destroy()
  b.destroy()
}))

test('the server speaks first: sync step 1 with its state vector, then answers step 1 with step 2', () => withSetup(async ({ server, owner, note }) => {
  const ws = await rawSocket(server, note, owner)
  await until(() => ws.received.length >= 1, 'the server\'s step 1')
  const first = ws.received[0]
  assert.equal(first[0], 0) // messageSync
  assert.equal(first[1], 0) // step 1
  ws.send(syncMessage(0, Uint8Array.from([0]))) // an empty state vector
  await until(() => ws.received.length >= 2, 'the server\'s step 2')
  const second = ws.received[1]
  assert.equal(second[0], 0)
  assert.equal(second[1], 1) // step 2
  const doc = new Y.Doc()
  // skip the two type bytes and the varuint length of the payload
  let pos = 2
  let len = 0
  let shift = 0
  for (;;) {
    const b = second[pos++]
    len += (b & 0x7f) * 2 ** shift
    shift += 7
    if (b < 0x80) break
  }
  Y.applyUpdate(doc, second.subarray(pos, pos + len))
  assert.equal(doc.getText('content').toString(), 'Hello world')
  ws.close()
  await ws.closed
}))

test('a reader too slow for what it is sent is closed with 1013; the others carry on', async () => {
  const server = await Vaultd.start({ env: { VAULT_SYNC_MAX_QUEUED: String(4 << 20) } })
  try {
    const owner = await server.user('owner@example.com')
    const vault = await server.vault(owner)
    const note = await server.note(owner, vault, '/Big.md', '')
    const slow = await rawSocket(server, note, owner)
    slow.on('error', () => {})
    slow._socket.pause() // reads nothing more: the kernel buffers fill, then the server's queue
    const a = provider(server, owner, note)
    const b = provider(server, owner, note)
    await synced(a)
    await synced(b)
    // 64 KiB updates that leave the text small: each insertion is deleted again
    const chunk = 'x'.repeat(64 << 10)
    const t = a.doc.getText('content')
    for (let i = 0; i < 600 && !/"code":1013/.test(server.stderr); i++) {
      t.insert(0, chunk)
      t.delete(0, chunk.length)
      await sleep(5)
      // b reads as fast as it can, which on a busy machine may be slower than a writes: let
      // it catch up every 1 MiB, so only the reader that reads nothing passes the 4 MiB cap
      if (i % 8 === 7) {
        const sv = Buffer.from(Y.encodeStateVector(a.doc))
        await until(() => Buffer.compare(Buffer.from(Y.encodeStateVector(b.doc)), sv) === 0, 'b to catch up', 60000)
      }
    }
    t.insert(0, 'done')
    await until(() => /"msg":"sync connection closed by the server".*"code":1013/.test(server.stderr), 'the slow reader to be closed with 1013')
    slow._socket.resume()
    const closed = await slow.closed
    assert.ok([1013, 1006].includes(closed.code), JSON.stringify(closed))
    await until(() => b.text() === 'done', 'the other provider to keep up')
    assert.deepEqual(a.p.closes, [])
    assert.deepEqual(b.p.closes, [])
    await server.stop()
  } finally {
    await server.dispose()
  }
})

test('the worked example of docs/sync.md is what Yjs and y-protocols write', async () => {
  const hex = u => Buffer.from(u).toString('hex').match(/../g).join(' ')
  const syncProtocol = await import('y-protocols/sync')
  const awarenessProtocol = await import('y-protocols/awareness')
  const s = new Y.Doc()
  s.clientID = 1
  s.getText('content').insert(0, 'hi')
  const msg = fn => { const e = encoding.createEncoder(); fn(e); return hex(encoding.toUint8Array(e)) }
  assert.equal(msg(e => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep1(e, s) }), '00 00 03 01 01 02')
  const c = new Y.Doc()
  c.clientID = 2
  assert.equal(msg(e => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep1(e, c) }), '00 00 01 00')
  assert.equal(msg(e => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep2(e, s, Y.encodeStateVector(c)) }),
    '00 01 12 01 01 01 00 04 01 07 63 6f 6e 74 65 6e 74 02 68 69 00')
  Y.applyUpdate(c, Y.encodeStateAsUpdate(s))
  assert.equal(msg(e => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep2(e, c, Y.encodeStateVector(s)) }), '00 01 02 00 00')
  let update
  c.on('update', u => { update = u })
  c.getText('content').insert(2, '!')
  assert.equal(msg(e => { encoding.writeVarUint(e, 0); syncProtocol.writeUpdate(e, update) }), '00 02 0a 01 01 02 00 84 01 01 01 21 00')
  const aw = new awarenessProtocol.Awareness(c)
  aw.setLocalState({ user: { name: 'Ada' } })
  assert.equal(msg(e => { encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(aw, [2])) }),
    '01 1b 01 02 01 17 7b 22 75 73 65 72 22 3a 7b 22 6e 61 6d 65 22 3a 22 41 64 61 22 7d 7d')
  aw.destroy()
  s.destroy()
  c.destroy()
})

test('mutated real messages from many connections never hurt the server or the others', () => withSetup(async ({ server, owner, note }) => {
  const a = provider(server, owner, note)
  await synced(a)
  // real messages a client sends: step 1, step 2, update, awareness, query
  const d = new Y.Doc()
  d.clientID = 12345
  let update
  d.on('update', u => { update = u })
  d.getText('content').insert(0, 'mutant text 😀 with some length')
  const awareness = (() => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 1)
    encoding.writeVarUint(e, 12345)
    encoding.writeVarUint(e, 3)
    encoding.writeVarString(e, '{"user":{"name":"M"}}')
    return encoding.toUint8Array(e)
  })()
  const real = [
    syncMessage(0, Y.encodeStateVector(d)), syncMessage(1, Y.encodeStateAsUpdate(d)),
    syncMessage(2, update), Uint8Array.from([1, awareness.length, ...awareness]), Uint8Array.from([3])
  ]
  let seed = 7
  const rand = n => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  for (let conn = 0; conn < 25; conn++) {
    const ws = await rawSocket(server, note, owner)
    ws.on('error', () => {})
    for (let i = 0; i < 20 && ws.readyState === ws.OPEN; i++) {
      const m = new Uint8Array(real[rand(real.length)])
      const flips = 1 + rand(3)
      for (let k = 0; k < flips; k++) m[rand(m.length)] ^= 1 << rand(8)
      ws.send(rand(5) === 0 ? m.subarray(0, rand(m.length)) : m)
      await sleep(1)
    }
    if (ws.readyState === ws.OPEN) ws.close()
    await ws.closed
  }
  // the server is alive, the provider never noticed, and everyone agrees
  assert.deepEqual(a.p.closes, [])
  const b = provider(server, owner, note)
  await synced(b)
  a.doc.getText('content').insert(0, 'end ')
  await until(async () => {
    const rest = await server.text(owner, note)
    return rest === a.text() && rest === b.text() && rest.startsWith('end ')
  }, 'the providers and REST to agree')
  a.destroy()
  b.destroy()
}))
