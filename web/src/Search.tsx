// Search.tsx - the vault's search box: results as you type (GET /vaults/{id}/search), with the
// server's snippets, whose matches come between « and » (docs/api.md: escaped as text here,
// then the markers become <mark>).
import React, { useEffect, useState } from 'react'
import { api, OfflineError, type SearchResult } from './api'

function Snippet ({ text }: { text: string }) {
  const parts = text.split(/([«»])/)
  const out: React.JSX.Element[] = []
  let marked = false
  parts.forEach((p, i) => {
    if (p === '«') marked = true
    else if (p === '»') marked = false
    else if (p !== '') out.push(marked ? <mark key={i}>{p}</mark> : <span key={i}>{p}</span>)
  })
  return <span className='snippet'>{out}</span>
}

export function Search ({ vaultId, onOpen }: { vaultId: string, onOpen: (id: string) => void }) {
  const [q, setQ] = useState('')
  const [results, setResults] = useState<SearchResult[] | null>(null)
  const [error, setError] = useState('')

  useEffect(() => {
    if (q.trim() === '') {
      setResults(null)
      setError('')
      return
    }
    let stale = false
    const timer = setTimeout(() => {
      api.search(vaultId, q).then(r => {
        if (stale) return
        setResults(r.results)
        setError('')
      }, e => {
        if (stale) return
        setResults(null)
        setError(e instanceof OfflineError ? 'You are offline: search needs the server.' : (e as Error).message)
      })
    }, 200)
    return () => {
      stale = true
      clearTimeout(timer)
    }
  }, [q, vaultId])

  return (
    <div className='search'>
      <input type='search' aria-label='Search notes' placeholder='Search notes' value={q} onChange={e => setQ(e.target.value)} />
      {error !== '' && <p className='error' role='alert'>{error}</p>}
      {results !== null && (
        <ul className='results' aria-label='Search results'>
          {results.length === 0 && <li className='hint'>No note matches.</li>}
          {results.map(r => (
            <li key={r.id}>
              <a href='#' onClick={e => { e.preventDefault(); setQ(''); onOpen(r.id) }}>{r.title}</a>
              <span className='path'>{r.path}</span>
              <Snippet text={r.snippet} />
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}
