// gen-updates-vectors.mjs - prints the expected bytes for
// tests/unit/test_crdt_updates.c, computed with the real Yjs
// (node_modules/yjs). Run from the repo root:
//   node scripts/gen-updates-vectors.mjs > /tmp/vectors.txt
// Each case prints: name, the op (merge | diff | sv), the input updates (and
// state vector for diff) and the expected output, all as hex.
import * as Y from 'yjs'

const hex = (u) => Buffer.from(u).toString('hex')
const cases = []
const add = (name, op, inputs, sv) => {
  let out
  if (op === 'merge') out = Y.mergeUpdates(inputs)
  else if (op === 'diff') out = Y.diffUpdate(inputs[0], sv)
  else out = Y.encodeStateVectorFromUpdate(inputs[0])
  cases.push({ name, op, inputs: inputs.map(hex), sv: sv ? hex(sv) : '', out: hex(out) })
}
const doc = (id, gc = true) => { const d = new Y.Doc({ gc }); d.clientID = id; return d }
const updatesOf = (d) => { const us = []; d.on('update', (u) => us.push(u)); return us }

// 1. two clients typing into one text
{
  const a = doc(1); const b = doc(2)
  a.getText('t').insert(0, 'hello')
  b.getText('t').insert(0, 'world')
  add('two_clients', 'merge', [Y.encodeStateAsUpdate(a), Y.encodeStateAsUpdate(b)])
}
// 2. per-keystroke updates of one client (adjacent items stay separate)
{
  const a = doc(7); const us = updatesOf(a)
  const t = a.getText('t')
  t.insert(0, 'a'); t.insert(1, 'b'); t.insert(2, 'c'); t.delete(1, 1)
  add('keystrokes', 'merge', us)
  add('keystrokes_sv', 'sv', [Y.mergeUpdates(us)])
}
// 3. map set twice on one key: the second item has an origin and a parentSub
{
  const a = doc(3); const us = updatesOf(a)
  const m = a.getMap('m')
  m.set('k', 1); m.set('k', 'two'); m.set('o', { z: 1, a: [1.5, 2 ** 40, -0, true, null] })
  add('map_overwrite', 'merge', us)
}
// 4. overlapping updates with surrogate pairs: whole state + a later part
{
  const a = doc(5); const us = updatesOf(a)
  const t = a.getText('t')
  t.insert(0, 'a😀b')
  t.insert(4, '😀😀')
  const full = Y.encodeStateAsUpdate(a)
  add('overlap_full_and_part', 'merge', [us[1], full])
  add('overlap_part_and_full', 'merge', [full, us[1]])
  // a state vector that ends inside the first surrogate pair
  const sv = Y.encodeStateVector(new Y.Doc())
  add('diff_empty_sv', 'diff', [full], sv)
  const enc = (clock) => { const d = new Y.Doc(); d.clientID = 99; return Buffer.from([1, 5, clock]) }
  add('diff_inside_pair', 'diff', [full], enc(2))
  add('diff_after_pair', 'diff', [full], enc(3))
  add('diff_inside_second', 'diff', [full], enc(5))
  add('diff_all', 'diff', [full], enc(8))
}
// 5. gaps: updates 1 and 3 of one client without 2 (a Skip is written)
{
  const a = doc(11); const us = updatesOf(a)
  const t = a.getText('t')
  t.insert(0, 'ab'); t.insert(2, 'cd'); t.insert(4, 'ef')
  add('gap_skip', 'merge', [us[0], us[2]])
  add('gap_skip_sv', 'sv', [Y.mergeUpdates([us[0], us[2]])])
  add('gap_only_late_sv', 'sv', [us[2]])
  add('gap_skip_diff', 'diff', [Y.mergeUpdates([us[0], us[2]])], Buffer.from([1, 11, 1]))
}
// 6. deletes: merged and sorted delete sets from several updates
{
  const a = doc(21); const us = updatesOf(a)
  const t = a.getText('t')
  t.insert(0, 'abcdefghij')
  t.delete(8, 1); t.delete(2, 2); t.delete(1, 1); t.delete(5, 1)
  const b = doc(4); Y.applyUpdate(b, Y.encodeStateAsUpdate(a)); const ub = updatesOf(b)
  b.getText('t').delete(0, 1)
  add('delete_sets', 'merge', [...us, ...ub])
  add('delete_sets_diff', 'diff', [Y.mergeUpdates([...us, ...ub])], Buffer.from([1, 21, 5]))
}
// 7. GC'd content from one peer and the items from another (Item/GC tie)
{
  const a = doc(31, false); const us = updatesOf(a)
  a.getText('t').insert(0, 'xyz'); a.getText('t').delete(0, 3)
  const g = doc(32, true); Y.applyUpdate(g, Y.encodeStateAsUpdate(a))
  const gcState = Y.encodeStateAsUpdate(g)
  add('gc_vs_items', 'merge', [gcState, us[0]])
  add('items_vs_gc', 'merge', [us[0], gcState])
  add('gc_vs_items_3', 'merge', [us[0], gcState, us[1]])
}
// 8. every content kind
{
  const a = doc(41, false); const us = updatesOf(a)
  const arr = a.getArray('arr')
  arr.insert(0, [1, -1, 0.5, 1e300, 'str', null, true, false, { a: 1, 2: 'x', 1: 'y' }, [[[]]], new Uint8Array([1, 2, 3])])
  arr.push([new Y.Map()])
  const xml = a.getXmlFragment('x')
  xml.insert(0, [new Y.XmlElement('p'), new Y.XmlText('hi')])
  const tx = a.getText('rich')
  tx.insert(0, 'bold', { bold: true })
  tx.insertEmbed(4, { image: 'i.png' })
  arr.push([new Y.Doc({ guid: 'sub', autoLoad: true })])
  arr.delete(0, 3)
  add('all_contents', 'merge', us)
  add('all_contents_diff', 'diff', [Y.mergeUpdates(us)], Buffer.from([1, 41, 5]))
  add('all_contents_sv', 'sv', [Y.mergeUpdates(us)])
}
// 9. hand-made Any values that lib0 normalises when it re-encodes them
{
  // update: 1 client, 1 struct, client 9 clock 0, ContentAny (info 8) with
  // parent root "a", then the values; empty delete set
  const anyUpdate = (vals) => Buffer.from([1, 1, 9, 0, 8, 1, 1, 0x61, vals.length, ...vals.flat(), 0])
  const f64 = (x) => { const b = Buffer.alloc(9); b[0] = 123; b.writeDoubleBE(x, 1); return [...b] }
  const f32 = (x) => { const b = Buffer.alloc(5); b[0] = 124; b.writeFloatBE(x, 1); return [...b] }
  const str = (s) => { const b = Buffer.from(s); return [119, b.length, ...b] }
  const key = (s) => { const b = Buffer.from(s); return [b.length, ...b] }
  const vals = [
    f64(3), f64(-0), f64(0.5), f64(1.1), f64(2 ** 31), f64(NaN), f32(7), f32(0.1), f32(Infinity),
    [125, 0x80, 0x80, 0x80, 0x80, 0x10], // varint 2^34: becomes a float
    [125, 0x80, 0x00], // non-canonical varint 0
    [118, 5, ...key('b'), 125, 1, ...key('7'), 125, 2, ...key('b'), 125, 3, ...key('__proto__'), 126, ...key('0'), ...str('z')],
    [117, 2, 118, 2, ...key('10'), 121, ...key('9'), 120, 116, 2, 0xaa, 0xbb],
    [122, 1, 2, 3, 4, 5, 6, 7, 8]
    // NaNs with a payload are left out: V8 keeps or quietens a signalling
    // NaN depending on which tier runs the DataView code
  ]
  const u = anyUpdate(vals)
  add('any_normalised', 'merge', [u, Buffer.from([0, 0])])
  // parent info 5 (means "id"), parentSub flag on an item with an origin,
  // GC with info 0x80, non-canonical varuints
  const odd = Buffer.from([1, 3, 0x88, 0x00, 0x80, 0x00,
    0x24, 5, 1, 2, 1, 0x6b, 1, 0x41, // string "A", parent id (1,2), sub "k"
    0xa4, 0x88, 0x00, 0, 1, 0x42, // origin (8,0), BIT6 set but no sub read, "B"
    0x80, 3, // GC length 3
    0])
  add('odd_encodings', 'merge', [odd, Buffer.from([0, 0])])
  // ContentDoc options are rebuilt from a Doc: only gc/autoLoad/meta survive,
  // a string "guid" option replaces the guid
  const docOpts = Buffer.from([1, 2, 9, 0,
    9, 1, 1, 0x61, ...str('g').slice(1), 118, 5, ...key('gc'), 125, 0, ...key('autoLoad'), ...str('yes'),
    ...key('meta'), 126, ...key('guid'), ...str('other'), ...key('extra'), 125, 1,
    0x89, 9, 0, ...str('h').slice(1), 118, 2, ...key('meta'), 118, 1, ...key('z'), 120, ...key('gc'), 127,
    0])
  add('doc_options', 'merge', [docOpts, Buffer.from([0, 0])])
  // JSON texts (ContentJSON, embeds, format values) come out as
  // JSON.stringify(JSON.parse(text)): spacing, escapes, numbers, key order
  const jstr = (t) => { const b = Buffer.from(t); return [b.length, ...b] }
  const ugly = ' {"b" : [1.50, "\\u0041\\/\\ud83d\\ude00\\ud800", {}], "1": 1e2, "__proto__": null, "b": 2, "x": -0.0000001 } '
  const jsonUpdate = Buffer.from([1, 3, 9, 0,
    5, 1, 1, 0x61, ...jstr(ugly), // embed
    0x86, 9, 0, ...jstr('bold'), ...jstr(' [ 1e21 , 1e-7 , 123e-2 , 1e999 ] '), // format
    0x82, 9, 1, 2, ...jstr('undefined'), ...jstr('"\\t\\u0001"'), // JSON
    0])
  add('json_normalised', 'merge', [jsonUpdate, Buffer.from([0, 0])])
}
// 10. zero and one inputs; many updates in random order
{
  add('merge_none', 'merge', [])
  const a = doc(51); const us = updatesOf(a)
  const t = a.getText('t')
  for (let i = 0; i < 20; i++) t.insert((i * 7) % (t.length + 1), String.fromCharCode(97 + i))
  const b = doc(52); Y.applyUpdate(b, Y.encodeStateAsUpdate(a)); const ub = updatesOf(b)
  for (let i = 0; i < 10; i++) b.getText('t').delete(i % b.getText('t').length, 1)
  const all = [...us, ...ub]
  const shuffled = all.map((u, i) => [u, (i * 13) % all.length]).sort((x, y) => x[1] - y[1]).map(x => x[0])
  add('many_shuffled', 'merge', shuffled)
  add('merge_of_merges', 'merge', [Y.mergeUpdates(shuffled.slice(0, 15)), Y.mergeUpdates(shuffled.slice(10))])
}
if (process.argv[2] === '--c') {
  // C initialisers for the table in tests/unit/test_crdt_updates.c
  const q = (h) => {
    const parts = []
    for (let i = 0; i < h.length; i += 64) parts.push('"' + h.slice(i, i + 64) + '"')
    return parts.length ? parts.join('\n         ') : '""'
  }
  for (const c of cases) {
    console.log(`    {"${c.name}", "${c.op}", ${c.inputs.length},`)
    console.log(`     {${c.inputs.map(q).join(',\n      ')}},`)
    console.log(`     ${q(c.sv)},`)
    console.log(`     ${q(c.out)}},`)
  }
} else {
  for (const c of cases) console.log(JSON.stringify(c))
}
