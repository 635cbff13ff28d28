// offline.test.mjs - the network goes away on one device (Playwright's setOffline): the editor
// says so, edits stay on the device, notes synced before still open, a new note can be made;
// meanwhile someone else edits the same note online; when the network is back everything
// syncs and both show the merged text ("Hello world": A inserts "beautiful ", B replaces
// "world" with "universe": both end at "Hello beautiful universe").
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  Server, launch, newDevice, signUp, createVault, createNote, typeAtEnd, waitForStatus,
  waitForText, noteIdOf, screenshot, editor, until
} from './lib/harness.mjs'

let server, browser
before(async () => {
  server = await Server.start()
  browser = await launch()
})
after(async () => {
  await browser?.close()
  await server?.stop()
})

test('offline edits, concurrent online edits, reconnection: both show the merged text', async () => {
  const a = await newDevice(browser, server)
  const b = await newDevice(browser, server)
  await signUp(a.page, { name: 'Ada', email: 'ada@example.com' })
  await createVault(a.page, 'Travel')
  await createNote(a.page, 'Other')
  await typeAtEnd(a.page, 'Synced before the trip.')
  await waitForStatus(a.page, 'saved on server')
  const other = noteIdOf(a.page)
  await createNote(a.page, 'Greeting')
  await typeAtEnd(a.page, 'Hello world')
  await waitForStatus(a.page, 'saved on server')
  const note = noteIdOf(a.page)

  // the same person on a second device
  await b.page.goto('/login')
  await b.page.getByLabel('Email').fill('ada@example.com')
  await b.page.getByLabel('Password').fill('correct horse battery')
  await b.page.getByRole('button', { name: 'Log in' }).click()
  await b.page.getByRole('link', { name: 'Travel' }).click()
  await b.page.getByTestId('note-link').filter({ hasText: 'Greeting.md' }).click()
  await waitForText(b.page, 'Hello world')

  // A loses the network
  await a.context.setOffline(true)
  await waitForStatus(a.page, 'offline: changes kept on this device')
  await editor(a.page).click()
  await a.page.keyboard.press('Control+Home')
  for (let i = 0; i < 'Hello '.length; i++) await a.page.keyboard.press('ArrowRight')
  await a.page.keyboard.type('beautiful ', { delay: 10 })
  await waitForText(a.page, 'Hello beautiful world')
  await waitForStatus(a.page, 'offline: changes kept on this device')
  await screenshot(a.page, 'offline-editing')

  // B, online, replaces "world" with "universe"
  await editor(b.page).click()
  await b.page.keyboard.press('Control+End')
  for (let i = 0; i < 'world'.length; i++) await b.page.keyboard.press('Shift+ArrowLeft')
  await b.page.keyboard.type('universe', { delay: 10 })
  await waitForText(b.page, 'Hello universe')
  await waitForStatus(b.page, 'saved on server')
  // nothing of B's reaches A while it is offline
  assert.equal(await (await import('./lib/harness.mjs')).editorText(a.page), 'Hello beautiful world')

  // still offline, A opens the note synced before and edits it, and creates a new note
  await a.page.getByTestId('note-link').filter({ hasText: 'Other.md' }).click()
  await waitForText(a.page, 'Synced before the trip.')
  await typeAtEnd(a.page, ' Edited on the train.')
  await waitForStatus(a.page, 'offline: changes kept on this device')
  await a.page.getByRole('button', { name: 'New note' }).click()
  await a.page.getByRole('dialog').getByLabel('Name').fill('Train thoughts')
  await a.page.getByRole('dialog').getByRole('button', { name: 'Create' }).click()
  await a.page.getByRole('dialog').waitFor({ state: 'detached' })
  await a.page.getByTestId('note-path').filter({ hasText: /^\/Train thoughts\.md$/ }).waitFor()
  await editor(a.page).waitFor()
  assert.match(noteIdOf(a.page), /^local-/)
  await a.page.getByText('not synced').waitFor()
  await typeAtEnd(a.page, 'Written with no network.')
  await screenshot(a.page, 'offline-new-note')

  // back online: the new note is created on the server and the editor follows it
  await a.context.setOffline(false)
  await until(() => /^[0-9a-f]{32}$/.test(noteIdOf(a.page)), 'the offline note to get its server id')
  await waitForText(a.page, 'Written with no network.')
  await waitForStatus(a.page, 'saved on server')
  const created = noteIdOf(a.page)
  await a.page.getByTestId('note-link').filter({ hasText: 'Greeting.md' }).click()
  await waitForText(a.page, 'Hello beautiful universe')
  await waitForText(b.page, 'Hello beautiful universe')
  await waitForStatus(a.page, 'saved on server')
  await screenshot(a.page, 'merged-after-reconnect')

  const token = await server.token('ada@example.com')
  assert.equal(await server.noteText(token, note), 'Hello beautiful universe')
  assert.equal(await server.noteText(token, other), 'Synced before the trip. Edited on the train.')
  assert.equal(await server.noteText(token, created), 'Written with no network.')
  const r = await server.call('GET', `/api/v1/notes/${created}`, undefined, token)
  assert.equal(r.body.path, '/Train thoughts.md')
  await a.context.close()
  await b.context.close()
})

test('with the server unreachable, a reload still opens the app and the notes of this device', async () => {
  const { context, page } = await newDevice(browser, server)
  await signUp(page, { name: 'Eve', email: 'eve@example.com' })
  await createVault(page, 'Expedition')
  await createNote(page, 'Field notes')
  await typeAtEnd(page, 'Written at the base camp.')
  await waitForStatus(page, 'saved on server')
  const note = noteIdOf(page)
  // the service worker has the app once it is active
  assert.equal(await page.evaluate(() => navigator.serviceWorker.ready.then(() => true)), true)

  await server.halt()
  try {
    await page.reload()
    await waitForText(page, 'Written at the base camp.')
    await waitForStatus(page, 'offline: changes kept on this device')
    assert.equal(await page.getByTestId('who').textContent(), 'Eve')
    await page.getByTestId('note-link').filter({ hasText: 'Field notes.md' }).waitFor()
    await typeAtEnd(page, ' Snow since noon.')
    await waitForStatus(page, 'offline: changes kept on this device')
    await screenshot(page, 'server-unreachable-after-reload')
  } finally {
    await server.restart()
  }
  // the provider reconnects by itself and sends what was written meanwhile
  await waitForStatus(page, 'saved on server')
  const token = await server.token('eve@example.com')
  assert.equal(await server.noteText(token, note), 'Written at the base camp. Snow since noon.')
  await context.close()
})
