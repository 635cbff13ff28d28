// purge_race.test.mjs - connections that reach a note while the janitor's purge of it is
// being committed (every commit waits VAULT_TEST_COMMIT_DELAY_MS, so the purge stays in
// flight for a while after the janitor's run is logged): a y-websocket connection opened
// then is closed with 4404 once the purge commits (and its late edit is not kept), the vault
// channel answers ERROR 2 to an update of that note, and the note answers 404 afterwards.
// On SQLite and on a real PostgreSQL (lib/pg.mjs).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { Vaultd, rawSocket, syncMessage, until } from './lib/vaultd.mjs'
import { TestPostgres } from './lib/pg.mjs'
import { openChannel, encodeHello, encodeUpdate, E } from './lib/vchan.mjs'

const DAY_MS = 86400000

let pg = null
before(() => { pg = TestPostgres.start() })
after(() => { if (pg) pg.stop() })

/** Purges the janitor has submitted, by its "trash purge run" log lines. */
function submitted (stderr) {
  let n = 0
  for (const m of stderr.matchAll(/"msg":"trash purge run".*?"submitted":(\d+)/g)) n += Number(m[1])
  return n
}


function within (promise, ms, what) {
  let timer
  return Promise.race([promise, new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)
  })]).finally(() => clearTimeout(timer))
}

for (const backend of ['sqlite', 'postgres']) {
  test(`${backend}: a purge closes the note's sync connections with 4404 and refuses late edits`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vn-purge-race-'))
    const clock = join(dir, 'clock')
    writeFileSync(clock, '0\n')
    const env = { VAULT_TEST_CLOCK: clock, VAULT_TEST_COMMIT_DELAY_MS: '1500' }
    const args = ['--janitor-interval-ms', '100', '--trash-retention-days', '2']
    const server = await Vaultd.start(backend === 'postgres' ? { database: pg.database(), env, args } : { env, args })
    try {
      const token = await server.user('ada@example.com')
      const vault = await server.vault(token)
      const note = await server.note(token, vault, '/Gone.md', 'bye\n')
      const ch = await openChannel(server, vault, token)
      ch.send(encodeHello(0))
      await ch.next(m => m.type === 'changed', 'CHANGED')
      assert.equal((await server.api('DELETE', `/api/v1/notes/${note}`, { token })).status, 204)
      const before = submitted(server.stderr)
      writeFileSync(clock, `${3 * DAY_MS}\n`) // due: the retention is 2 days
      await until(() => submitted(server.stderr) > before, 'the janitor to submit the purge', 60000)
      // The purge is being committed: a device connects and edits, another sends its edit
      // through the vault channel.
      const ws = await rawSocket(server, note, token)
      const edit = new Y.Doc()
      edit.getText('content').insert(0, 'a late edit\n')
      const update = Y.encodeStateAsUpdate(edit)
      ws.send(syncMessage(2, update))
      ch.send(encodeUpdate(note, 1, update))
      const err = await ch.next(m => m.type === 'error' && m.ref === 1, 'the ERROR for the update', 60000)
      assert.equal(err.code, E.NO_DOC, `first: ${err.reason}`)
      assert.equal(err.doc, note)
      const closed = await within(ws.closed, 60000, 'the sync connection to be closed')
      assert.equal(closed.code, 4404)
      assert.match(closed.reason, /purged/)
      // Gone for good, everywhere.
      await assert.rejects(rawSocket(server, note, token), e => e.status === 404)
      assert.equal((await server.api('GET', `/api/v1/notes/${note}`, { token })).status, 404)
      assert.equal((await server.api('POST', `/api/v1/notes/${note}/restore`, { token })).status, 404)
      const trash = await server.api('GET', `/api/v1/vaults/${vault}/trash`, { token })
      assert.deepEqual(trash.body.trash, [])
      ch.send(encodeUpdate(note, 2, update))
      const again = await ch.next(m => m.type === 'error' && m.ref === 2, 'the second ERROR', 60000)
      assert.equal(again.code, E.NO_DOC, `again: ${again.reason}`)
      ch.close()
      await ch.closed
      await server.stop()
    } finally {
      await server.dispose()
      rmSync(dir, { recursive: true, force: true })
    }
  })
}
