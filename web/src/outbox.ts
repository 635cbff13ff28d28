// outbox.ts - what waits for the network. Notes edited offline whose editor was closed are
// synced in the background (local.ts: dirty). Notes created offline (local.ts: PendingNote) are created on the server when the
// network is back: POST with no content (the text comes with the document, so nothing is
// doubled), then the local document is copied to the new id and synced (sync.ts:
// adoptLocalNote). A path taken meanwhile on the server gets " (2)", " (3)"... before its
// extension. Runs one flush at a time; a failure leaves the note queued for the next one.
import * as idb from 'lib0/indexeddb'
import { api, ApiError, OfflineError } from './api'
import { dirty, local } from './local'
import { adoptLocalNote, isOpen, syncInBackground, whenClosed } from './sync'

let running: Promise<number> | null = null

function withSuffix (path: string, n: number): string {
  const slash = path.lastIndexOf('/')
  const dot = path.lastIndexOf('.')
  return dot > slash + 1 ? `${path.slice(0, dot)} (${n})${path.slice(dot)}` : `${path} (${n})`
}

type Created = (localId: string, id: string) => void

async function flushOnce (onCreated: Created): Promise<number> {
  let done = 0
  for (const p of await local.pending()) {
    let id = await local.alias(p.localId)
    if (id === undefined) {
      for (let n = 1; id === undefined; n++) {
        try {
          id = (await api.createNote(p.vault, n === 1 ? p.path : withSuffix(p.path, n))).id
        } catch (e) {
          if (e instanceof ApiError && e.status === 409 && n < 50) continue
          if (e instanceof OfflineError) return done
          throw e
        }
      }
      await local.setAlias(p.localId, id)
    }
    // the app leaves an editor open on the local id for the new one; its last edits are then
    // in IndexedDB before the copy is taken
    onCreated(p.localId, id)
    await whenClosed(p.localId)
    if (!(await adoptLocalNote(p.localId, id))) continue
    await local.setPending((await local.pending()).filter(q => q.localId !== p.localId))
    void idb.deleteDB(`note:${p.localId}`).catch(() => {})
    done++
  }
  // notes edited offline whose editor is closed: push their changes now
  for (const id of await dirty.list()) {
    if (isOpen(id)) continue
    if (await syncInBackground(id)) await dirty.clear(id)
  }
  return done
}

/** Creates every queued note on the server. Returns how many were fully synced. */
export function flushOutbox (onCreated: Created): Promise<number> {
  if (running === null) {
    running = flushOnce(onCreated).finally(() => { running = null })
  }
  return running
}
