// History.tsx - a note's versions (GET /notes/{id}/versions): who and when, the text of any
// version rendered as the preview does, its line diff against the current text, and (editors)
// "Restore", which the server applies as an edit that merges like any other, so the open
// editor receives it through sync.
import { useEffect, useState } from 'react'
import { api, OfflineError, type Version } from './api'
import { renderMarkdown } from './Editor'

const when = (ms: number): string => new Date(ms).toLocaleString()

export function History ({ noteId, canEdit, onClose }: { noteId: string, canEdit: boolean, onClose: () => void }) {
  const [versions, setVersions] = useState<Version[] | null>(null)
  const [picked, setPicked] = useState<number | null>(null)
  const [content, setContent] = useState<string | null>(null)
  const [diff, setDiff] = useState('')
  const [view, setView] = useState<'text' | 'diff'>('text')
  const [error, setError] = useState('')
  const fail = (e: unknown): void =>
    setError(e instanceof OfflineError ? 'You are offline: the history needs the server.' : (e as Error).message)

  useEffect(() => {
    api.versions(noteId).then(r => {
      setVersions(r.versions)
      if (r.versions.length > 0) setPicked(r.versions[0].n)
    }, fail)
  }, [noteId])

  useEffect(() => {
    if (picked === null) return
    setContent(null)
    Promise.all([api.version(noteId, picked), api.versionDiff(noteId, picked)]).then(([v, d]) => {
      setContent(v.content)
      setDiff(d.diff)
    }, fail)
  }, [noteId, picked])

  const restore = async (): Promise<void> => {
    if (picked === null) return
    try {
      await api.restoreVersion(noteId, picked)
      onClose()
    } catch (e) { fail(e) }
  }

  return (
    <div className='overlay' onKeyDown={e => { if (e.key === 'Escape') onClose() }}>
      <section className='history' role='dialog' aria-label='History'>
        <header>
          <h2>History</h2>
          <button onClick={onClose}>Close</button>
        </header>
        {error !== '' && <p className='error' role='alert'>{error}</p>}
        {versions?.length === 0 && <p className='hint'>No version yet: one is taken when an editing burst settles.</p>}
        <div className='history-body'>
          <ul className='versions' aria-label='Versions'>
            {versions?.map(v => (
              <li key={v.n}>
                <button className={v.n === picked ? 'on' : ''} onClick={() => setPicked(v.n)} aria-label={`Version ${v.n}`}>
                  <strong>Version {v.n}</strong>
                  <span>{when(v.created)}</span>
                  <span className='hint'>{v.authorName}{v.restoredFrom !== undefined ? ` · restored from ${v.restoredFrom}` : ''}</span>
                </button>
              </li>
            ))}
          </ul>
          {picked !== null && (
            <div className='version'>
              <div className='tabs-inline'>
                <button className={view === 'text' ? 'on' : ''} onClick={() => setView('text')}>Text</button>
                <button className={view === 'diff' ? 'on' : ''} onClick={() => setView('diff')}>Changes since</button>
                {canEdit && <button className='primary' onClick={() => { void restore() }}>Restore version {picked}</button>}
              </div>
              {content === null
                ? <p className='hint'>Loading…</p>
                : view === 'text'
                  ? <article className='preview' data-testid='version-text' dangerouslySetInnerHTML={{ __html: renderMarkdown(content) }} />
                  : (
                    <pre className='diff' data-testid='version-diff'>
                      {diff === ''
                        ? 'No change since this version.'
                        : diff.split('\n').map((line, i) => (
                          <span key={i} className={/^\+(?!\+\+ )/.test(line) ? 'add' : /^-(?!-- )/.test(line) ? 'del' : ''}>{line + '\n'}</span>
                        ))}
                    </pre>
                    )}
            </div>
          )}
        </div>
      </section>
    </div>
  )
}
