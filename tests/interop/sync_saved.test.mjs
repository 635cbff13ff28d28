// sync_saved.test.mjs - the "saved" acknowledgement of the sync endpoint
// (docs/sync.md): a client that connects with ?saved=1 gets one saved message
// [varuint 4, varbytes stateVector] for every update message it sends, in
// order, once that update (and everything before it) is committed; a stock
// client gets none. After the message, a SIGKILL and restart of the server
// keep the change, insertions and deletions alike.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Vaultd, bearerWebSocket, provider, rawSocket, synced, until } from './lib/vaultd.mjs'

async function withServer (fn) {
  const server = await Vaultd.start()
  try {
    await fn(server)
    await server.stop()
  } finally {
    await server.dispose()
  }
}

/** A WebSocket class with a bearer token that counts the update messages it sends
 * (sync step 2 and sync update: first bytes 0 1 or 0 2). */
function countingWebSocket (token, counter) {
  const Base = bearerWebSocket(token)
  return class extends Base {
    send (data, ...rest) {
      const b = new Uint8Array(data)
      if (b[0] === 0 && (b[1] === 1 || b[1] === 2)) counter.updates++
      return super.send(data, ...rest)
    }
  }
}

const hex = s => Uint8Array.from(s.trim().split(/\s+/).map(h => parseInt(h, 16)))

test('a client that asks gets one saved message per update it sends; a stock client gets none', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Saved.md', 'Hello')
  const sent = { updates: 0 }
  const a = provider(server, token, note, { saved: true, WebSocketPolyfill: countingWebSocket(token, sent) })
  const b = provider(server, token, note)
  await synced(a)
  await synced(b)
  // a's step 2 (nothing new in it) is acknowledged too
  await until(() => sent.updates >= 1 && a.p.savedMessages === sent.updates, 'the saved message for a\'s step 2')
  assert.ok(a.isSaved())

  const ta = a.doc.getText('content')
  ta.insert(5, ' world')
  await until(() => a.isSaved(), 'a\'s insertion to be saved')
  ta.delete(0, 1) // a deletion moves no clock: the count of messages says it is saved
  ta.insert(0, 'h')
  await until(() => a.p.savedMessages === sent.updates && a.isSaved(), 'a\'s edits to be saved')
  assert.equal(sent.updates, 4) // step 2, insert, delete, insert

  // b (stock) edits, then sees a's next edit: any saved message for b's edit would have
  // reached b before that broadcast
  b.doc.getText('content').insert(0, '> ')
  await until(() => a.text() === '> hello world', 'a to see b\'s edit')
  ta.insert(ta.length, '!')
  await until(() => b.text() === '> hello world!', 'b to see a\'s edit')
  assert.equal(b.p.savedMessages, 0)
  await until(() => a.p.savedMessages === sent.updates, 'a\'s last saved message')
  assert.equal(sent.updates, 5)
  // a's saved state vector also covers b's committed edit
  assert.ok((a.saved.get(b.doc.clientID) ?? 0) >= 1)
  a.destroy()
  b.destroy()
}))

test('after the saved message, a SIGKILL and restart keep the change', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Durable.md', '')
  const sent = { updates: 0 }
  const a = provider(server, token, note, { saved: true, WebSocketPolyfill: countingWebSocket(token, sent) })
  await synced(a)
  const t = a.doc.getText('content')
  for (let i = 0; i < 40; i++) t.insert(t.length, `line ${i}\n`)
  await until(() => a.isSaved(), 'every line to be saved')
  const text = a.text()
  await server.crash({ samePort: true })
  assert.equal(await server.text(token, note), text)

  // a reconnects by itself; a deletion, acknowledged by the count of saved messages (the
  // server answers each update message once, in order), survives a crash too
  await until(() => a.p.wsconnected && a.p.synced, 'a to reconnect')
  await until(() => a.p.savedMessages === sent.updates, 'the saved message after reconnecting')
  t.delete(0, t.length - 8)
  assert.equal(a.text(), 'line 39\n')
  await until(() => a.p.savedMessages === sent.updates, 'the deletion to be saved')
  a.destroy()
  await server.crash()
  assert.equal(await server.text(token, note), 'line 39\n')
}))

