// saved.test.ts - the "saved on server" logic (src/saved.ts) against the spec of vaultd's saved
// message and sync protocol, with real Y.Docs. Run by `npm test` (scripts/unit-test.mjs).
import test from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { SaveTracker } from '../src/saved'

const sv = (doc: Y.Doc): Uint8Array => Y.encodeStateVector(doc)
const svMap = (doc: Y.Doc): Map<number, number> => Y.decodeStateVector(Y.encodeStateVector(doc))

/** A connection that opened and answered the server's step 1; returns whether a barrier was asked. */
function connect (t: SaveTracker): boolean {
  t.opened()
  return t.answeredServerStep1()
}

test('a fresh connection is saved only once the barrier after our step 2 is answered', () => {
  const doc = new Y.Doc()
  doc.getText('content').insert(0, 'written offline')
  const t = new SaveTracker(doc)
  assert.equal(t.isSaved(), false)
  assert.equal(connect(t), true)
  t.barrierSent()
  assert.equal(t.step2(), false) // answers the provider's own step 1: proves nothing of ours
  assert.equal(t.isSaved(), false)
  assert.equal(t.step2(), false) // answers the barrier
  assert.equal(t.isSaved(), true)
})

test('with saved messages, an insert is saved when a saved message covers it, not before', () => {
  const doc = new Y.Doc()
  const t = new SaveTracker(doc)
  connect(t)
  t.barrierSent()
  t.step2()
  t.step2()
  assert.equal(t.isSaved(), true)
  const before = sv(doc)
  t.savedMessage(before) // the server supports saved messages
  doc.getText('content').insert(0, 'hello')
  assert.equal(t.localChange(false), false, 'no barrier needed for an insert')
  assert.equal(t.isSaved(), false)
  t.savedMessage(before) // an older acknowledgement
  assert.equal(t.isSaved(), false)
  t.savedMessage(sv(doc))
  assert.equal(t.isSaved(), true)
})

test('a deletion is saved only when a barrier proves it, whatever saved messages say', () => {
  const doc = new Y.Doc()
  const t = new SaveTracker(doc)
  connect(t)
  t.barrierSent()
  t.step2()
  t.step2()
  doc.getText('content').insert(0, 'hello world')
  t.savedMessage(sv(doc))
  assert.equal(t.isSaved(), true)
  doc.getText('content').delete(5, 6)
  assert.equal(t.localChange(true), true, 'a deletion asks for a barrier')
  t.barrierSent()
  t.savedMessage(sv(doc)) // same state vector: cannot speak for the deletion
  assert.equal(t.isSaved(), false)
  // another deletion while the barrier is in flight: the answer asks for one more
  doc.getText('content').delete(0, 1)
  assert.equal(t.localChange(true), false)
  assert.equal(t.step2(), true)
  assert.equal(t.isSaved(), false)
  t.barrierSent()
  assert.equal(t.step2(), false)
  assert.equal(t.isSaved(), true)
})

test('without saved messages every change is proven by a barrier', () => {
  const doc = new Y.Doc()
  const t = new SaveTracker(doc)
  connect(t)
  t.barrierSent()
  t.step2()
  t.step2()
  doc.getText('content').insert(0, 'x')
  assert.equal(t.localChange(false), true)
  t.barrierSent()
  assert.equal(t.isSaved(), false)
  t.step2()
  assert.equal(t.isSaved(), true)
})

test('edits received from the server are committed: they never make the note unsaved', () => {
  const doc = new Y.Doc()
  const other = new Y.Doc()
  const t = new SaveTracker(doc)
  connect(t)
  t.barrierSent()
  t.step2()
  t.step2()
  other.getText('content').insert(0, 'from a collaborator')
  const before = svMap(doc)
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(other), 'provider')
  t.serverTransaction(before, svMap(doc))
  assert.equal(t.isSaved(), true)
})

test('offline changes ask for nothing until the next connection, which proves them', () => {
  const doc = new Y.Doc()
  const t = new SaveTracker(doc)
  connect(t)
  t.barrierSent()
  t.step2()
  t.step2()
  t.savedMessage(sv(doc))
  t.closed()
  doc.getText('content').insert(0, 'typed on a train')
  doc.getText('content').delete(0, 9)
  assert.equal(t.localChange(true), false)
  assert.equal(t.isSaved(), false)
  t.opened()
  assert.equal(t.localChange(false), false, 'no barrier before our step 2 went out')
  assert.equal(t.answeredServerStep1(), true)
  t.barrierSent()
  t.step2()
  assert.equal(t.isSaved(), false)
  t.step2()
  assert.equal(t.isSaved(), true)
})

test('a barrier in flight when our step 2 goes out is followed by another', () => {
  const doc = new Y.Doc()
  const t = new SaveTracker(doc)
  t.opened()
  assert.equal(t.answeredServerStep1(), true)
  t.barrierSent()
  doc.getText('content').insert(0, 'a')
  assert.equal(t.localChange(false), false) // one in flight already
  t.step2()
  assert.equal(t.step2(), true) // the barrier's answer predates the change: send another
  t.barrierSent()
  t.step2()
  assert.equal(t.isSaved(), true)
})
