// sync_train.test.mjs - the train scenario: one client goes offline (a train
// enters a tunnel) and makes a long batch of edits while another client keeps
// editing the same note online through the server; when the first reconnects,
// both end with the same merged text, and nothing either of them wrote is lost.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Vaultd, provider, synced, until, sleep } from './lib/vaultd.mjs'

test('offline batch and online edits merge on reconnect, nothing lost', async () => {
  const server = await Vaultd.start()
  try {
    const token = await server.user('ada@example.com')
    const vault = await server.vault(token)
    const note = await server.note(token, vault, '/Train.md', '# Trip notes\n')
    const train = provider(server, token, note)
    const office = provider(server, token, note)
    await synced(train)
    await synced(office)

    train.p.disconnect()
    const tt = train.doc.getText('content')
    const ot = office.doc.getText('content')
    for (let i = 0; i < 400; i++) {
      // the train appends lines and now and then rewrites a bit of its own text
      tt.insert(tt.length, `train line ${i}\n`)
      if (i % 50 === 49) tt.insert(tt.toString().indexOf('train line'), `[tunnel ${i}] `)
    }
    for (let i = 0; i < 150; i++) {
      ot.insert(ot.toString().indexOf('\n') + 1, `office ${i}\n`)
      if (i % 10 === 0) await sleep(2)
    }
    // the office's edits are durable before the train comes back
    await until(async () => (await server.text(token, note)).includes('office 149\n'), 'the office edits to be stored')

    train.p.connect()
    await synced(train)
    const merged = await until(async () => {
      const rest = await server.text(token, note)
      return train.text() === office.text() && rest === train.text() ? rest : null
    }, 'both clients and REST to agree')

    assert.ok(merged.startsWith('# Trip notes\n'))
    for (let i = 0; i < 400; i++) assert.ok(merged.includes(`train line ${i}\n`), `train line ${i} lost`)
    for (let i = 0; i < 150; i++) assert.ok(merged.includes(`office ${i}\n`), `office ${i} lost`)
    for (let i = 49; i < 400; i += 50) assert.ok(merged.includes(`[tunnel ${i}] `), `tunnel ${i} lost`)
    assert.equal(merged.split('\n').length - 1, 1 + 400 + 150)

    train.destroy()
    office.destroy()
    await server.restart()
    assert.equal(await server.text(token, note), merged)
    await server.stop()
  } finally {
    await server.dispose()
  }
})
