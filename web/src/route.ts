// route.ts - the app's few client-side routes, in the URL path (vaultd answers index.html for
// them): /login, /signup, / (vaults), /v/<vault>, /v/<vault>/n/<note>.
import { useEffect, useState } from 'react'

export type Route =
  | { name: 'login' }
  | { name: 'signup' }
  | { name: 'vaults' }
  | { name: 'vault', vault: string, note?: string }

export function parse (path: string): Route {
  if (path === '/login') return { name: 'login' }
  if (path === '/signup') return { name: 'signup' }
  const m = /^\/v\/([^/]+)(?:\/n\/([^/]+))?\/?$/.exec(path)
  if (m !== null) return { name: 'vault', vault: decodeURIComponent(m[1]), note: m[2] !== undefined ? decodeURIComponent(m[2]) : undefined }
  return { name: 'vaults' }
}

export function href (r: Route): string {
  switch (r.name) {
    case 'login': return '/login'
    case 'signup': return '/signup'
    case 'vaults': return '/'
    case 'vault': return `/v/${encodeURIComponent(r.vault)}${r.note !== undefined ? `/n/${encodeURIComponent(r.note)}` : ''}`
  }
}

const listeners = new Set<() => void>()

export function navigate (r: Route, replace = false): void {
  const url = href(r)
  if (url !== location.pathname) {
    if (replace) history.replaceState(null, '', url)
    else history.pushState(null, '', url)
  }
  for (const fn of listeners) fn()
}

export function useRoute (): Route {
  const [route, setRoute] = useState(() => parse(location.pathname))
  useEffect(() => {
    const update = (): void => setRoute(parse(location.pathname))
    listeners.add(update)
    window.addEventListener('popstate', update)
    return () => {
      listeners.delete(update)
      window.removeEventListener('popstate', update)
    }
  }, [])
  return route
}
