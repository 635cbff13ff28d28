// tree.test.mjs - the file tree: folders and notes are created, renamed, moved and deleted to
// the trash from the UI, and the server agrees; then the same vault at phone width.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  Server, launch, newDevice, signUp, logIn, createVault, createNote, typeAtEnd, waitForStatus,
  waitForText, screenshot, until
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

async function act (page, label, item) {
  await page.getByRole('button', { name: label }).click()
  await page.getByRole('menuitem', { name: item }).click()
}

async function answer (page, fields, submit) {
  const d = page.getByRole('dialog')
  for (const [label, value] of Object.entries(fields)) {
    const f = d.getByLabel(label)
    if (await f.evaluate(el => el.tagName) === 'SELECT') await f.selectOption(value)
    else await f.fill(value)
  }
  await d.getByRole('button', { name: submit }).click()
  await d.waitFor({ state: 'detached' })
}

test('folders and notes: create, rename, move, delete; the server agrees', async () => {
  const { context, page } = await newDevice(browser, server)
  await signUp(page, { name: 'Ada', email: 'ada@example.com' })
  const vault = await createVault(page, 'Projects')
  const token = await server.token('ada@example.com')
  const paths = async () => (await server.call('GET', `/api/v1/vaults/${vault}/notes`, undefined, token))
    .body.notes.map(n => n.path).sort()
  const expectPaths = async want => until(async () => JSON.stringify(await paths()) === JSON.stringify(want),
    `the server's paths to be ${JSON.stringify(want)} (they are ${JSON.stringify(await paths())})`)

  await page.getByRole('button', { name: 'New folder' }).click()
  await answer(page, { Name: 'Work' }, 'Create')
  await page.getByRole('button', { name: 'New folder' }).click()
  await answer(page, { Name: 'Archive' }, 'Create')
  await createNote(page, 'Plan', 'Work')
  assert.equal(await page.getByTestId('note-path').textContent(), '/Work/Plan.md')
  await typeAtEnd(page, 'Q1 plan')
  await waitForStatus(page, 'saved on server')
  await createNote(page, 'Ideas', 'Work')
  await expectPaths(['/Work/Ideas.md', '/Work/Plan.md'])

  await act(page, 'Actions for Plan.md', 'Rename')
  await answer(page, { Name: 'Roadmap' }, 'Rename')
  await expectPaths(['/Work/Ideas.md', '/Work/Roadmap.md'])
  await act(page, 'Actions for Roadmap.md', 'Move')
  await answer(page, { 'To folder': '/Archive' }, 'Move')
  await expectPaths(['/Archive/Roadmap.md', '/Work/Ideas.md'])

  await act(page, 'Actions for folder Work', 'Rename')
  await answer(page, { Name: 'Job' }, 'Rename')
  await expectPaths(['/Archive/Roadmap.md', '/Job/Ideas.md'])
  await act(page, 'Actions for folder Job', 'Move')
  await answer(page, { 'Into folder': '/Archive' }, 'Move')
  await expectPaths(['/Archive/Job/Ideas.md', '/Archive/Roadmap.md'])
  await page.getByRole('button', { name: 'Actions for folder Job' }).waitFor()
  await screenshot(page, 'tree')

  // a rename onto a taken name is refused with the server's reason; nothing changes
  await createNote(page, 'Notes', 'Archive')
  await act(page, 'Actions for Roadmap.md', 'Rename')
  const d = page.getByRole('dialog')
  await d.getByLabel('Name').fill('Notes')
  await d.getByRole('button', { name: 'Rename' }).click()
  assert.match(await d.getByRole('alert').textContent(), /path/i)
  await d.getByRole('button', { name: 'Cancel' }).click()
  await expectPaths(['/Archive/Job/Ideas.md', '/Archive/Notes.md', '/Archive/Roadmap.md'])

  // the renamed note kept its text
  await page.getByTestId('note-link').filter({ hasText: 'Roadmap.md' }).click()
  await waitForText(page, 'Q1 plan')

  await act(page, 'Actions for Roadmap.md', 'Delete')
  await answer(page, {}, 'Move to trash')
  await expectPaths(['/Archive/Job/Ideas.md', '/Archive/Notes.md'])
  assert.equal(await page.getByTestId('note-link').filter({ hasText: 'Roadmap.md' }).count(), 0)
  await context.close()
})

test('at phone width: one pane at a time, editor and preview as tabs', async () => {
  const { context, page } = await newDevice(browser, server, {
    viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2
  })
  await logIn(page, { email: 'ada@example.com' })
  await screenshot(page, 'phone-vaults')
  await page.getByRole('link', { name: 'Projects' }).click()
  await page.getByRole('button', { name: 'Actions for folder Job' }).waitFor()
  await screenshot(page, 'phone-tree')
  await page.getByTestId('note-link').filter({ hasText: 'Ideas.md' }).tap()
  await page.getByTestId('editor').waitFor()
  assert.equal(await page.locator('.sidebar').isVisible(), false)
  await typeAtEnd(page, '# Ideas\n\n- a phone app')
  await waitForStatus(page, 'saved on server')
  await screenshot(page, 'phone-editor')
  assert.equal(await page.getByTestId('preview').isVisible(), false)
  await page.getByRole('button', { name: 'Preview' }).tap()
  await page.getByTestId('preview').locator('h1', { hasText: 'Ideas' }).waitFor()
  assert.equal(await page.getByTestId('editor').isVisible(), false)
  await screenshot(page, 'phone-preview')
  await page.getByRole('button', { name: '← Files' }).tap()
  await page.getByRole('button', { name: 'Actions for folder Job' }).waitFor()
  // nothing is wider than the screen
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth))
  await context.close()
})
