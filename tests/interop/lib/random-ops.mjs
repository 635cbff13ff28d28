// random-ops.mjs - seeded random operations for the interop tests.
//
// genOp() looks at a replica's content (a "view": the wire-form content of
// the root text "text", map "map" and array "array") and returns one valid
// operation in the ydriver protocol: positions never split a surrogate pair,
// deletes stay inside the value, nested types are reached by path. The same
// seed gives the same operations, whichever engine the view came from.
import * as prng from 'lib0/prng'

import { ROOTS } from './replica.mjs'
export { ROOTS }

/** Seeds for a test: $VN_SEED pins one seed; otherwise `count` seeds from
 * a base, which the caller prints so a failure can be replayed. The base is
 * fixed ($VN_SEED_BASE, default below) so that `make test` and CI run the
 * same cases every time; VN_SEED_BASE=random explores new ones (do that
 * when changing the engine, and keep any failing seed as a named case). */
export function seedsFor (count) {
  if (process.env.VN_SEED) return [Number(process.env.VN_SEED)]
  const env = process.env.VN_SEED_BASE
  const base = env === 'random' ? Math.floor(Math.random() * 1e9) : Number(env ?? 20261125)
  return Array.from({ length: count }, (_, i) => base + i)
}

// Text pieces: ASCII, 2- and 3-byte UTF-8, astral (surrogate pairs in UTF-16),
// combining marks, and newlines.
const TEXT_POOL = ['a', 'hello', ' ', 'é', 'ß', '€', '中文', '😀', '👍🏽', '𝄞', 'e\u0301', '\n', 'xyz', 'ünï', 'Ω≈ç', '🙂a🙃']
const KEYS = ['a', 'b', 'c', 'title', 'k€y', '😀', 'nested']
const ATTRS = [
  { bold: true }, { bold: null }, { italic: true }, { color: '#ff0000' },
  { bold: true, italic: true }, { link: { href: 'https://example.org', n: 1 } }, { italic: null, color: null }
]

const isHigh = c => c >= 0xd800 && c <= 0xdbff

/** Moves a UTF-16 position off the middle of a surrogate pair. */
export function validPos (s, i) {
  return i > 0 && i < s.length && isHigh(s.charCodeAt(i - 1)) ? i - 1 : i
}

/** A random lib0 Any value in wire form. */
export function genAny (gen, depth = 0) {
  switch (prng.int32(gen, 0, depth < 2 ? 15 : 11)) {
    case 0: return prng.int32(gen, -100, 100)
    case 1: return prng.oneOf(gen, [2147483647, 2147483648, -2147483649, 2 ** 40, -(2 ** 52), Number.MAX_SAFE_INTEGER])
    case 2: return prng.oneOf(gen, [0.5, -1.25, 3.75, 1e10 + 0.5]) // float32-exact and not
    case 3: return prng.oneOf(gen, [0.1, Math.PI, -1e-300, 1e300])
    case 4: return prng.oneOf(gen, [{ $num: 'NaN' }, { $num: 'Infinity' }, { $num: '-Infinity' }, { $num: '-0' }])
    case 5: return prng.oneOf(gen, TEXT_POOL) + prng.word(gen, 0, 6)
    case 6: return prng.bool(gen)
    case 7: return null
    case 8: return { $undef: true }
    case 9: return { $bigint: prng.oneOf(gen, ['0', '-1', '9007199254740993', '-9223372036854775808', '9223372036854775807']) }
    case 10: return { $bin: Buffer.from(prng.uint8Array(gen, prng.int32(gen, 0, 6))).toString('hex') }
    case 11: return ''
    case 12: case 13: {
      const n = prng.int32(gen, 0, 3)
      return Array.from({ length: n }, () => genAny(gen, depth + 1))
    }
    default: {
      const o = {}
      for (let i = prng.int32(gen, 0, 3); i > 0; i--) o[prng.oneOf(gen, KEYS)] = genAny(gen, depth + 1)
      return o
    }
  }
}

/** A random value for Y.Array insert: Yjs refuses a bare undefined or
 * BigInt there (they may only appear nested). */
export function genArrayItem (gen) {
  for (;;) {
    const v = genAny(gen)
    if (v === null || typeof v !== 'object' || !('$undef' in v || '$bigint' in v)) return v
  }
}

/** The shared types a view holds: the three roots and the nested types one
 * level below the map and the array. */
