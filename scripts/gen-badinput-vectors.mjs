// gen-badinput-vectors.mjs - prints the tables of tests/unit/test_crdt_badinput.c:
// a base document, real updates made by Yjs 13.6 (with the text Yjs shows
// after applying each to the base), and hostile updates with what Yjs does
// with them (Y.applyUpdate throws: "R", or accepts: "A" plus the text).
//   node scripts/gen-badinput-vectors.mjs > /tmp/badinput.c
import * as Y from 'yjs'

const hex = (u) => Buffer.from(u).toString('hex')
const q = (h) => {
  const parts = []
  for (let i = 0; i < h.length; i += 64) parts.push('"' + h.slice(i, i + 64) + '"')
  return parts.length ? parts.join('\n     ') : '""'
}
const cstr = (s) => JSON.stringify(s)
const varuint = (n) => { const o = []; while (n > 127) { o.push(Number(BigInt(n) & 127n) | 128); n = Math.floor(n / 128) } o.push(n); return o }
const str = (s) => { const b = Buffer.from(s); return [...varuint(b.length), ...b] }

// base: client 1 wrote "Hello world" and a little metadata
const base = new Y.Doc({ gc: false }); base.clientID = 1
base.getText('content').insert(0, 'Hello world')
base.getMap('meta').set('title', 'Hello')
const baseUpdate = Y.encodeStateAsUpdate(base)
const onBase = (u) => {
  const d = new Y.Doc({ gc: false }); d.clientID = 1000
  Y.applyUpdate(d, baseUpdate)
  try { Y.applyUpdate(d, u) } catch (e) { return null }
  return d.getText('content').toString()
}
// the document's whole state (Yjs includes pending structs and deletes)
const stateOnBase = (u) => {
  const d = new Y.Doc({ gc: false }); d.clientID = 1000
  Y.applyUpdate(d, baseUpdate)
  try { Y.applyUpdate(d, u) } catch (e) { return '' }
  return hex(Y.encodeStateAsUpdate(d))
}

