// viewer.test.mjs - a vault shared with a viewer: the viewer reads every note live but cannot
// change any: the editor is read-only, typing changes nothing here or on the server, and the
// actions that write are not offered.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  Server, launch, newDevice, signUp, createVault, createNote, typeAtEnd, waitForStatus,
  waitForText, editorText, noteIdOf, screenshot, editor
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

test('a viewer cannot type into a shared note', async () => {
  const owner = await newDevice(browser, server)
  const viewer = await newDevice(browser, server)
  await signUp(viewer.page, { name: 'Vic', email: 'vic@example.com' })
  await signUp(owner.page, { name: 'Olga', email: 'olga@example.com' })
  await createVault(owner.page, 'Handbook')
  await createNote(owner.page, 'Rules')
  await typeAtEnd(owner.page, 'Be kind.')
  await waitForStatus(owner.page, 'saved on server')
  const note = noteIdOf(owner.page)
  await owner.page.getByRole('button', { name: 'Share' }).click()
  const dialog = owner.page.getByRole('dialog', { name: 'Share this vault' })
  await dialog.getByLabel('Email of a Vault Notes account').fill('vic@example.com')
  await dialog.getByLabel('Role').selectOption('viewer')
  await screenshot(owner.page, 'share-dialog')
  await dialog.getByRole('button', { name: 'Share' }).click()
  await dialog.waitFor({ state: 'detached' })

  await viewer.page.goto('/')
  await viewer.page.getByRole('link', { name: 'Handbook' }).click()
  await viewer.page.getByTestId('note-link').filter({ hasText: 'Rules.md' }).click()
  await waitForText(viewer.page, 'Be kind.')
  await viewer.page.getByText('read only', { exact: true }).waitFor()
  assert.equal(await editor(viewer.page).getAttribute('contenteditable'), 'false')
  assert.equal(await viewer.page.getByRole('button', { name: 'New note' }).count(), 0)
  assert.equal(await viewer.page.getByRole('button', { name: 'Share' }).count(), 0)
  assert.equal(await viewer.page.getByRole('button', { name: /^Actions for/ }).count(), 0)

  // the viewer tries to type anyway
  await editor(viewer.page).click()
  await viewer.page.keyboard.press('Control+End')
  await viewer.page.keyboard.type(' Or not.', { delay: 10 })
  await viewer.page.keyboard.press('Backspace')
  assert.equal(await editorText(viewer.page), 'Be kind.')

  // the owner's edits still reach the viewer live
  await typeAtEnd(owner.page, ' Always.')
  await waitForText(viewer.page, 'Be kind. Always.')
  await waitForStatus(owner.page, 'saved on server')
  await screenshot(viewer.page, 'viewer')
  const token = await server.token('olga@example.com')
  assert.equal(await server.noteText(token, note), 'Be kind. Always.')
  await owner.context.close()
  await viewer.context.close()
})