test('saved messages byte by byte, as docs/sync.md shows them', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Bytes.md', '')
  const s = await rawSocket(server, `${note}?saved=1`, token)
  const plain = await rawSocket(server, note, token)
  // client 1 inserts "hi" (the worked example's update), as a sync update
  s.send(hex('00 02 12 01 01 01 00 04 01 07 63 6f 6e 74 65 6e 74 02 68 69 00'))
  const isSaved = m => m[0] === 4
  await until(() => s.received.some(isSaved), 'the saved message')
  assert.deepEqual([...s.received.find(isSaved)], [...hex('04 03 01 01 02')])
  // client 2 types "!" on the plain connection: the saved connection sees the update, the
  // plain one gets no saved message
  plain.send(hex('00 02 0a 01 01 02 00 84 01 01 01 21 00'))
  await until(() => s.received.some(m => m[0] === 0 && m[1] === 2 && m.length === 13), 'the broadcast of "!"')
  // an empty update from the saved connection: acknowledged with the whole committed state
  s.send(hex('00 02 02 00 00'))
  await until(() => s.received.filter(isSaved).length === 2, 'the second saved message')
  assert.deepEqual([...s.received.filter(isSaved)[1]], [...hex('04 05 02 02 01 01 02')])
  assert.equal(plain.received.filter(isSaved).length, 0)
  assert.equal(await server.text(token, note), 'hi!')
  s.close()
  plain.close()
  await s.closed
  await plain.closed
}))

test('a commit that fails sends no saved message: the sender and those waiting are closed with 1011', async () => {
  const server = await Vaultd.start({ env: { VAULT_FAULT: 'sync-commit' } })
  try {
    const token = await server.user('ada@example.com')
    const vault = await server.vault(token)
    const note = await server.note(token, vault, '/Fails.md', '')
    const a = await rawSocket(server, `${note}?saved=1`, token)
    const b = await rawSocket(server, `${note}?saved=1`, token)
    // client 1 inserts "hi" on a; b sends the same update right after: nothing new for the
    // server's memory, so b waits for a's commit, which fails
    const hi = hex('00 02 12 01 01 01 00 04 01 07 63 6f 6e 74 65 6e 74 02 68 69 00')
    a.send(hi)
    b.send(hi)
    const [ca, cb] = await Promise.all([a.closed, b.closed])
    assert.equal(ca.code, 1011)
    assert.equal(cb.code, 1011)
    assert.ok(!a.received.some(m => m[0] === 4), 'no saved message for a')
    assert.ok(!b.received.some(m => m[0] === 4), 'no saved message for b')
    assert.equal(await server.text(token, note), '')
    await server.stop()
  } finally {
    await server.dispose()
  }
})

test('an update waiting for a missing dependency is saved only once that arrives and is committed', () => withServer(async server => {
  const token = await server.user('ada@example.com')
  const vault = await server.vault(token)
  const note = await server.note(token, vault, '/Waits.md', '')
  const a = await rawSocket(server, `${note}?saved=1`, token)
  const b = await rawSocket(server, `${note}?saved=1`, token)
  const isSaved = m => m[0] === 4
  const isStep2 = m => m[0] === 0 && m[1] === 1
  // On a: client 2's "!" after client 1's "i", which the server lacks (it waits), then an
  // empty update, then a step 1. Messages of a connection are handled in order and a step 1
  // is answered at once when no commit is in flight, so a saved message due for the first
  // two would reach a before the step 2.
  a.send(hex('00 02 0a 01 01 02 00 84 01 01 01 21 00'))
  a.send(hex('00 02 02 00 00'))
  a.send(hex('00 00 01 00'))
  await until(() => a.received.some(isStep2), 'the answer to a\'s step 1')
  assert.equal(a.received.filter(isSaved).length, 0, 'nothing saved while "!" waits')
  assert.equal(await server.text(token, note), '')
  // b brings client 1's "hi": both integrate and commit; a's two saved messages come, covering
  // client 2's "!" (clock 1) and client 1's "hi" (clock 2); b gets its own
  b.send(hex('00 02 12 01 01 01 00 04 01 07 63 6f 6e 74 65 6e 74 02 68 69 00'))
  await until(() => a.received.filter(isSaved).length === 2, 'a\'s two saved messages')
  for (const m of a.received.filter(isSaved)) assert.deepEqual([...m], [...hex('04 05 02 02 01 01 02')])
  await until(() => b.received.filter(isSaved).length === 1, 'b\'s saved message')
  assert.equal(await server.text(token, note), 'hi!')
  a.close()
  b.close()
  await a.closed
  await b.closed
}))
