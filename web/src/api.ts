// api.ts - vaultd's REST API (docs/api.md) from the browser. The session is the HttpOnly
// vn_session cookie that login sets: no token is ever read, stored or put in a URL here.
export class ApiError extends Error {
  constructor (readonly status: number, message: string) {
    super(message)
  }
}

/** The network is gone (fetch itself failed): the caller falls back to what this device has. */
export class OfflineError extends Error {
  constructor () {
    super('You are offline.')
  }
}

export interface User { id: number, email: string, name: string }
export type Role = 'owner' | 'editor' | 'viewer'
export interface Vault { id: string, name: string, role: Role, created: number, seq: number }
export interface NoteMeta {
  id: string
  vault: string
  path: string
  title: string
  kind: string
  created: number
  updated: number
}
export interface SearchResult { id: string, path: string, title: string, snippet: string, score: number }
export interface TrashedNote extends NoteMeta { trashed: number, editedInTrash: boolean, purgeAfter: number }
export interface Version { n: number, created: number, author: number, authorName: string, bytes: number, restoredFrom?: number }
export interface Member { user_id: number, email: string, name: string, role: Role }

async function call<T> (method: string, path: string, body?: unknown): Promise<T> {
  let res: Response
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
  } catch {
    throw new OfflineError()
  }
  if (res.status === 204) return undefined as T
  const text = await res.text()
  let json: any = null
  try {
    json = text === '' ? null : JSON.parse(text)
  } catch {
    json = null
  }
  if (res.status === 401 && path !== '/api/v1/auth/login' && path !== '/api/v1/me') {
    // the session ended (expired, or signed out elsewhere): the app shows the login form
    window.dispatchEvent(new Event('vn:signed-out'))
  }
  if (!res.ok) {
    throw new ApiError(res.status, json?.detail ?? json?.title ?? `The server answered ${res.status}.`)
  }
  return json as T
}

const enc = encodeURIComponent

export const api = {
  me: () => call<User>('GET', '/api/v1/me'),
  register: (email: string, password: string, name: string) =>
    call<User>('POST', '/api/v1/auth/register', { email, password, name }),
  login: async (email: string, password: string) =>
    (await call<{ user: User }>('POST', '/api/v1/auth/login', { email, password })).user,
  logout: () => call<void>('POST', '/api/v1/auth/logout'),
  vaults: async () => (await call<{ vaults: Vault[] }>('GET', '/api/v1/vaults')).vaults,
  createVault: (name: string) => call<Vault>('POST', '/api/v1/vaults', { name }),
  members: async (vault: string) =>
    (await call<{ members: Member[] }>('GET', `/api/v1/vaults/${enc(vault)}/members`)).members,
  addMember: (vault: string, email: string, role: Role) =>
    call<unknown>('POST', `/api/v1/vaults/${enc(vault)}/members`, { email, role }),
  removeMember: (vault: string, user: number) =>
    call<void>('DELETE', `/api/v1/vaults/${enc(vault)}/members/${user}`),
  notes: async (vault: string) =>
    (await call<{ notes: NoteMeta[] }>('GET', `/api/v1/vaults/${enc(vault)}/notes`)).notes,
  createNote: (vault: string, path: string) =>
    call<NoteMeta>('POST', `/api/v1/vaults/${enc(vault)}/notes`, { path }),
  moveNote: (note: string, path: string) =>
    call<NoteMeta>('PATCH', `/api/v1/notes/${enc(note)}`, { path }),
  deleteNote: (note: string) => call<void>('DELETE', `/api/v1/notes/${enc(note)}`),
  renameFolder: (vault: string, from: string, to: string) =>
    call<{ moved: number }>('POST', `/api/v1/vaults/${enc(vault)}/folders/rename`, { from, to }),
  trashFolder: (vault: string, path: string) =>
    call<{ trashed: number }>('POST', `/api/v1/vaults/${enc(vault)}/folders/trash`, { path }),
  trash: (vault: string) =>
    call<{ trash: TrashedNote[], retentionDays: number }>('GET', `/api/v1/vaults/${enc(vault)}/trash`),
  restore: (note: string) => call<NoteMeta>('POST', `/api/v1/notes/${enc(note)}/restore`),
  versions: (note: string) =>
    call<{ versions: Version[], next: number | null }>('GET', `/api/v1/notes/${enc(note)}/versions?limit=200`),
  version: (note: string, n: number) =>
    call<Version & { content: string }>('GET', `/api/v1/notes/${enc(note)}/versions/${n}`),
  versionDiff: (note: string, n: number) =>
    call<{ diff: string, added: number, removed: number }>('GET', `/api/v1/notes/${enc(note)}/versions/${n}/diff?to=current`),
  restoreVersion: (note: string, n: number) =>
    call<unknown>('POST', `/api/v1/notes/${enc(note)}/versions/${n}/restore`),
  search: (vault: string, q: string) =>
    call<{ results: SearchResult[], total: number }>('GET', `/api/v1/vaults/${enc(vault)}/search?q=${enc(q)}&limit=20`)
}
