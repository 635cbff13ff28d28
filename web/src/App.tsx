// App.tsx - the shell: who is signed in (GET /api/v1/me, or this device's copy when offline),
// the online/offline banner, the route, and the queue of notes created offline, flushed
// whenever the network comes back.
import { useCallback, useEffect, useState, type ReactNode } from 'react'
import { api, ApiError, OfflineError, type User } from './api'
import { local, wipeDevice } from './local'
import { flushOutbox } from './outbox'
import { navigate, parse, useRoute } from './route'
import { Auth } from './Auth'
import { Vaults } from './Vaults'
import { VaultView } from './VaultView'
import { Dialog } from './Dialog'

export function useOnline (): boolean {
  const [online, setOnline] = useState(navigator.onLine)
  useEffect(() => {
    const up = (): void => setOnline(true)
    const down = (): void => setOnline(false)
    window.addEventListener('online', up)
    window.addEventListener('offline', down)
    return () => {
      window.removeEventListener('online', up)
      window.removeEventListener('offline', down)
    }
  }, [])
  return online
}

/** Tells open screens that the note list changed (a queued note got its server id). */
export const notesChanged = (): boolean => window.dispatchEvent(new Event('vn:notes-changed'))

export function App () {
  const route = useRoute()
  const online = useOnline()
  const [user, setUser] = useState<User | null | undefined>(undefined)
  const [dialog, setDialog] = useState<ReactNode>(null)

  useEffect(() => {
    api.me().then(async u => {
      setUser(u)
      await local.setUser(u)
    }, async e => {
      if (e instanceof OfflineError) setUser((await local.user()) ?? null)
      else if (e instanceof ApiError && e.status === 401) setUser(null)
      else setUser((await local.user()) ?? null)
    })
  }, [])

  useEffect(() => {
    const out = (): void => {
      setUser(null)
      navigate({ name: 'login' }, true)
    }
    window.addEventListener('vn:signed-out', out)
    return () => window.removeEventListener('vn:signed-out', out)
  }, [])

  const flush = useCallback(() => {
    void flushOutbox((localId, id) => {
      const r = parse(location.pathname)
      if (r.name === 'vault' && r.note === localId) navigate({ name: 'vault', vault: r.vault, note: id }, true)
      notesChanged()
    }).then(n => { if (n > 0) notesChanged() }, () => {})
  }, [])

  useEffect(() => {
    if (user != null && online) flush()
  }, [user, online, flush])

  if (user === undefined) return <div className='loading'>Loading…</div>

  if (user === null) {
    const mode = route.name === 'signup' ? 'signup' : 'login'
    return (
      <Auth
        mode={mode} onDone={u => {
          void local.setUser(u)
          setUser(u)
          navigate({ name: 'vaults' }, true)
        }}
      />
    )
  }

  const signOut = async (): Promise<void> => {
    try {
      await api.logout()
    } catch (e) {
      if (e instanceof OfflineError) throw new Error('You are offline: signing out needs the server.')
    }
    navigate({ name: 'login' }, true)
    setUser(null)
    await wipeDevice()
  }

  const logout = async (): Promise<void> => {
    const pending = (await local.pending()).length
    setDialog(
      <Dialog title='Log out?' submit='Log out' fields={[]} onClose={() => setDialog(null)} onSubmit={signOut}>
        <p>This device forgets your notes until you log in again.</p>
        {pending > 0 && <p className='error'>{pending} note(s) made offline are not on the server yet and will be lost.</p>}
      </Dialog>)
  }

  return (
    <div className='app'>
      <header className='top'>
        <a className='brand' href='/' onClick={e => { e.preventDefault(); navigate({ name: 'vaults' }) }}>Vault Notes</a>
        {!online && <span className='offline-banner' role='status'>offline</span>}
        <span className='who' data-testid='who'>{user.name !== '' ? user.name : user.email}</span>
        <button onClick={() => { void logout() }}>Log out</button>
      </header>
      {route.name === 'vault'
        ? <VaultView key={route.vault} vaultId={route.vault} noteId={route.note} user={user} online={online} />
        : <Vaults online={online} />}
      {dialog}
    </div>
  )
}
