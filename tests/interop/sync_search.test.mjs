// sync_search.test.mjs - search follows notes edited live. The indexer asks the event loop for
// the text of notes it holds open (src/server/stext.h) and replays the update log when the loop
// has none or the log has moved on since; whichever it does, search must answer from the note's
// latest committed text: words typed through y-websocket are found, words deleted are not, and
// a REST edit wins over the text the loop knew from the editors, also when another vaultd on
// the same PostgreSQL wrote it (the loop's copy of the note does not know that edit at all).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Vaultd, provider, synced, until } from './lib/vaultd.mjs'
import { TestPostgres } from './lib/pg.mjs'

let pg = null
before(() => { pg = TestPostgres.start() })
after(() => { if (pg) pg.stop() })

async function found (server, token, vault, q) {
  const r = await server.api('GET', `/api/v1/vaults/${vault}/search?q=${encodeURIComponent(q)}`, { token })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  return r.body.results.map(x => x.id)
}

test('search finds what y-websocket editors typed last, and what a REST edit wrote after them', async () => {
  const server = await Vaultd.start()
  try {
    const token = await server.user('ada@example.com')
    const vault = await server.vault(token)
    const note = await server.note(token, vault, '/Live.md', 'Notes about nothing yet\n')
    const other = await server.note(token, vault, '/Other.md', 'An unrelated note\n')
    assert.equal(await server.metric('vault_search_notes_from_memory_total'), 0)
    const a = provider(server, token, note)
    const b = provider(server, token, note)
    await synced(a)
    await synced(b)
    const t = a.doc.getText('content')

    // Rounds of typing: each replaces the last word, and the indexer asks the loop, which holds
    // the note open for the editors.
    let prev = null
    for (let i = 0; i < 6; i++) {
      const word = `zebra${'abcdef'[i]}quux`
      a.doc.transact(() => {
        if (prev !== null) t.delete(t.toString().indexOf(prev), prev.length)
        t.insert(t.length, word)
      })
      // b types too, every other round: the note has two authors' commits in flight
      if (i % 2 === 1) b.doc.getText('content').insert(0, '> ')
      await until(async () => (await found(server, token, vault, word)).includes(note), `the note to be found by ${word}`)
      if (prev !== null) {
        await until(async () => !(await found(server, token, vault, prev)).includes(note), `${prev} to be gone`)
      }
      assert.ok(!(await found(server, token, vault, word)).includes(other))
      prev = word
    }
    await until(() => b.text() === a.text(), 'b to converge')

    // A REST edit right after a sync edit: the loop's text is tagged with the sync commit, older
    // than the log's last row now, so the indexer must replay the log.
    t.insert(t.length, ' yakfromsync')
    await until(async () => (await server.text(token, note)).includes('yakfromsync'), 'the sync edit to commit')
    const g = await server.api('GET', `/api/v1/notes/${note}`, { token })
    const put = await server.api('PUT', `/api/v1/notes/${note}`, {
      token,
      headers: { 'if-match': g.headers.get('etag') },
      body: { content: 'Rewritten by REST: walrusfromrest\n' }
    })
    assert.equal(put.status, 200, JSON.stringify(put.body))
    await until(async () => (await found(server, token, vault, 'walrusfromrest')).includes(note), 'the REST text to be indexed')
    await until(async () => !(await found(server, token, vault, 'yakfromsync')).includes(note), 'the sync word to be gone')
    await until(() => a.text() === 'Rewritten by REST: walrusfromrest\n', 'the editor to receive the REST edit')

    const fromMemory = await server.metric('vault_search_notes_from_memory_total')
    const fromLog = await server.metric('vault_search_notes_from_log_total')
    assert.ok(fromMemory >= 1, `some rounds were indexed from memory (${fromMemory})`)
    assert.ok(fromLog >= 1, `the REST edit was indexed from the log (${fromLog})`)
    a.destroy()
    b.destroy()
    await server.stop()
  } finally {
    await server.dispose()
  }
})

// Two vaultd on one database: a (every role) holds the note open for its editor, b (api only)
// rewrites it. a's copy never learns b's edit, and a indexes: it must index the log, not its copy.
for (const backend of ['sqlite', 'postgres']) {
  test(`${backend}: an edit another vaultd committed is indexed, not the stale copy this one holds open`, async () => {
    const database = backend === 'postgres' ? pg.database() : undefined
    const a = await Vaultd.start({ database })
    const b = await Vaultd.start(backend === 'postgres'
      ? { database, args: ['--roles', 'api'] }
      : { dataDir: a.dataDir, args: ['--roles', 'api'] }) // no indexer: a indexes
    try {
      const token = await a.user('ada@example.com')
      const vault = await a.vault(token)
      const note = await a.note(token, vault, '/Shared.md', 'Start\n')
      const editor = provider(a, token, note)
      await synced(editor)
      editor.doc.getText('content').insert(0, 'zebraquux ')
      await until(async () => (await found(a, token, vault, 'zebraquux')).includes(note), 'the editor\'s word to be indexed')

      // b rewrites the note; a still holds its own copy open for the editor
      const g = await b.api('GET', `/api/v1/notes/${note}`, { token })
      assert.equal(g.status, 200, JSON.stringify(g.body))
      const put = await b.api('PUT', `/api/v1/notes/${note}`, {
        token,
        headers: { 'if-match': g.headers.get('etag') },
        body: { content: 'Rewritten on the other server: walrusquux\n' }
      })
      assert.equal(put.status, 200, JSON.stringify(put.body))
      await until(async () => (await found(a, token, vault, 'walrusquux')).includes(note), 'the other server\'s edit to be indexed')
      assert.ok(!(await found(a, token, vault, 'zebraquux')).includes(note), 'the stale copy was not indexed')
      editor.destroy()
      await b.stop()
      await a.stop()
    } finally {
      await b.dispose()
      await a.dispose()
    }
  })
}
