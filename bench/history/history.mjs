// history.mjs - the driver of `make bench-history` (bench/history.sh starts
// vaultd and passes its URL and database).
//
// One note of about 5 KB gets 365 days of small edits through the REST API
// (typed: each day a sentence of 6 to 11 words added at the end of a
// paragraph and the first sentence of another removed, so the note stays
// near 5 KB; rewrite: each day one word changed and one sentence rewritten
// in place); vaultd runs with a short
// --version-idle-ms, so every day's edit settles into one version, and the
// driver waits for it. Then it reads what the database holds for that note
// (its update log and its versions) and compares with 365 full copies of the
// text (the sum of the text's size at every version).
//
// Usage: node history.mjs URL BACKEND DB [typed|rewrite]
// (DB: the SQLite file or the postgres URL; the edit pattern, see below)
// Prints one JSON line with the figures.
import { execFileSync } from 'node:child_process'

const [url, backend, db] = process.argv.slice(2)
const DAYS = Number(process.env.BENCH_DAYS || 365)
const EDIT = process.argv[5] || 'typed' // or 'rewrite'

let seed = 20261125
function rnd(n) { // xorshift32: the same edits every run
  seed ^= seed << 13; seed >>>= 0
  seed ^= seed >>> 17
  seed ^= seed << 5; seed >>>= 0
  return seed % n
}

const WORDS = ('note vault sync merge offline device edit version history trash restore ' +
  'search index draft plan meeting idea project review design write read keep share ' +
  'team folder markdown heading link list task done later today week month').split(' ')
const word = () => WORDS[rnd(WORDS.length)]
const sentence = () => {
  const n = 6 + rnd(6)
  const w = []
  for (let i = 0; i < n; i++) w.push(word())
  return w.join(' ').replace(/^./, c => c.toUpperCase()) + '.'
}

async function call(method, path, token, body, headers = {}) {
  const res = await fetch(url + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return { json: text ? JSON.parse(text) : null, etag: res.headers.get('etag') }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function main () {
  const email = `bench-${process.pid}@example.test`
  await call('POST', '/api/v1/auth/register', null, { email, password: 'correct horse battery' })
  const { json: login } = await call('POST', '/api/v1/auth/login', null, { email, password: 'correct horse battery' })
  const token = login.token
  const { json: vault } = await call('POST', '/api/v1/vaults', token, { name: 'History bench' })

  // About 5 KB of Markdown: a heading and paragraphs of sentences.
  const lines = ['# Weekly notes', '']
  while (lines.join('\n').length < 5000) {
    const para = []
    for (let i = 0; i < 4; i++) para.push(sentence())
    lines.push(para.join(' '), '')
  }
  let text = lines.join('\n')
  const { json: note } = await call('POST', `/api/v1/vaults/${vault.id}/notes`, token, { path: '/Weekly.md', content: text })
  let fullCopies = 0
  const t0 = Date.now()
  for (let day = 1; day <= DAYS; day++) {
    if (day > 1) {
      const ls = text.split('\n')
      const paras = ls.map((l, i) => [l, i]).filter(([l]) => l.length > 40)
      if (EDIT === 'typed') {
        // The day's small edit, as typed: a new sentence at the end of one
        // paragraph, and the first sentence of another one removed.
        const [, i1] = paras[rnd(paras.length)]
        ls[i1] = ls[i1] + ' ' + sentence()
        const [, i2] = paras[rnd(paras.length)]
        const cut = ls[i2].indexOf('. ')
        if (cut > 0) ls[i2] = ls[i2].slice(cut + 2)
      } else {
        // A rewrite in place: one word changed, one sentence rewritten (the
        // server's character diff splits such a change into many small edits).
        const [p1, i1] = paras[rnd(paras.length)]
        const ws = p1.split(' ')
        ws[rnd(ws.length)] = word()
        ls[i1] = ws.join(' ')
        const [, i2] = paras[rnd(paras.length)]
        const ss = ls[i2].split('. ')
        ss[rnd(ss.length)] = sentence().replace(/\.$/, '')
        ls[i2] = ss.join('. ')
        if (!ls[i2].endsWith('.')) ls[i2] += '.'
      }
      text = ls.join('\n')
      const { etag } = await call('GET', `/api/v1/notes/${note.id}`, token)
      await call('PUT', `/api/v1/notes/${note.id}`, token, { content: text }, { 'if-match': etag })
    }
    fullCopies += Buffer.byteLength(text)
    // Wait until the day's edit has settled into its version.
    for (let i = 0; ; i++) {
      const { json } = await call('GET', `/api/v1/notes/${note.id}/versions?limit=1`, token)
      if (json.versions.length && json.versions[0].n >= day) break
      if (i > 6000) throw new Error(`day ${day}: no version after 60 s`)
      await sleep(10)
    }
  }
  const seconds = (Date.now() - t0) / 1000
  // Spot check: the first and a middle version still render.
  const { json: v1 } = await call('GET', `/api/v1/notes/${note.id}/versions/1`, token)
  if (Buffer.byteLength(v1.content) < 4000) throw new Error('version 1 did not render')

  const q = sql => backend === 'sqlite'
    ? execFileSync('sqlite3', [db, sql]).toString().trim()
    : execFileSync('psql', ['-XAtq', db, '-c', sql]).toString().trim()
  const id = note.id
  const [updates, updateBytes] = q(`SELECT COUNT(*) || '|' || COALESCE(SUM(LENGTH(data)), 0) FROM doc_updates WHERE doc = '${id}'`).split('|').map(Number)
  const [versions, versionBytes] = q(`SELECT COUNT(*) || '|' || COALESCE(SUM(LENGTH(snapshot)), 0) FROM versions WHERE doc = '${id}'`).split('|').map(Number)
  const [keyframes] = q(`SELECT COUNT(*) FROM versions WHERE doc = '${id}' AND base = n`).split('|').map(Number)
  let disk = null
  if (backend === 'sqlite') {
    // Pages of the tables and indexes that hold the note's log and versions
    // (the database holds nothing else of size).
    disk = Number(q("SELECT SUM(pgsize) FROM dbstat WHERE name IN ('doc_updates', 'doc_updates_doc', 'sqlite_autoindex_doc_updates_1', 'versions', 'sqlite_autoindex_versions_1')"))
  }
  const payload = updateBytes + versionBytes
  console.log(JSON.stringify({
    backend, edit: EDIT, days: DAYS, versions, keyframes, updates,
    update_bytes: updateBytes, version_bytes: versionBytes, payload_bytes: payload,
    full_copies_bytes: fullCopies, ratio_pct: +(100 * payload / fullCopies).toFixed(2),
    sqlite_pages_bytes: disk, disk_ratio_pct: disk ? +(100 * disk / fullCopies).toFixed(2) : null,
    seconds: +seconds.toFixed(1)
  }))
}

main().catch(err => { console.error(`bench-history: ${err.message}`); process.exit(1) })