export function targets (view) {
  const out = [
    { where: ROOTS[0], kind: 'text', value: view.text },
    { where: ROOTS[1], kind: 'map', value: view.map },
    { where: ROOTS[2], kind: 'array', value: view.array }
  ]
  const nested = (where, path, v) => {
    if (v === null || typeof v !== 'object') return
    if ('$text' in v) out.push({ where: { ...where, path }, kind: 'text', value: v.$text })
    else if ('$map' in v) out.push({ where: { ...where, path }, kind: 'map', value: v.$map })
    else if ('$array' in v) out.push({ where: { ...where, path }, kind: 'array', value: v.$array })
  }
  for (const [k, v] of Object.entries(view.map)) nested(ROOTS[1], [k], v)
  view.array.forEach((v, i) => nested(ROOTS[2], [i], v))
  return out
}

/** One random valid operation on the given view. `opts.types` (default true)
 * allows creating nested types; `opts.format` (default true) formatting;
 * `opts.embeds` (default false) embeds in the root text, for views that show
 * an embed as U+FFFC. */
export function genOp (gen, view, opts = {}) {
  const all = targets(view)
  // Roots get most of the edits; nested types some.
  const t = all.length > 3 && prng.int32(gen, 0, 3) === 0 ? prng.oneOf(gen, all.slice(3)) : all[prng.int32(gen, 0, 2)]
  const at = { ...t.where }
  const r = prng.int32(gen, 0, 99)
  if (t.kind === 'text') {
    const s = t.value
    if (s.length > 0 && r < 30) {
      const a = validPos(s, prng.int32(gen, 0, s.length - 1))
      const b = validPos(s, prng.int32(gen, a + 1, Math.min(s.length, a + 8)))
      if (b > a) return { cmd: 'text_delete', ...at, index: a, len: b - a }
    }
    if (s.length > 0 && r >= 85 && opts.format !== false) {
      const a = validPos(s, prng.int32(gen, 0, s.length - 1))
      const b = validPos(s, prng.int32(gen, a + 1, Math.min(s.length, a + 10)))
      if (b > a) return { cmd: 'text_format', ...at, index: a, len: b - a, attrs: prng.oneOf(gen, ATTRS) }
    }
    if (opts.embeds && !at.path && prng.int32(gen, 0, 19) === 0) {
      // The view must show an embed as one character (U+FFFC) for positions to hold.
      // Attributes always explicit: Yjs's insertEmbed without attributes means {}
      // (no formatting), while the C API's NULL inherits the formatting around.
      const attrs = prng.bool(gen) ? prng.oneOf(gen, ATTRS) : {}
      return { cmd: 'text_insert_embed', ...at, index: validPos(s, prng.int32(gen, 0, s.length)), embed: { image: `img${prng.int32(gen, 0, 9)}.png`, w: 0.5 }, attrs }
    }
    const op = { cmd: 'text_insert', ...at, index: validPos(s, prng.int32(gen, 0, s.length)), text: prng.oneOf(gen, TEXT_POOL) }
    if (opts.format !== false && prng.int32(gen, 0, 4) === 0) op.attrs = prng.oneOf(gen, ATTRS)
    return op
  }
  if (t.kind === 'map') {
    const keys = Object.keys(t.value)
    if (keys.length > 0 && r < 20) return { cmd: 'map_delete', ...at, key: prng.oneOf(gen, keys) }
    if (r >= 90 && opts.types !== false && !at.path) {
      return { cmd: 'map_set_type', ...at, key: prng.oneOf(gen, KEYS), type: prng.oneOf(gen, ['text', 'map', 'array']) }
    }
    return { cmd: 'map_set', ...at, key: prng.oneOf(gen, KEYS), value: genAny(gen) }
  }
  const n = t.value.length
  if (n > 0 && r < 30) {
    const a = prng.int32(gen, 0, n - 1)
    return { cmd: 'array_delete', ...at, index: a, len: prng.int32(gen, 1, Math.min(3, n - a)) }
  }
  if (r >= 90 && opts.types !== false && !at.path) {
    return { cmd: 'array_insert_type', ...at, index: prng.int32(gen, 0, n), type: prng.oneOf(gen, ['text', 'map', 'array']) }
  }
  const values = Array.from({ length: prng.int32(gen, 1, 3) }, () => genArrayItem(gen))
  return { cmd: 'array_insert', ...at, index: prng.int32(gen, 0, n), values }
}

/** Reads a replica's view (its three roots) for genOp. */
export async function viewOf (replica) {
  const [text, map, array] = await Promise.all(ROOTS.map(w => replica.content(w)))
  return { text, map, array }
}
