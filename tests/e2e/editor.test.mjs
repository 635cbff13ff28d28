// editor.test.mjs - a person signs up, creates a vault and a note, writes Markdown (the preview
// follows), sees "saved on server", reloads: the text is there, and the server has it.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  Server, launch, newDevice, signUp, logIn, createVault, createNote, typeAtEnd, waitForStatus,
  waitForText, editorText, noteIdOf, screenshot, editor, status, until
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

test('sign up, create a vault and a note, type, reload: the text is there', async () => {
  const { context, page } = await newDevice(browser, server)
  await page.goto('/')
  await page.getByRole('form', { name: 'Log in' }).waitFor()
  await screenshot(page, 'login')
  await page.getByRole('link', { name: 'Sign up' }).click()
  await page.getByRole('form', { name: 'Sign up' }).waitFor()
  await screenshot(page, 'signup')
  await signUp(page, { name: 'Ada Lovelace', email: 'ada@example.com' })
  assert.equal(await page.getByTestId('who').textContent(), 'Ada Lovelace')
  await createVault(page, 'Team notes')
  await createNote(page, 'Plan')
  assert.equal(await page.getByTestId('note-path').textContent(), '/Plan.md')
  await typeAtEnd(page, '# Plan\n\nShip the **web app**.')
  await waitForStatus(page, 'saved on server')
  // the live preview renders the Markdown
  await page.getByTestId('preview').locator('h1', { hasText: 'Plan' }).waitFor()
  assert.equal(await page.getByTestId('preview').locator('strong').textContent(), 'web app')
  await screenshot(page, 'editor')
  const id = noteIdOf(page)

  // the server has exactly this text (its REST view of the same CRDT document)
  const token = await server.token('ada@example.com')
  assert.equal(await server.noteText(token, id), '# Plan\n\nShip the **web app**.')

  await page.reload()
  await waitForText(page, '# Plan\n\nShip the **web app**.')
  await waitForStatus(page, 'saved on server')

  // another device (no local copy at all) shows it too, and the vault list has the vault
  const other = await newDevice(browser, server)
  await logIn(other.page, { email: 'ada@example.com' })
  await other.page.getByRole('link', { name: 'Team notes' }).waitFor()
  await screenshot(other.page, 'vaults')
  await other.page.getByRole('link', { name: 'Team notes' }).click()
  await other.page.getByTestId('note-link').filter({ hasText: 'Plan.md' }).click()
  await waitForText(other.page, '# Plan\n\nShip the **web app**.')
  await other.context.close()

  // log out: back to the login form, this device forgets the notes, the session no longer works
  assert.ok((await page.evaluate(() => indexedDB.databases())).some(d => d.name === `note:${id}`))
  await page.getByRole('button', { name: 'Log out' }).click()
  await page.getByRole('dialog', { name: 'Log out?' }).getByRole('button', { name: 'Log out' }).click()
  await page.getByRole('form', { name: 'Log in' }).waitFor()
  await until(async () => !(await page.evaluate(() => indexedDB.databases())).some(d => d.name.startsWith('note:') || d.name === 'vaultnotes'),
    'the local copies to be deleted')
  await page.goto('/')
  await page.getByRole('form', { name: 'Log in' }).waitFor()
  await context.close()
})

test('"saved on server" only once the server committed: not while it is frozen, for typing or deleting', async () => {
  const { context, page } = await newDevice(browser, server)
  await logIn(page, { email: 'ada@example.com' })
  await page.getByRole('link', { name: 'Team notes' }).click()
  await createNote(page, 'Frozen')
  await typeAtEnd(page, 'before')
  await waitForStatus(page, 'saved on server')
  const id = noteIdOf(page)
  const token = await server.token('ada@example.com')

  server.pause()
  try {
    await typeAtEnd(page, ' during')
    await waitForStatus(page, 'saving…')
    // however long the server stays frozen, the status never claims the text is saved
    for (let i = 0; i < 10; i++) {
      await new Promise(resolve => setTimeout(resolve, 300))
      assert.equal(await status(page).textContent(), 'saving…')
    }
  } finally {
    server.resume()
  }
  await waitForStatus(page, 'saved on server')
  assert.equal(await server.noteText(token, id), 'before during')

  // a deletion adds nothing to the state vector: it still waits for the server
  server.pause()
  try {
    await page.keyboard.press('Backspace')
    await waitForText(page, 'before durin')
    await waitForStatus(page, 'saving…')
    for (let i = 0; i < 10; i++) {
      await new Promise(resolve => setTimeout(resolve, 300))
      assert.equal(await status(page).textContent(), 'saving…')
    }
  } finally {
    server.resume()
  }
  await waitForStatus(page, 'saved on server')
  assert.equal(await server.noteText(token, id), 'before durin')
  await context.close()
})

test('markup in a note is shown, never run: the preview is sanitised', async () => {
  const { context, page } = await newDevice(browser, server)
  await logIn(page, { email: 'ada@example.com' })
  await page.getByRole('link', { name: 'Team notes' }).click()
  await createNote(page, 'Unsafe')
  await editor(page).click()
  await page.keyboard.type('<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>\n\n[a](javascript:window.pwned=3)', { delay: 5 })
  await waitForStatus(page, 'saved on server')
  await page.getByTestId('preview').locator('img').waitFor({ state: 'attached' })
  assert.equal(await page.evaluate(() => window.pwned), undefined)
  assert.equal(await page.getByTestId('preview').locator('img').getAttribute('onerror'), null)
  assert.equal(await page.getByTestId('preview').locator('script').count(), 0)
  assert.equal(await page.getByTestId('preview').locator('a[href^="javascript"]').count(), 0)
  assert.match(await page.getByTestId('preview').textContent(), /\[a\]/) // shown as text, not a link
  assert.match(await editorText(page), /onerror/) // the text itself is kept as written
  await context.close()
})
