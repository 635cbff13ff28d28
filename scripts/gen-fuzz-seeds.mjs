// gen-fuzz-seeds.mjs - writes a small seed corpus for the libFuzzer targets,
// made with the real Yjs, into tests/fuzz/corpus/<target>/upd-*.bin (the
// "upd-" prefix keeps these apart from scripts/gen-fuzz-corpus.mjs's seeds).
// Input layouts: tests/fuzz/README.md. Run from the repo root:
//   node scripts/gen-fuzz-seeds.mjs
import * as Y from 'yjs'
import fs from 'fs'
import path from 'path'

const root = 'tests/fuzz/corpus'
const put = (target, name, bytes) => {
  fs.mkdirSync(path.join(root, target), { recursive: true })
  fs.writeFileSync(path.join(root, target, `upd-${name}.bin`), Buffer.from(bytes))
}
const varuint = (n) => { const o = []; while (n > 127) { o.push((n & 127) | 128); n = Math.floor(n / 128) } o.push(n); return o }
const mergeInput = (ups) => [...varuint(ups.length), ...ups.flatMap((u) => [...varuint(u.length), ...u])]
const diffInput = (u, sv) => [...varuint(sv.length), ...sv, ...u]

const doc = (id, gc = true) => { const d = new Y.Doc({ gc }); d.clientID = id; return d }
const updatesOf = (d) => { const us = []; d.on('update', (u) => us.push(u)); return us }

const updates = {}
{
  const a = doc(1); const us = updatesOf(a); const t = a.getText('content')
  t.insert(0, 'Hello world'); t.insert(6, 'beautiful '); t.delete(0, 1); t.insert(0, 'h😀')
  t.format(0, 5, { bold: true }); t.insertEmbed(3, { image: 'x.png' })
  updates.text = Y.encodeStateAsUpdate(a)
  updates.text_steps = us
}
{
  const a = doc(2, false); const us = updatesOf(a)
  const m = a.getMap('files'); const f = new Y.Map(); m.set('id1', f)
  f.set('path', '/Projects/Q1/Design.md'); f.set('kind', 'note'); f.set('created', 1700000000123)
  f.set('size', 1.5); f.set('blob', new Uint8Array([1, 2, 3])); f.set('trashed', null); f.delete('trashed')
  const arr = a.getArray('ink'); arr.push([{ id: 's1', tool: 'pen', color: '#000', points: [1, 2, 3] }, -7, 2 ** 40, true, [[]]])
  arr.delete(1, 1)
  const x = a.getXmlFragment('x'); x.insert(0, [new Y.XmlElement('p'), new Y.XmlText('t')])
  arr.push([new Y.Doc({ guid: 'sub' })])
  updates.structured = Y.encodeStateAsUpdate(a)
  updates.structured_steps = us
}
{
  const a = doc(3, true); const b = doc(4, true)
  a.getText('t').insert(0, 'abc'); Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  b.getText('t').delete(1, 1); a.getText('t').insert(3, 'def'); a.getText('t').delete(0, 2)
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b)); Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  updates.gc = Y.encodeStateAsUpdate(a)
  updates.concurrent_b = Y.encodeStateAsUpdate(b)
}

// hand-made: JSON texts that Yjs re-serialises, Any objects it re-orders
{
  const jstr = (t) => { const b = Buffer.from(t); return [...varuint(b.length), ...b] }
  updates.json = Buffer.from([1, 3, 9, 0,
    5, 1, 1, 0x61, ...jstr(' {"b" : [1.50, "\\u0041\\ud800", {}], "1": 1e2, "b": 2 } '),
    0x86, 9, 0, ...jstr('bold'), ...jstr(' [ 1e21 , 1e-7 , 1e999 ] '),
    0x82, 9, 1, 2, ...jstr('undefined'), ...jstr('"\\t"'),
    0])
  updates.anyObject = Buffer.from([1, 1, 9, 0, 8, 1, 1, 0x61, 1,
    118, 4, 1, 0x62, 125, 1, 1, 0x37, 125, 2, 1, 0x62, 125, 3, 9, ...Buffer.from('__proto__'), 126,
    0])
}

// fuzz_apply_update: one update each
put('fuzz_apply_update', 'empty', [0, 0])
put('fuzz_apply_update', 'text', updates.text)
put('fuzz_apply_update', 'structured', updates.structured)
put('fuzz_apply_update', 'gc', updates.gc)
updates.text_steps.forEach((u, i) => put('fuzz_apply_update', `text-step${i}`, u))
put('fuzz_apply_update', 'pending', updates.structured_steps[updates.structured_steps.length - 1])
put('fuzz_apply_update', 'json', updates.json)
put('fuzz_apply_update', 'any-object', updates.anyObject)
put('fuzz_apply_update', 'merged-gap', Y.mergeUpdates([updates.text_steps[0], updates.text_steps[2]]))

// fuzz_merge_updates: several updates
put('fuzz_merge_updates', 'none', mergeInput([]))
put('fuzz_merge_updates', 'steps', mergeInput(updates.text_steps))
put('fuzz_merge_updates', 'steps-reversed', mergeInput([...updates.text_steps].reverse()))
put('fuzz_merge_updates', 'gap', mergeInput([updates.text_steps[0], updates.text_steps[3]]))
put('fuzz_merge_updates', 'overlap', mergeInput([updates.text, updates.text_steps[2]]))
put('fuzz_merge_updates', 'gc-vs-items', mergeInput([updates.gc, updates.concurrent_b]))
put('fuzz_merge_updates', 'json', mergeInput([updates.json, updates.anyObject]))
put('fuzz_merge_updates', 'structured', mergeInput(updates.structured_steps.slice(0, 8)))

// fuzz_diff_update: state vector + update
const svOf = (u) => Y.encodeStateVectorFromUpdate(u)
put('fuzz_diff_update', 'empty-sv', diffInput(updates.text, [0]))
put('fuzz_diff_update', 'own-sv', diffInput(updates.text, svOf(updates.text)))
put('fuzz_diff_update', 'partial', diffInput(updates.text, [1, 1, 3]))
put('fuzz_diff_update', 'surrogate', diffInput(updates.text, [1, 1, 18]))
put('fuzz_diff_update', 'structured', diffInput(updates.structured, [1, 2, 4]))
put('fuzz_diff_update', 'json', diffInput(updates.json, [1, 9, 1]))
put('fuzz_diff_update', 'gc', diffInput(updates.gc, svOf(updates.concurrent_b)))
