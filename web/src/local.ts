// local.ts - what this device keeps in IndexedDB besides the note documents (those are
// y-indexeddb databases named "note:<id>"): the signed-in user, the vault list, each vault's
// note list, folders made here that hold no note yet, and the queue of notes created offline.
//
// Notes created offline get a local id ("local-<uuid>"); their Y.Doc lives in IndexedDB under
// that id. When the network is back, flushOutbox() creates each one on the server (POST, with
// no content), copies its document to the new id and syncs it (see sync.ts: adoptLocalNote),
// and remembers the alias local id -> server id so an open editor or a bookmark follows.
import * as idb from 'lib0/indexeddb'
import type { NoteMeta, User, Vault } from './api'

const DB = 'vaultnotes'
let dbp: Promise<IDBDatabase> | null = null

function db (): Promise<IDBDatabase> {
  if (dbp === null) dbp = idb.openDB(DB, d => idb.createStores(d, [['kv']]))
  return dbp
}

export async function kvGet<T> (key: string): Promise<T | undefined> {
  const [store] = idb.transact(await db(), ['kv'], 'readonly')
  return (await idb.get(store, key)) as T | undefined
}

export async function kvPut (key: string, value: unknown): Promise<void> {
  const [store] = idb.transact(await db(), ['kv'])
  await idb.put(store, value as any, key)
}

export async function kvDel (key: string): Promise<void> {
  const [store] = idb.transact(await db(), ['kv'])
  await idb.del(store, key)
}

/** Notes with local changes the server may not have: synced in the background when online. */
export const dirty = {
  mark: (id: string) => kvPut(`dirty:${id}`, Date.now()),
  clear: (id: string) => kvDel(`dirty:${id}`),
  list: async (): Promise<string[]> => {
    const [store] = idb.transact(await db(), ['kv'], 'readonly')
    const keys = await idb.getAllKeys(store, idb.createIDBKeyRangeBound('dirty:', 'dirty:\uffff', false, false))
    return keys.map(k => String(k).slice('dirty:'.length))
  }
}

export interface PendingNote {
  localId: string
  vault: string
  path: string
  created: number
}

export const local = {
  user: () => kvGet<User>('me'),
  setUser: (u: User) => kvPut('me', u),
  vaults: async () => (await kvGet<Vault[]>('vaults')) ?? [],
  setVaults: (v: Vault[]) => kvPut('vaults', v),
  notes: async (vault: string) => (await kvGet<NoteMeta[]>(`notes:${vault}`)) ?? [],
  setNotes: (vault: string, n: NoteMeta[]) => kvPut(`notes:${vault}`, n),
  folders: async (vault: string) => (await kvGet<string[]>(`folders:${vault}`)) ?? [],
  setFolders: (vault: string, f: string[]) => kvPut(`folders:${vault}`, f),
  pending: async () => (await kvGet<PendingNote[]>('pending')) ?? [],
  setPending: (p: PendingNote[]) => kvPut('pending', p),
  alias: (localId: string) => kvGet<string>(`alias:${localId}`),
  setAlias: (localId: string, id: string) => kvPut(`alias:${localId}`, id)
}

export const isLocalId = (id: string): boolean => id.startsWith('local-')

export function newLocalId (): string {
  return 'local-' + crypto.randomUUID().replace(/-/g, '')
}

/** Forgets everything this device keeps (signing out): the cache and every note document. */
export async function wipeDevice (): Promise<void> {
  const dbs = (await indexedDB.databases?.()) ?? []
  if (dbp !== null) (await dbp).close()
  dbp = null
  await Promise.all(dbs.filter(d => d.name !== undefined && (d.name === DB || d.name.startsWith('note:')))
    .map(d => idb.deleteDB(d.name as string)))
}
