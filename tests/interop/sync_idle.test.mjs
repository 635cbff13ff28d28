// sync_idle.test.mjs - idle WebSocket connections (src/server/vws.h): a sync or vault channel
// connection left alone for a sweep period gives its wslay context back (the
// vault_ws_idle_connections gauge counts it), and then still works as if nothing happened:
// stock y-websocket providers edit, see each other's edits and presence; a vault channel
// client receives pushes and gets its ACKs; a ping is answered. Bytes that wslay holds across
// a sweep are never dropped: a frame cut in its header, its mask or its payload, and a message
// sent in two fragments, with the connection left idle in the middle, all arrive whole; and a
// server shutting down still closes released connections with a close frame (1001).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import * as Y from 'yjs'
import { provider, synced, syncMessage, until, sleep, withVault } from './lib/vaultd.mjs'
import { VaultClient } from './lib/vchan.mjs'

// Longer than two sweeps (one a second): an idle connection is released by then.
const IDLE_MS = 2500

const withServer = fn => withVault({}, fn)


const released = server => server.metric('vault_ws_idle_connections')

async function untilReleased (server, n) {
  await until(async () => (await released(server)) === n, `${n} connections to be released`)
}


/** A client frame (masked, RFC 6455 5.2) with the shortest length encoding. */
function frame (opcode, payload, fin = true) {
  const len = payload.length
  const ext = len < 126 ? 0 : len <= 0xffff ? 2 : 8
  const out = Buffer.alloc(2 + ext + 4 + len)
  out[0] = (fin ? 0x80 : 0) | opcode
  out[1] = 0x80 | (ext === 0 ? len : ext === 2 ? 126 : 127)
  if (ext === 2) out.writeUInt16BE(len, 2)
  if (ext === 8) out.writeBigUInt64BE(BigInt(len), 2)
  const mask = randomBytes(4)
  mask.copy(out, 2 + ext)
  for (let i = 0; i < len; i++) out[2 + ext + 4 + i] = payload[i] ^ mask[i % 4]
  return out
}

/** A WebSocket on a plain TCP socket, so a test can cut frames where it likes. Resolves once
 * the server answered 101; `messages` collects the server's frames ({ opcode, payload }). */
