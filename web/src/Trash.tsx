// Trash.tsx - a vault's trash (GET /vaults/{id}/trash): what was deleted, when, and when it
// will be purged; editors restore a note to its old path (or beside it when that is taken).
import { useCallback, useEffect, useState } from 'react'
import { api, OfflineError, type TrashedNote } from './api'

const when = (ms: number): string => new Date(ms).toLocaleString()

export function Trash ({ vaultId, canEdit, onRestored }: {
  vaultId: string
  canEdit: boolean
  onRestored: (id: string) => void
}) {
  const [items, setItems] = useState<TrashedNote[] | null>(null)
  const [days, setDays] = useState(0)
  const [error, setError] = useState('')

  const load = useCallback(async () => {
    try {
      const t = await api.trash(vaultId)
      setItems(t.trash)
      setDays(t.retentionDays)
      setError('')
    } catch (e) {
      setError(e instanceof OfflineError ? 'You are offline: the trash needs the server.' : (e as Error).message)
    }
  }, [vaultId])

  useEffect(() => { void load() }, [load])

  const restore = async (n: TrashedNote): Promise<void> => {
    try {
      const r = await api.restore(n.id)
      await load()
      onRestored(r.id ?? n.id)
    } catch (e) {
      setError(e instanceof OfflineError ? 'You are offline: restoring needs the server.' : (e as Error).message)
    }
  }

  return (
    <section className='trash' aria-label='Trash'>
      <h2>Trash</h2>
      {days > 0 && <p className='hint'>Notes stay here {days} days after their last change, then they are deleted for good.</p>}
      {error !== '' && <p className='error' role='alert'>{error}</p>}
      {items?.length === 0 && <p className='hint'>The trash is empty.</p>}
      <ul>
        {items?.map(n => (
          <li key={n.id}>
            <span className='path'>{n.path}</span>
            <span className='hint'>deleted {when(n.trashed)}{n.editedInTrash ? ', edited since' : ''}</span>
            {canEdit && <button onClick={() => { void restore(n) }} aria-label={`Restore ${n.path}`}>Restore</button>}
          </li>
        ))}
      </ul>
    </section>
  )
}
