// history.test.mjs - a note's history: versions are listed with their author, any version's
// text and its changes since are shown, and restoring one brings its text back into the open
// editor (a merged edit, so the server and the editor agree).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  Server, launch, newDevice, signUp, createVault, createNote, waitForStatus,
  waitForText, screenshot, until, noteIdOf, editor
} from './lib/harness.mjs'

let server, browser
before(async () => {
  // a version is taken once editing pauses for 300 ms (2 minutes by default)
  server = await Server.start({ args: ['--version-idle-ms', '300'] })
  browser = await launch()
})
after(async () => {
  await browser?.close()
  await server?.stop()
})

test('history: view any version and its changes, restore one', async () => {
  const { context, page } = await newDevice(browser, server)
  await signUp(page, { name: 'Ada', email: 'ada@example.com' })
  await createVault(page, 'Drafts')
  await createNote(page, 'Essay')
  const note = noteIdOf(page)
  const token = await server.token('ada@example.com')
  const versions = async () => (await server.call('GET', `/api/v1/notes/${note}/versions`, undefined, token)).body.versions.length

  // each burst is one edit (insertText), so a version holds a whole burst however slow the machine
  await editor(page).click()
  await page.keyboard.insertText('First draft.')
  await waitForStatus(page, 'saved on server')
  await until(async () => (await versions()) === 1, 'the first version')
  await page.keyboard.press('Control+End')
  await page.keyboard.insertText(' Second thoughts.')
  await waitForStatus(page, 'saved on server')
  await until(async () => (await versions()) === 2, 'the second version')

  await page.getByRole('button', { name: 'History' }).click()
  const history = page.getByRole('dialog', { name: 'History' })
  await history.getByRole('button', { name: 'Version 2', exact: true }).waitFor()
  assert.match(await history.getByRole('button', { name: 'Version 1', exact: true }).textContent(), /Ada/)
  await history.getByRole('button', { name: 'Version 1', exact: true }).click()
  await until(async () => (await history.getByTestId('version-text').textContent()).trim() === 'First draft.',
    'version 1 to show its text')
  await history.getByRole('button', { name: 'Changes since' }).click()
  assert.match(await history.getByTestId('version-diff').textContent(), /^-First draft\.$/m)
  assert.match(await history.getByTestId('version-diff').textContent(), /^\+First draft\. Second thoughts\.$/m)
  await screenshot(page, 'history')

  await history.getByRole('button', { name: 'Restore version 1' }).click()
  await history.waitFor({ state: 'detached' })
  await waitForText(page, 'First draft.')
  await waitForStatus(page, 'saved on server')
  assert.equal(await server.noteText(token, note), 'First draft.')
  await context.close()
})