function rawConnect (server, note, token) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(server.port, '127.0.0.1')
    const key = randomBytes(16).toString('base64')
    let buf = Buffer.alloc(0)
    let upgraded = false
    sock.messages = []
    sock.on('error', reject)
    sock.on('connect', () => sock.write(
      `GET /api/v1/sync/${note} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      `Authorization: Bearer ${token}\r\n\r\n`))
    sock.on('data', d => {
      buf = Buffer.concat([buf, d])
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.subarray(0, end).toString()
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(head))
        upgraded = true
        buf = buf.subarray(end + 4)
        resolve(sock)
      }
      for (;;) { // the server's frames are not masked
        if (buf.length < 2) return
        let len = buf[1] & 0x7f
        let at = 2
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); at = 4 }
        if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); at = 10 }
        if (buf.length < at + len) return
        const m = { opcode: buf[0] & 0x0f, payload: new Uint8Array(buf.subarray(at, at + len)) }
        sock.messages.push(m)
        buf = buf.subarray(at + len)
        if (m.opcode === 8) sock.end(frame(8, m.payload)) // answer the close, as a client must
      }
    })
  })
}

/** A Yjs update that inserts `text` into an empty note's content. */
function insertUpdate (text) {
  const d = new Y.Doc()
  d.getText('content').insert(0, text)
  return Y.encodeStateAsUpdate(d)
}

test('idle providers are released, then edit, see each other and presence as before', () => withServer(async ({ server, owner, vault }) => {
  const note = await server.note(owner, vault, '/Idle.md', 'Hello')
  const a = provider(server, owner, note)
  const b = provider(server, owner, note)
  await synced(a)
  await synced(b)
  for (let round = 1; round <= 2; round++) {
    await untilReleased(server, 2)
    a.doc.getText('content').insert(a.text().length, ` a${round}`)
    await until(() => b.text() === a.text(), 'b to receive a\'s edit')
    await untilReleased(server, 2)
    b.doc.getText('content').insert(0, `b${round} `)
    await until(() => a.text() === b.text(), 'a to receive b\'s edit')
    await untilReleased(server, 2)
    a.p.awareness.setLocalStateField('user', { name: `Ann ${round}` })
    await until(() => b.p.awareness.getStates().get(a.doc.clientID)?.user?.name === `Ann ${round}`,
      'b to see a\'s presence')
  }
  assert.equal(a.text(), 'b2 b1 Hello a1 a2')
  await until(async () => (await server.text(owner, note)) === 'b2 b1 Hello a1 a2', 'the note to be stored')
  assert.deepEqual(a.p.closes, [])
  assert.deepEqual(b.p.closes, [])
  a.destroy()
  b.destroy()
  await until(async () => (await released(server)) === 0, 'the gauge to forget closed connections')
}))

test('bytes held across sweeps are not lost: cut frames, fragments, and a ping', () => withServer(async ({ server, owner, vault }) => {
  const cuts = [
    ['in the header', 1],
    ['in the mask', 4],
    ['in the payload', 12]
  ]
  const notes = []
  for (let i = 0; i <= cuts.length; i++) notes.push(await server.note(owner, vault, `/Cut${i}.md`, ''))
  const socks = []
  for (const n of notes) socks.push(await rawConnect(server, n, owner))
  const pinged = await rawConnect(server, notes[0], owner)
  await untilReleased(server, socks.length + 1)

  // A frame cut in two, idle in the middle, on each of the first connections; on the last,
  // a message in two fragments (binary, then continuation).
  const texts = cuts.map(([what]) => `cut ${what}`)
  const frames = texts.map(t => frame(2, syncMessage(2, insertUpdate(t))))
  cuts.forEach(([, at], i) => socks[i].write(frames[i].subarray(0, at)))
  const whole = syncMessage(2, insertUpdate('in two fragments'))
  const last = socks[cuts.length]
  last.write(frame(2, whole.subarray(0, 5), false))
  await sleep(IDLE_MS)
  cuts.forEach(([, at], i) => socks[i].write(frames[i].subarray(at)))
  last.write(frame(0, whole.subarray(5), true))
  for (let i = 0; i < cuts.length; i++)
    await until(async () => (await server.text(owner, notes[i])) === texts[i], `the frame cut ${cuts[i][0]} to arrive`)
  await until(async () => (await server.text(owner, notes[cuts.length])) === 'in two fragments', 'the fragmented message to arrive')

  // A ping on a released connection is answered with its payload.
  await untilReleased(server, socks.length + 1)
  pinged.write(frame(9, Buffer.from('still there?')))
  await until(() => pinged.messages.some(m => m.opcode === 10 && Buffer.from(m.payload).toString() === 'still there?'), 'the pong')
  for (const s of [...socks, pinged]) {
    assert.equal(s.destroyed, false, 'no connection was closed')
    assert.ok(!s.messages.some(m => m.opcode === 8), 'no close frame came')
  }
  // Shutting down closes released connections properly too: a close frame, 1001.
  await untilReleased(server, socks.length + 1)
  await server.stop()
  for (const s of [...socks, pinged]) {
    const close = s.messages.find(m => m.opcode === 8)
    assert.ok(close, 'a close frame came at shutdown')
    assert.equal(Buffer.from(close.payload).readUInt16BE(0), 1001)
    s.destroy()
  }
}))

test('an idle vault channel receives pushes and its edits are acknowledged', () => withServer(async ({ server, owner, vault }) => {
  const note = await server.note(owner, vault, '/Channel.md', 'start')
  const c = new VaultClient(server, vault, owner)
  try {
    await c.connect()
    await until(() => c.text(note) === 'start', 'the channel to have the note')
    const p = provider(server, owner, note)
    await synced(p)
    await untilReleased(server, 2)
    p.doc.getText('content').insert(5, ' pushed')
    await until(() => c.text(note) === 'start pushed', 'the push to reach the idle channel')
    await untilReleased(server, 2)
    const acks = c.seqs.length
    c.doc(note).getText('content').insert(0, 'acked ')
    await c.settled()
    assert.ok(c.seqs.length > acks, 'an ACK arrived')
    await until(() => p.text() === 'acked start pushed', 'the provider to receive the channel edit')
    p.destroy()
  } finally {
    c.destroy()
  }
}))
