// search_trash.test.mjs - the search box finds notes as you type (accents ignored, matches
// marked), and the trash: notes and folders deleted from the tree are listed there and come
// back with their text when restored.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  Server, launch, newDevice, signUp, createVault, createNote, typeAtEnd, waitForStatus,
  waitForText, screenshot, until, noteIdOf
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

test('search as you type, then delete to the trash and restore', async () => {
  const { context, page } = await newDevice(browser, server)
  await signUp(page, { name: 'Ada', email: 'ada@example.com' })
  const vault = await createVault(page, 'Kitchen')
  await createNote(page, 'Coffee')
  await typeAtEnd(page, '# Coffee\n\nWe drink café at noon.')
  await waitForStatus(page, 'saved on server')
  const coffee = noteIdOf(page)
  await createNote(page, 'Tea')
  await typeAtEnd(page, 'Green tea, no sugar.')
  await waitForStatus(page, 'saved on server')
  const tea = noteIdOf(page)

  // the index is filled shortly after each commit: type until the result shows
  const box = page.getByLabel('Search notes')
  const results = page.getByRole('list', { name: 'Search results' })
  await until(async () => {
    await box.fill('')
    await box.fill('cafe')
    try {
      await results.getByRole('link', { name: 'Coffee' }).waitFor({ timeout: 2000 })
      return true
    } catch { return false }
  }, 'the search to find the coffee note')
  assert.equal(await results.locator('mark').first().textContent(), 'café')
  assert.equal(await results.getByRole('link').count(), 1)
  await screenshot(page, 'search')
  await results.getByRole('link', { name: 'Coffee' }).click()
  await until(() => noteIdOf(page) === coffee, 'the result to open its note')
  await waitForText(page, '# Coffee\n\nWe drink café at noon.')

  // a query the server cannot read says why
  await box.fill('"unclosed')
  await page.locator('.search').getByRole('alert').waitFor()
  await box.fill('')

  // delete a note, and a folder with a note, to the trash
  await page.getByRole('button', { name: 'Actions for Tea.md' }).click()
  await page.getByRole('menuitem', { name: 'Delete' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Move to trash' }).click()
  await page.getByRole('dialog').waitFor({ state: 'detached' })
  await page.getByRole('button', { name: 'New folder' }).click()
  await page.getByRole('dialog').getByLabel('Name').fill('Old')
  await page.getByRole('dialog').getByRole('button', { name: 'Create' }).click()
  await createNote(page, 'Recipes', 'Old')
  await typeAtEnd(page, 'Bread.')
  await waitForStatus(page, 'saved on server')
  await page.getByRole('button', { name: 'Actions for folder Old' }).click()
  await page.getByRole('menuitem', { name: 'Delete' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Move to trash' }).click()
  await page.getByRole('dialog').waitFor({ state: 'detached' })
  assert.equal(await page.getByTestId('note-link').filter({ hasText: 'Tea.md' }).count(), 0)
  assert.equal(await page.getByTestId('note-link').filter({ hasText: 'Recipes.md' }).count(), 0)

  // a link to a trashed note says where it went
  await page.goto(`/v/${vault}/n/${tea}`)
  await page.getByRole('alert').filter({ hasText: 'may be in the trash' }).waitFor()

  await page.getByRole('button', { name: 'Trash' }).click()
  const trash = page.getByRole('region', { name: 'Trash' })
  await trash.getByText('/Tea.md').waitFor()
  await trash.getByText('/Old/Recipes.md').waitFor()
  await screenshot(page, 'trash')
  await trash.getByRole('button', { name: 'Restore /Tea.md' }).click()
  await page.getByTestId('note-link').filter({ hasText: 'Tea.md' }).waitFor()
  await until(async () => (await trash.getByText('/Tea.md').count()) === 0, 'Tea to leave the trash')
  await page.getByTestId('note-link').filter({ hasText: 'Tea.md' }).click()
  await waitForText(page, 'Green tea, no sugar.')

  const token = await server.token('ada@example.com')
  const paths = (await server.call('GET', `/api/v1/vaults/${vault}/notes`, undefined, token)).body.notes.map(n => n.path).sort()
  assert.deepEqual(paths, ['/Coffee.md', '/Tea.md'])
  assert.equal(await server.noteText(token, tea), 'Green tea, no sugar.')
  await context.close()
})
