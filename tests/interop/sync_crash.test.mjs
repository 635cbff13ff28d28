// sync_crash.test.mjs - crash safety of the sync endpoint, in the style of a
// Jepsen set test. Three stock y-websocket providers (asking for saved
// acknowledgements, docs/sync.md) keep adding unique tokens, one line each at a
// random line boundary of the note's Y.Text, while the real vaultd is killed
// with SIGKILL at random moments, many times, and restarted on the same data
// directory. A token is acknowledged when a saved message covers its clock.
//
// Runs on SQLite and on a real PostgreSQL (lib/pg.mjs). After each kill,
// before any client can reach the restarted server (it listens on a new port
// the clients are only told about afterwards), the database passes its
// integrity check (SQLite: PRAGMA integrity_check; PostgreSQL: amcheck on
// every index) and the note read over REST holds every token acknowledged
// before the kill: durability does not lean on
// the clients sending their changes again. At the end every client reconnects,
// everything any client wrote is present exactly once, and every client's text
// and state vector equal the server's stored document (REST, and a fresh
// provider after a clean restart).
//
// The seed (VN_SEED, else VN_SEED_BASE: fixed by default) picks the kill
// moments, the clients' pauses and the insert positions; the interleaving of
// real processes still varies from run to run.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import * as Y from 'yjs'
import * as prng from 'lib0/prng'
import { TestPostgres } from './lib/pg.mjs'
import { seedsFor } from './lib/random-ops.mjs'
import { Vaultd, provider, synced, until, sleep } from './lib/vaultd.mjs'

const CLIENTS = 3
const CRASHES = Number(process.env.VN_CRASHES ?? 12)
const [seed] = seedsFor(1)

let pg = null
after(() => { if (pg) pg.stop() })

/** The database's own integrity check (the server is not running): SQLite's PRAGMA
 * integrity_check, or on PostgreSQL amcheck's bt_index_check of every B-tree index of the
 * schema (heap and index agree, the tree is ordered). 'ok' when it passes. */
function integrityCheck (server) {
  if (!server.database) {
    return execFileSync('sqlite3', [join(server.dataDir, 'vault.db'), 'PRAGMA integrity_check;'], { encoding: 'utf8' }).trim()
  }
  const out = execFileSync('psql', [server.database, '-qAtc',
    'CREATE EXTENSION IF NOT EXISTS amcheck; ' +
    "SELECT count(*) FROM (SELECT bt_index_check(c.oid, true) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree' AND c.relnamespace = 'public'::regnamespace) AS checked"],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
  return Number(out) > 0 ? 'ok' : `no index checked: ${out}`
}

for (const backend of ['sqlite', 'postgres']) {
  test(`${backend}: SIGKILL at random moments loses no acknowledged token; all converge (seed ${seed}, VN_SEED=${seed} to replay)`, t => crashTest(t, backend))
}

async function crashTest (t, backend) {
  // Each group commit waits 10 ms before COMMIT (a test hook of the store), so that kills
  // often land while commits are in flight; logs of 50 rows are compacted, so that kills also
  // land while compactions run.
  const env = { VAULT_TEST_COMMIT_DELAY_MS: '10', VAULT_DOC_COMPACT_AT: '50' }
  if (backend === 'postgres' && pg === null) pg = TestPostgres.start()
  const server = await Vaultd.start(backend === 'postgres' ? { database: pg.database(), env } : { env })
  try {
    const gen = prng.create(seed)
    const token = await server.user('jepsen@example.com')
    const vault = await server.vault(token)
    const note = await server.note(token, vault, '/Set.md', '')
    const clients = Array.from({ length: CLIENTS }, () => provider(server, token, note, { saved: true }))
    for (const c of clients) await synced(c)

    // written[i]: token -> the clock of client i once the token is in (its end)
    const written = clients.map(() => new Map())
    const acked = () => {
      const out = new Set()
      clients.forEach((c, i) => {
        const saved = c.saved.get(c.doc.clientID) ?? 0
        for (const [tok, end] of written[i]) if (end <= saved) out.add(tok)
      })
      return out
    }
    let running = true
    const writers = clients.map((c, i) => (async () => {
      const text = c.doc.getText('content')
      for (let n = 0; running; n++) {
        const s = text.toString()
        const bounds = [0]
        for (let k = 0; k < s.length; k++) if (s[k] === '\n') bounds.push(k + 1)
        const tok = `c${i}-${n}`
        text.insert(bounds[prng.uint32(gen, 0, bounds.length - 1)], tok + '\n')
        written[i].set(tok, Y.getState(c.doc.store, c.doc.clientID))
        await sleep(prng.uint32(gen, 1, 12))
      }
    })())

    const stats = { crashes: 0, ackedAtKills: 0, unackedAtKills: 0, compactions: 0 }
    const compactions = () => (server.stderr.match(/"update log compacted"/g) ?? []).length
    for (let k = 0; k < CRASHES; k++) {
      await sleep(prng.uint32(gen, 100, 700))
      const before = acked() // taken in the same tick as the kill: no message arrives between
      const total = written.reduce((n, w) => n + w.size, 0)
      server.proc.kill('SIGKILL')
      await server.exited
      stats.compactions += compactions()
      stats.crashes++
      stats.ackedAtKills += before.size
      stats.unackedAtKills += total - before.size
      assert.equal(integrityCheck(server), 'ok', `integrity check after kill ${k}`)
      await server.start()
      const lines = new Set((await server.text(token, note)).split('\n'))
      const lost = [...before].filter(tok => !lines.has(tok))
      assert.deepEqual(lost, [], `acknowledged tokens missing after kill ${k}`)
      for (const c of clients) c.p.serverUrl = server.wsUrl // now the clients may reconnect
    }
    running = false
    await Promise.all(writers)

    // Every client reconnects and gets everything it wrote acknowledged.
    for (const c of clients) {
      await until(() => c.p.wsconnected && c.p.synced && c.isSaved(), 'every client to reconnect and be saved', 60000)
    }
    const final = await until(async () => {
      const rest = await server.text(token, note)
      return clients.every(c => c.text() === rest) ? rest : null
    }, 'every client and REST to agree', 60000)
    const lines = final.split('\n').slice(0, -1)
    const all = written.flatMap(w => [...w.keys()])
    assert.equal(lines.length, all.length, 'each token exactly once')
    assert.deepEqual(new Set(lines), new Set(all))
    const sv = Y.encodeStateVector(clients[0].doc)
    for (const c of clients) assert.deepEqual(Y.encodeStateVector(c.doc), sv)
    stats.compactions += compactions()
    t.diagnostic(`seed ${seed}: ${JSON.stringify({ ...stats, tokens: all.length })}`)
    assert.equal(stats.crashes, CRASHES)
    assert.ok(stats.ackedAtKills > 0, 'tokens were acknowledged before the kills')
    assert.ok(stats.compactions > 0, 'logs were compacted between the kills')
    for (const c of clients) c.destroy()

    // What the server stored, read after a clean restart by a fresh provider.
    await server.restart()
    assert.equal(await server.text(token, note), final)
    const fresh = provider(server, token, note)
    await synced(fresh)
    await until(() => fresh.text() === final, 'a fresh provider to read the stored document')
    assert.deepEqual(Y.encodeStateVector(fresh.doc), sv)
    fresh.destroy()
    await server.stop()
    assert.equal(integrityCheck(server), 'ok', 'integrity check at the end')
  } finally {
    await server.dispose()
  }
}
