// sync.ts - one open note: its Y.Doc, kept in IndexedDB by y-indexeddb (the offline replica)
// and synced with vaultd's per-note y-websocket endpoint (GET /api/v1/sync/{note}?saved=1).
// The browser sends the vn_session cookie with the WebSocket upgrade by itself.
//
// The session reports one status for the editor's indicator:
//   loading    the local replica is being read
//   offline    no network (the browser says so, or the socket is down): edits stay on this device
//   connecting the socket is being opened
//   saving     connected; some local change is not yet known to be committed
//   saved      everything this device has is committed on the server (see saved.ts)
//   local      a note created offline, waiting to be created on the server
//   gone       the server closed the socket for good (4400-4499: trashed, or access removed)
//
// BroadcastChannel sync between tabs is off (disableBc): every update that reaches this
// document through the provider then comes from the server, which saved.ts relies on. Two tabs
// still share the IndexedDB replica and meet through the server.
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { IndexeddbPersistence } from 'y-indexeddb'
import { WebsocketProvider } from 'y-websocket'
import { messageSaved, SaveTracker } from './saved'
import { dirty, isLocalId } from './local'

export type SyncStatus = 'loading' | 'offline' | 'connecting' | 'saving' | 'saved' | 'local' | 'gone'

export interface Collaborator { name: string, color: string, colorLight: string }

const palette = ['#d9480f', '#2b8a3e', '#1c7ed6', '#ae3ec9', '#e67700', '#0b7285', '#c2255c', '#5f3dc4']

export function colorFor (seed: string): Collaborator['color'] {
  let h = 0
  for (const c of seed) h = (h * 31 + c.charCodeAt(0)) >>> 0
  return palette[h % palette.length]
}

