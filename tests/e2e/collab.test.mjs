// collab.test.mjs - two people (two browser contexts) on one note: what one types appears in
// the other's editor, and each sees the other's name (awareness) beside their cursor.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  Server, launch, newDevice, signUp, createVault, createNote, typeAtEnd, waitForStatus,
  waitForText, noteIdOf, screenshot
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

test('two browser contexts on one note: typing in one appears in the other', async () => {
  const a = await newDevice(browser, server)
  const b = await newDevice(browser, server)
  await signUp(b.page, { name: 'Bob', email: 'bob@example.com' })
  await signUp(a.page, { name: 'Ada', email: 'ada@example.com' })
  const vault = await createVault(a.page, 'Shared')
  // Ada shares the vault with Bob as an editor, through the Share dialog
  await a.page.getByRole('button', { name: 'Share' }).click()
  const dialog = a.page.getByRole('dialog', { name: 'Share this vault' })
  await dialog.getByLabel('Email of a Vault Notes account').fill('bob@example.com')
  await dialog.getByLabel('Role').selectOption('editor')
  await dialog.getByRole('button', { name: 'Share' }).click()
  await dialog.waitFor({ state: 'detached' })
  await createNote(a.page, 'Together')
  await typeAtEnd(a.page, 'Hello from Ada.')
  await waitForStatus(a.page, 'saved on server')
  const note = noteIdOf(a.page)

  await b.page.goto('/')
  await b.page.getByRole('link', { name: 'Shared' }).click()
  await b.page.getByTestId('note-link').filter({ hasText: 'Together.md' }).click()
  assert.equal(noteIdOf(b.page), note)
  await waitForText(b.page, 'Hello from Ada.')

  await typeAtEnd(b.page, '\nAnd Bob.')
  await waitForText(a.page, 'Hello from Ada.\nAnd Bob.')
  await typeAtEnd(a.page, ' Ada again.')
  await waitForText(b.page, 'Hello from Ada.\nAnd Bob. Ada again.')
  await waitForStatus(a.page, 'saved on server')
  await waitForStatus(b.page, 'saved on server')

  // each sees the other: the name in the bar and on the remote cursor
  await a.page.getByTestId('peers').filter({ hasText: 'Bob' }).waitFor()
  await b.page.getByTestId('peers').filter({ hasText: 'Ada' }).waitFor()
  await a.page.locator('.cm-ySelectionInfo', { hasText: 'Bob' }).waitFor({ state: 'attached' })
  await screenshot(a.page, 'collaboration')

  const token = await server.token('ada@example.com')
  assert.equal(await server.noteText(token, note), 'Hello from Ada.\nAnd Bob. Ada again.')
  assert.equal((await server.call('GET', `/api/v1/vaults/${vault}/members`, undefined, token)).body.members.length, 2)
  await a.context.close()
  await b.context.close()
})