// real updates
const real = []
{
  const b = new Y.Doc({ gc: false }); b.clientID = 2; Y.applyUpdate(b, baseUpdate)
  const us = []; b.on('update', (u) => us.push(u))
  b.getText('content').insert(6, 'beautiful ')
  real.push(['insert_by_peer', us[0]])
  const c = new Y.Doc({ gc: false }); c.clientID = 3; Y.applyUpdate(c, baseUpdate)
  const uc = []; c.on('update', (u) => uc.push(u))
  c.getText('content').delete(6, 5); c.getText('content').insert(6, 'universe')
  real.push(['replace_by_peer', Y.mergeUpdates(uc)])
  real.push(['delete_only', uc[0]])
  const t = c.getText('content'); t.format(0, 5, { bold: true }); t.insertEmbed(2, { img: 'a.png' }); t.insert(1, '😀é')
  const m = c.getMap('meta'); m.set('tags', ['a', 'b']); m.set('size', 1.25); m.set('blob', new Uint8Array([9, 8]))
  const arr = c.getArray('ink'); arr.push([{ id: 's', points: [1, 2, 3] }, new Y.Map(), new Y.Text('x')])
  c.getXmlFragment('x').insert(0, [new Y.XmlElement('p')])
  real.push(['many_kinds', Y.encodeStateAsUpdate(c, Y.encodeStateVector(base))])
  real.push(['pending_only', uc.length > 1 ? uc[1] : uc[0]])
  real.push(['full_state', Y.encodeStateAsUpdate(c)])
}
// hostile updates
const H = []
const big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01] // 2^64 - 1 as a varuint
const item = (client, clock, info, rest, ds = [0]) => [1, 1, ...varuint(client), ...varuint(clock), info, ...rest, ...ds]
const rootText = [1, ...str('content')]
H.push(['clients_2pow64', [...big, 0]])
H.push(['clients_2pow53', [...varuint(2 ** 53 - 1), 0]])
H.push(['structs_2pow64', [1, ...big, 5, 0, 0]])
H.push(['string_len_2pow64', item(5, 0, 4, [...rootText, ...big, 0x61])])
H.push(['string_len_past_end', item(5, 0, 4, [...rootText, 50, 0x61, 0x62])])
H.push(['root_name_len_past_end', item(5, 0, 4, [1, 200, 0x61])])
H.push(['ds_clients_2pow64', [0, ...big]])
H.push(['ds_ranges_2pow53', [0, 1, 5, ...varuint(2 ** 53 - 1), 0, 1]])
H.push(['ds_range_2pow53_long', [0, 1, 1, 1, 0, ...varuint(2 ** 53 - 1)]])
H.push(['clock_near_2pow53', item(5, 2 ** 53 - 3, 4, [...rootText, ...str('abcdef')])])
H.push(['origin_far_future', item(5, 0, 0x84, [1, ...varuint(2 ** 52), ...str('x')])])
H.push(['origin_is_itself', item(5, 0, 0x84, [5, 0, ...str('x')])])
H.push(['right_origin_is_itself', item(5, 0, 0x44, [5, 0, ...str('x')])])
H.push(['parent_is_a_string_item', item(5, 0, 4, [0, 1, 0, ...str('x')])])
H.push(['parent_unknown_id', item(5, 0, 4, [0, 77, 3, ...str('x')])])
H.push(['content_ref_10_with_flags', item(5, 0, 0x4a, [1, 0, ...str('x')])])
H.push(['content_ref_11', item(5, 0, 11, [...rootText, 0])])
H.push(['content_ref_31', item(5, 0, 31, [...rootText, 0])])
H.push(['type_ref_7', item(5, 0, 7, [...rootText, 7])])
H.push(['type_ref_huge', item(5, 0, 7, [...rootText, ...big])])
H.push(['any_tag_115', item(5, 0, 8, [...rootText, 1, 115])])
H.push(['any_count_2pow64', item(5, 0, 8, [...rootText, ...big, 126])])
H.push(['any_object_count_huge', item(5, 0, 8, [...rootText, 1, 118, ...varuint(2 ** 40), 1, 0x61, 126])])
H.push(['any_deep_100000', item(5, 0, 8, [...rootText, 1, ...Array(100000).fill([117, 1]).flat(), 126])])
H.push(['any_deep_object_5000', item(5, 0, 8, [...rootText, 1, ...Array(5000).fill([118, 1, 1, 0x6b]).flat(), 126])])
H.push(['json_not_json', item(5, 0, 2, [...rootText, 1, ...str('{nope')])])
H.push(['embed_not_json', item(5, 0, 5, [...rootText, ...str('[1,')])])
H.push(['format_value_not_json', item(5, 0, 6, [...rootText, ...str('bold'), ...str('tru')])])
H.push(['binary_len_past_end', item(5, 0, 3, [...rootText, 9, 1, 2])])
H.push(['deleted_len_2pow53', item(5, 0, 1, [...rootText, ...varuint(2 ** 53 - 1)])])
H.push(['gc_len_2pow53', [1, 1, 5, 0, 0, ...varuint(2 ** 53 - 1), 0]])
H.push(['skip_len_2pow53', [1, 2, 5, 0, 10, ...varuint(2 ** 53 - 1), 4, ...rootText, ...str('x'), 0]])
H.push(['utf8_lone_surrogate', item(5, 0, 4, [...rootText, 3, 0xed, 0xa0, 0x80])])
H.push(['utf8_overlong', item(5, 0, 4, [...rootText, 2, 0xc0, 0xaf])])
H.push(['utf8_truncated_seq', item(5, 0, 4, [...rootText, 2, 0xe2, 0x82])])
H.push(['utf8_above_10ffff', item(5, 0, 4, [...rootText, 4, 0xf4, 0x90, 0x80, 0x80])])
H.push(['utf8_in_root_name', item(5, 0, 4, [1, 1, 0xff, ...str('x')])])
H.push(['utf8_in_map_key', item(5, 0, 0x28, [1, ...str('meta'), 1, 0xfe, 1, 126])])
H.push(['utf8_in_any_string', item(5, 0, 8, [...rootText, 1, 119, 1, 0x80])])
H.push(['truncated_after_info', [1, 1, 5, 0, 4]])
H.push(['no_delete_set', item(5, 0, 4, [...rootText, ...str('x')], [])])
H.push(['trailing_garbage', [...item(5, 0, 4, [...rootText, ...str('x')]), 0xde, 0xad]])
H.push(['duplicate_client_sections', [2, 1, 5, 0, 4, ...rootText, ...str('a'), 1, 5, 0, 4, ...rootText, ...str('b'), 0]])
H.push(['zero_length_string', item(5, 0, 4, [...rootText, 0])])
H.push(['empty', []])
// found by differential fuzzing against Yjs
H.push(['root_name_with_nul', item(5, 0, 4, [1, ...str('content\0x'), ...str('X')])])
H.push(['content_deleted_without_delete_set', item(5, 0, 1, [...rootText, 3])])
H.push(['zero_length_gc', [1, 1, 5, 7, 0, 0, 0]])
H.push(['subdoc_options_null', item(5, 0, 9, [...rootText, ...str('guid'), 126])])
H.push(['subdoc_options_undefined', item(5, 0, 9, [...rootText, ...str('guid'), 127])])
H.push(['varuint_overlong_zero', [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0]])
H.push(['any_object_duplicate_keys', item(5, 0, 8, [1, ...str('meta'), 1, 118, 4, ...str('b'), 125, 1, ...str('7'), 125, 2, ...str('b'), 125, 3, ...str('__proto__'), 126])])
H.push(['embed_json_not_canonical', item(5, 0, 5, [...rootText, ...str(' { "b" : 1.50, "a" : [ ] , "1":2 } ')])])

const past53 = new Set(['clock_near_2pow53', 'skip_len_2pow53'])
console.log('/* generated by: node scripts/gen-badinput-vectors.mjs */')
console.log(`static const char base_hex[] =\n    ${q(hex(baseUpdate))};\n`)
console.log('static const real_case real_updates[] = {')
for (const [name, u] of real) console.log(`    {${cstr(name)},\n     ${q(hex(u))},\n     ${cstr(onBase(u))},\n     ${q(stateOnBase(u))}},`)
console.log('};\n')
console.log('static const hostile_case hostile_updates[] = {')
for (const [name, bytes] of H) {
  const u = Uint8Array.from(bytes)
  const text = onBase(u)
  // "X": Yjs throws a TypeError while integrating (findIndexSS on a struct
  // that refers to itself), a Yjs bug rather than a refusal; either outcome
  // is fine as long as a refusal leaves the document unchanged
  // "L": Yjs goes on with clocks past 2^53 - 1 (imprecise JavaScript
  // numbers); such clocks cannot exist, and the engine must refuse them
  const verdict = /_is_itself$/.test(name) ? 'X' : past53.has(name) ? 'L' : text === null ? 'R' : 'A'
  const state = verdict === 'A' ? q(stateOnBase(u)) : 'NULL'
  console.log(`    {${cstr(name)}, "${verdict}", ${text === null ? 'NULL' : cstr(text)},\n     ${bytes.length > 400 ? 'NULL' : q(hex(u))},\n     ${state}},`)
}
console.log('};')