export function syncUrl (): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/sync`
}

export function isOpen (noteId: string): boolean {
  return (openSessions.get(noteId) ?? 0) > 0
}

export const isOnline = (): boolean => navigator.onLine

const openSessions = new Map<string, number>() // note id -> sessions open on it

/** Resolves once no session is open on `noteId` (or after `ms`). */
export async function whenClosed (noteId: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while ((openSessions.get(noteId) ?? 0) > 0 && Date.now() < end) {
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

export class NoteSession {
  readonly doc = new Y.Doc()
  readonly text = this.doc.getText('content')
  readonly idb: IndexeddbPersistence
  provider: WebsocketProvider | null = null
  readonly tracker = new SaveTracker(this.doc)
  status: SyncStatus = 'loading'
  private listeners = new Set<(s: SyncStatus) => void>()
  private destroyed = false
  private readonly onOnline = (): void => this.goOnline()
  private readonly onOffline = (): void => this.goOffline()

  /** `user` is shown to collaborators (awareness); null shows nothing (a background sync). */
  constructor (readonly noteId: string, readonly user: Collaborator | null) {
    openSessions.set(noteId, (openSessions.get(noteId) ?? 0) + 1)
    this.idb = new IndexeddbPersistence(`note:${noteId}`, this.doc)
    void this.idb.whenSynced.then(() => {
      if (this.destroyed) return
      if (isLocalId(noteId)) {
        this.setStatus('local')
        return
      }
      this.startProvider()
    })
  }

  /** Resolves once the local replica is loaded (the editor may show it then). */
  get ready (): Promise<unknown> {
    return this.idb.whenSynced
  }

  on (fn: (s: SyncStatus) => void): () => void {
    this.listeners.add(fn)
    fn(this.status)
    return () => this.listeners.delete(fn)
  }

  private markedDirty = false

  private setStatus (s: SyncStatus): void {
    if (s === 'saved' && this.status !== 'saved') {
      // also clears a mark left by an earlier session that closed before it was saved
      this.markedDirty = false
      void dirty.clear(this.noteId)
    }
    if (this.status === s) return
    this.status = s
    for (const fn of this.listeners) fn(s)
  }

  private refresh (): void {
    const p = this.provider
    if (p === null) return
    if (!isOnline() || !p.shouldConnect) this.setStatus('offline')
    else if (!p.wsconnected) this.setStatus(p.wsUnsuccessfulReconnects > 1 ? 'offline' : 'connecting')
    else this.setStatus(this.tracker.isSaved() ? 'saved' : 'saving')
  }

  private sendBarrier (): void {
    const ws = this.provider?.ws
    if (ws == null || ws.readyState !== WebSocket.OPEN) return
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 0)
    syncProtocol.writeSyncStep1(e, this.doc)
    ws.send(encoding.toUint8Array(e))
    this.tracker.barrierSent()
  }

  private startProvider (): void {
    const p = new WebsocketProvider(syncUrl(), this.noteId, this.doc, {
      connect: false,
      params: { saved: '1' },
      disableBc: true,
      maxBackoffTime: 4000
    })
    this.provider = p
    if (this.user !== null) p.awareness.setLocalStateField('user', this.user)
    else p.awareness.setLocalState(null)
    const t = this.tracker
    const sync = p.messageHandlers[0]
    p.messageHandlers[0] = (encoder, decoder, provider, emitSynced, type) => {
      const kind = decoding.peekVarUint(decoder)
      sync(encoder, decoder, provider, emitSynced, type)
      if (!emitSynced) return
      if (kind === syncProtocol.messageYjsSyncStep1) {
        // our step 2 is sent when this handler returns: the barrier must follow it
        if (t.answeredServerStep1()) queueMicrotask(() => this.sendBarrier())
      } else if (kind === syncProtocol.messageYjsSyncStep2) {
        if (t.step2()) this.sendBarrier()
      }
      this.refresh()
    }
    p.messageHandlers[messageSaved] = (_encoder, decoder) => {
      t.savedMessage(decoding.readVarUint8Array(decoder))
      this.refresh()
    }
    p.on('status', ({ status }) => {
      if (status === 'connected') t.opened()
      else if (status === 'disconnected') t.closed()
      this.refresh()
    })
    p.on('connection-error', () => this.refresh())
    p.on('closed', () => {
      // 4400-4499: the server says retrying is pointless (the note is gone, or we may not write)
      this.setStatus('gone')
    })
    this.doc.on('afterTransaction', (tr: Y.Transaction) => {
      if (tr.origin === p) t.serverTransaction(tr.beforeState, tr.afterState)
    })
    // registered after the provider's own handler, so the update is on the socket first
    this.doc.on('update', (_u: Uint8Array, origin: unknown, _d: Y.Doc, tr: Y.Transaction) => {
      if (origin === p || origin === this.idb) return
      if (!this.markedDirty) {
        this.markedDirty = true
        void dirty.mark(this.noteId)
      }
      if (t.localChange(tr.deleteSet.clients.size > 0)) this.sendBarrier()
      this.refresh()
    })
    window.addEventListener('online', this.onOnline)
    window.addEventListener('offline', this.onOffline)
    if (isOnline()) p.connect()
    this.refresh()
  }

  private goOnline (): void {
    this.provider?.connect()
    this.refresh()
  }

  private goOffline (): void {
    // Browsers keep an open WebSocket when the network drops until TCP notices; do not wait.
    this.provider?.disconnect()
    this.refresh()
  }

  destroy (): void {
    if (this.destroyed) return
    this.destroyed = true
    openSessions.set(this.noteId, (openSessions.get(this.noteId) ?? 1) - 1)
    window.removeEventListener('online', this.onOnline)
    window.removeEventListener('offline', this.onOffline)
    this.provider?.destroy()
    this.doc.destroy() // also destroys the y-indexeddb persistence
    this.listeners.clear()
  }
}

/** Syncs note `noteId` from this device's replica until the server has all of it (or `ms`
 * passed), with no editor open. Returns whether it is saved. */
export async function syncInBackground (noteId: string, ms = 20000): Promise<boolean> {
  const s = new NoteSession(noteId, null)
  const saved = await new Promise<boolean>(resolve => {
    const timer = setTimeout(() => resolve(false), ms)
    s.on(st => {
      if (st === 'saved' || st === 'gone') {
        clearTimeout(timer)
        resolve(st === 'saved')
      }
    })
  })
  s.destroy()
  return saved
}

/**
 * Gives a note created offline its server id: copies the document kept under `localId` to
 * `noteId` in IndexedDB, pushes it to the server, and waits (up to `ms`) until it is saved.
 * Returns true when the server has it all; false leaves the copy in place to sync later.
 */
export async function adoptLocalNote (localId: string, noteId: string, ms = 20000): Promise<boolean> {
  const doc = new Y.Doc()
  const from = new IndexeddbPersistence(`note:${localId}`, doc)
  await from.whenSynced
  const to = new IndexeddbPersistence(`note:${noteId}`, doc)
  await to.whenSynced
  await from.destroy()
  doc.destroy()
  return syncInBackground(noteId, ms)
}
