// gen-fuzz-yproto-seeds.mjs - writes the seed corpus of the fuzz_yproto_decode
// target into tests/fuzz/corpus/fuzz_yproto_decode/msg-*.bin: y-websocket
// messages made by the real y-protocols encoders (sync step 1, step 2,
// update, awareness, query awareness, auth), vaultd's saved message, and a few
// hand-made edge cases (non-minimal varuints, trailing bytes, truncations).
// Input layout: tests/fuzz/README.md. Run from the repo root:
//   node scripts/gen-fuzz-yproto-seeds.mjs
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as authProtocol from 'y-protocols/auth'
import fs from 'fs'
import path from 'path'

const dir = 'tests/fuzz/corpus/fuzz_yproto_decode'
fs.mkdirSync(dir, { recursive: true })
const put = (name, bytes) => fs.writeFileSync(path.join(dir, `msg-${name}.bin`), Buffer.from(bytes))
const message = (fn) => { const e = encoding.createEncoder(); fn(e); return encoding.toUint8Array(e) }

const doc = new Y.Doc()
doc.clientID = 7
const text = doc.getText('content')
text.insert(0, '# Title\nHello 😀 world\n')
text.delete(2, 3)
doc.getMap('meta').set('k', [1, 'two', { three: 3 }])
let last = null
doc.on('update', u => { last = u })
text.insert(4, 'é')

put('sync-step1', message(e => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep1(e, doc) }))
put('sync-step1-empty', message(e => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep1(e, new Y.Doc()) }))
put('sync-step2', message(e => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep2(e, doc) }))
put('sync-step2-empty', message(e => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep2(e, new Y.Doc()) }))
put('sync-update', message(e => { encoding.writeVarUint(e, 0); syncProtocol.writeUpdate(e, last) }))

const awareness = new awarenessProtocol.Awareness(doc)
awareness.setLocalState({ user: { name: 'Ada', color: '#ff0' }, cursor: { anchor: 3, head: 5 } })
const other = new awarenessProtocol.Awareness(new Y.Doc())
other.setLocalState({ user: { name: 'Grace' } })
awarenessProtocol.applyAwarenessUpdate(awareness, awarenessProtocol.encodeAwarenessUpdate(other, [other.clientID]), 'x')
const aw = awarenessProtocol.encodeAwarenessUpdate(awareness, [...awareness.getStates().keys()])
put('awareness', message(e => { encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, aw) }))
awareness.setLocalState(null)
const gone = awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID])
put('awareness-null', message(e => { encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, gone) }))
awareness.destroy()
other.destroy()
put('query-awareness', [3])
put('auth-denied', message(e => { encoding.writeVarUint(e, 2); authProtocol.writePermissionDenied(e, 'this connection is read-only: viewers may not edit this note') }))

// vaultd's saved message (docs/sync.md): varuint 4, varbytes state vector
put('saved', message(e => { encoding.writeVarUint(e, 4); encoding.writeVarUint8Array(e, Y.encodeStateVector(doc)) }))
put('saved-docs', [0x04, 0x05, 0x02, 0x02, 0x01, 0x01, 0x02])

// edge cases: a non-minimal varuint (lib0 reads it), the largest safe integer, trailing
// bytes, a length past the end, an unknown type, an awareness entry with bad UTF-8
put('nonminimal', [0x80, 0x00, 0x82, 0x00, 0x02, 0x00, 0x00])
put('max-uint', [0x04, 0x0a, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00])
put('trailing', [0x00, 0x02, 0x02, 0x00, 0x00, 0x00])
put('past-end', [0x01, 0x7f, 0x01])
put('unknown', [0x09])
put('aware-bad-utf8', [0x01, 0x06, 0x01, 0x01, 0x01, 0x02, 0xc3, 0x28])
