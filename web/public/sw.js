// sw.js - the service worker: keeps the app itself (index.html and the built /assets) on this
// device so that Vault Notes opens with no network; notes live in IndexedDB, not here. Pages
// are fetched from the network first (a new build shows at once) and from the cache when the
// network is gone; hashed assets never change, so the cache answers them first. /api is never
// touched.
const CACHE = 'vault-notes-app-v1'

// The page and the assets it names (the first visit fetched them before this worker ran).
async function cacheApp () {
  const cache = await caches.open(CACHE)
  const res = await fetch('/', { cache: 'no-cache' })
  if (!res.ok) return
  const html = await res.clone().text()
  await cache.put('/', res)
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map(m => m[1])
  await cache.addAll(assets)
}

self.addEventListener('install', event => {
  event.waitUntil(cacheApp().then(() => self.skipWaiting()))
})

self.addEventListener('activate', event => {
  event.waitUntil(caches.keys()
    .then(keys => Promise.all(keys.filter(k => k !== CACHE).map(k => caches.delete(k))))
    .then(() => self.clients.claim()))
})

self.addEventListener('fetch', event => {
  const req = event.request
  const url = new URL(req.url)
  if (req.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/api/')) return
  if (req.mode === 'navigate') {
    event.respondWith(fetch(req).then(res => {
      if (res.ok) void caches.open(CACHE).then(c => c.put('/', res.clone()))
      return res
    }).catch(() => caches.match('/')))
    return
  }
  event.respondWith(caches.match(req).then(hit => hit ?? fetch(req).then(res => {
    if (res.ok && url.pathname.startsWith('/assets/')) {
      const copy = res.clone()
      void caches.open(CACHE).then(c => c.put(req, copy))
    }
    return res
  })))
})
