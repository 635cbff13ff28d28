// VaultView.tsx - one vault: the file tree (notes and folders: create, rename, move, delete to
// the trash), sharing by email with a role, and the open note's editor. Works offline from this
// device's copies; a note created offline is queued (outbox.ts) and shown as "not on the server
// yet". Renames, moves and deletes need the server and say so when offline. A search box
// (Search.tsx) and the trash with restore (Trash.tsx) sit beside the tree.
import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react'
import { api, OfflineError, type Member, type NoteMeta, type Role, type User, type Vault } from './api'
import { isLocalId, local, newLocalId } from './local'
import { navigate } from './route'
import { allFolders, baseOf, buildTree, dirOf, join, noteFileName, type Folder } from './tree'
import { Dialog } from './Dialog'
import { Editor } from './Editor'
import { Search } from './Search'
import { Trash } from './Trash'
import { colorFor } from './sync'

const offlineMsg = (what: string): string => `You are offline: ${what} needs the server.`

function explain (e: unknown, what: string): Error {
  return e instanceof OfflineError ? new Error(offlineMsg(what)) : (e as Error)
}

export function VaultView ({ vaultId, noteId, user, online }: {
  vaultId: string
  noteId?: string
  user: User
  online: boolean
}) {
  const [notes, setNotes] = useState<NoteMeta[]>([])
  const [folders, setFolders] = useState<string[]>([])
  const [vault, setVault] = useState<Vault | undefined>(undefined)
  const [loaded, setLoaded] = useState(false)
  const [fresh, setFresh] = useState(false) // the note list came from the server, not the cache
  const [dialog, setDialog] = useState<ReactNode>(null)
  const [menu, setMenu] = useState<string | null>(null)
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set())
  const [error, setError] = useState('')
  const [showTrash, setShowTrash] = useState(false)

  const load = useCallback(async () => {
    let list: NoteMeta[]
    let fromServer = true
    try {
      list = await api.notes(vaultId)
      await local.setNotes(vaultId, list)
    } catch {
      list = await local.notes(vaultId)
      fromServer = false
    }
    const pending = (await local.pending()).filter(p => p.vault === vaultId)
    const queued: NoteMeta[] = pending.map(p => ({
      id: p.localId, vault: vaultId, path: p.path, title: baseOf(p.path), kind: 'note', created: p.created, updated: p.created
    }))
    setNotes([...list, ...queued])
    setFolders(await local.folders(vaultId))
    let v: Vault | undefined
    try { // fresh, so a changed role shows
      const all = await api.vaults()
      await local.setVaults(all)
      v = all.find(x => x.id === vaultId)
    } catch {
      v = (await local.vaults()).find(x => x.id === vaultId)
    }
    setVault(v)
    setFresh(fromServer)
    setLoaded(true)
  }, [vaultId])

  useEffect(() => {
    void load()
    const again = (): void => { void load() }
    window.addEventListener('vn:notes-changed', again)
    // other people's new notes and renames: vaultd has no vault channel for browsers yet
    const timer = setInterval(() => { if (navigator.onLine && document.visibilityState === 'visible') again() }, 10000)
    return () => {
      window.removeEventListener('vn:notes-changed', again)
      clearInterval(timer)
    }
  }, [load, online])

  const tree = useMemo(() => buildTree(notes, folders), [notes, folders])
  const role: Role = vault?.role ?? 'viewer'
  const canEdit = role !== 'viewer'
  const open = notes.find(n => n.id === noteId)
  const me = useMemo(() => {
    const name = user.name !== '' ? user.name : user.email
    const color = colorFor(user.email)
    return { name, color, colorLight: color + '33' }
  }, [user])

  useEffect(() => {
    document.title = open !== undefined ? `${baseOf(open.path)} · Vault Notes` : `${vault?.name ?? 'Vault'} · Vault Notes`
    return () => { document.title = 'Vault Notes' }
  }, [open?.path, vault?.name])

  // A bookmark or open editor on a queued note follows it to its server id.
  useEffect(() => {
    if (noteId === undefined || !isLocalId(noteId)) return
    void local.alias(noteId).then(id => { if (id !== undefined) navigate({ name: 'vault', vault: vaultId, note: id }, true) })
  }, [noteId, vaultId, notes])

  const saveFolders = async (f: string[]): Promise<void> => {
    const uniq = [...new Set(f)]
    setFolders(uniq)
    await local.setFolders(vaultId, uniq)
  }

  const folderOptions = (exclude?: string): Array<{ value: string, label: string }> =>
    allFolders(tree)
      .filter(p => exclude === undefined || (p !== exclude && !p.startsWith(exclude + '/')))
      .map(p => ({ value: p, label: p === '' ? '/ (top)' : p }))

  // ---- notes ---------------------------------------------------------------

  const newNote = (dir: string): void => setDialog(
    <Dialog
      title='New note' submit='Create' fields={[{ name: 'name', label: 'Name', value: 'Untitled' }]}
      onClose={() => setDialog(null)} onSubmit={async ({ name }) => {
        if (name.trim() === '' || name.includes('/')) throw new Error('A note name is not empty and has no "/".')
        const path = join(dir, noteFileName(name))
        if (notes.some(n => n.path === path)) throw new Error('Another note already has this name here.')
        try {
          const n = await api.createNote(vaultId, path)
          await load()
          navigate({ name: 'vault', vault: vaultId, note: n.id })
        } catch (e) {
          if (!(e instanceof OfflineError)) throw e
          const localId = newLocalId()
          await local.setPending([...await local.pending(), { localId, vault: vaultId, path, created: Date.now() }])
          await load()
          navigate({ name: 'vault', vault: vaultId, note: localId })
        }
      }}
    />)

  const renameNote = (n: NoteMeta, move: boolean): void => setDialog(
    <Dialog
      title={move ? `Move ${baseOf(n.path)}` : `Rename ${baseOf(n.path)}`} submit={move ? 'Move' : 'Rename'}
      fields={move
        ? [{ name: 'dir', label: 'To folder', options: folderOptions(), value: dirOf(n.path) }]
        : [{ name: 'name', label: 'Name', value: baseOf(n.path) }]}
      onClose={() => setDialog(null)} onSubmit={async ({ name, dir }) => {
        if (!move && (name.trim() === '' || name.includes('/'))) throw new Error('A note name is not empty and has no "/".')
        const path = move ? join(dir, baseOf(n.path)) : join(dirOf(n.path), noteFileName(name))
        if (path === n.path) return
        if (isLocalId(n.id)) {
          await local.setPending((await local.pending()).map(p => p.localId === n.id ? { ...p, path } : p))
        } else {
          try { await api.moveNote(n.id, path) } catch (e) { throw explain(e, move ? 'moving' : 'renaming') }
        }
        await load()
      }}
    />)

  const deleteNote = (n: NoteMeta): void => setDialog(
    <Dialog
      title={`Delete ${baseOf(n.path)}?`} submit='Move to trash' fields={[]}
      onClose={() => setDialog(null)} onSubmit={async () => {
        if (isLocalId(n.id)) {
          await local.setPending((await local.pending()).filter(p => p.localId !== n.id))
        } else {
          try { await api.deleteNote(n.id) } catch (e) { throw explain(e, 'deleting') }
        }
        if (noteId === n.id) navigate({ name: 'vault', vault: vaultId }, true)
        await load()
      }}
    ><p>The note goes to the vault's trash.</p>
    </Dialog>)

  // ---- folders -------------------------------------------------------------

  const newFolder = (dir: string): void => setDialog(
    <Dialog
      title='New folder' submit='Create' fields={[{ name: 'name', label: 'Name', value: '' }]}
      onClose={() => setDialog(null)} onSubmit={async ({ name }) => {
        const n = name.trim()
        if (n === '' || n.includes('/')) throw new Error('A folder name is not empty and has no "/".')
        await saveFolders([...folders, join(dir, n)])
      }}
    />)

  const moveFolder = async (from: string, to: string): Promise<void> => {
    if (to === from) return
    const inside = (p: string): boolean => p === from || p.startsWith(from + '/')
    const moved = (p: string): string => to + p.slice(from.length)
    const serverNotes = notes.filter(n => !isLocalId(n.id) && inside(dirOf(n.path)))
    if (serverNotes.length > 0) {
      try { await api.renameFolder(vaultId, from, to) } catch (e) { throw explain(e, 'renaming a folder') }
    }
    await local.setPending((await local.pending()).map(p => inside(dirOf(p.path)) ? { ...p, path: moved(p.path) } : p))
    await saveFolders(folders.map(p => inside(p) ? moved(p) : p))
    await load()
  }

  const renameFolder = (f: Folder, move: boolean): void => setDialog(
    <Dialog
      title={move ? `Move folder ${f.name}` : `Rename folder ${f.name}`} submit={move ? 'Move' : 'Rename'}
      fields={move
        ? [{ name: 'dir', label: 'Into folder', options: folderOptions(f.path), value: dirOf(f.path) }]
        : [{ name: 'name', label: 'Name', value: f.name }]}
      onClose={() => setDialog(null)} onSubmit={async ({ name, dir }) => {
        if (!move && (name.trim() === '' || name.includes('/'))) throw new Error('A folder name is not empty and has no "/".')
        await moveFolder(f.path, move ? join(dir, f.name) : join(dirOf(f.path), name.trim()))
      }}
    />)

  const deleteFolder = (f: Folder): void => setDialog(
    <Dialog
      title={`Delete folder ${f.name}?`} submit='Move to trash' fields={[]}
      onClose={() => setDialog(null)} onSubmit={async () => {
        const inside = (p: string): boolean => p === f.path || p.startsWith(f.path + '/')
        if (notes.some(n => !isLocalId(n.id) && inside(dirOf(n.path)))) {
          try { await api.trashFolder(vaultId, f.path) } catch (e) { throw explain(e, 'deleting') }
        }
        await local.setPending((await local.pending()).filter(p => !inside(dirOf(p.path))))
        await saveFolders(folders.filter(p => !inside(p)))
        if (open !== undefined && inside(dirOf(open.path))) navigate({ name: 'vault', vault: vaultId }, true)
        await load()
      }}
    ><p>Every note in it goes to the vault's trash.</p>
    </Dialog>)

  // ---- sharing -------------------------------------------------------------

  const share = async (): Promise<void> => {
    let members: Member[] = []
    try { members = await api.members(vaultId) } catch (e) { setError(explain(e, 'sharing').message); return }
    setDialog(
      <Dialog
        title='Share this vault' submit='Share'
        fields={[
          { name: 'email', label: 'Email of a Vault Notes account', type: 'email' },
          { name: 'role', label: 'Role', options: [{ value: 'editor', label: 'editor (can write)' }, { value: 'viewer', label: 'viewer (can read)' }, { value: 'owner', label: 'owner (can share)' }] }
        ]}
        onClose={() => setDialog(null)} onSubmit={async ({ email, role }) => {
          try { await api.addMember(vaultId, email.trim(), role as Role) } catch (e) { throw explain(e, 'sharing') }
        }}
      >
        <ul className='members' aria-label='Members'>
          {members.map(m => <li key={m.user_id}>{m.name !== '' ? `${m.name} <${m.email}>` : m.email} <span className={`badge role-${m.role}`}>{m.role}</span></li>)}
        </ul>
      </Dialog>)
  }

  // ---- rendering -----------------------------------------------------------

  const act = (fn: () => void) => () => { setMenu(null); setError(''); fn() }

  const noteRow = (n: NoteMeta) => (
    <li key={n.id} className={`note ${n.id === noteId ? 'open' : ''}`}>
      <div className='row'>
        <a
          href={`/v/${vaultId}/n/${n.id}`} data-testid='note-link'
          onClick={e => { e.preventDefault(); setShowTrash(false); navigate({ name: 'vault', vault: vaultId, note: n.id }) }}
        >{baseOf(n.path)}
        </a>
        {isLocalId(n.id) && <span className='badge pending' title='Created offline: not on the server yet'>not synced</span>}
        {canEdit && <button className='more' aria-label={`Actions for ${baseOf(n.path)}`} onClick={() => setMenu(menu === n.id ? null : n.id)}>⋯</button>}
      </div>
      {menu === n.id && (
        <div className='menu' role='menu'>
          <button role='menuitem' onClick={act(() => renameNote(n, false))}>Rename</button>
          <button role='menuitem' onClick={act(() => renameNote(n, true))}>Move</button>
          <button role='menuitem' onClick={act(() => deleteNote(n))}>Delete</button>
        </div>
      )}
    </li>
  )

  const folderView = (f: Folder): ReactNode => {
    const isOpen = !collapsed.has(f.path)
    const key = 'folder:' + f.path
    return (
      <li key={key} className='folder'>
        <div className='row'>
          <button
            className='twisty' aria-expanded={isOpen} onClick={() => {
              const c = new Set(collapsed)
              if (isOpen) c.add(f.path)
              else c.delete(f.path)
              setCollapsed(c)
            }}
          >{isOpen ? '▾' : '▸'} {f.name}
          </button>
          {canEdit && <button className='more' aria-label={`Actions for folder ${f.name}`} onClick={() => setMenu(menu === key ? null : key)}>⋯</button>}
        </div>
        {menu === key && (
          <div className='menu' role='menu'>
            <button role='menuitem' onClick={act(() => newNote(f.path))}>New note here</button>
            <button role='menuitem' onClick={act(() => newFolder(f.path))}>New folder here</button>
            <button role='menuitem' onClick={act(() => renameFolder(f, false))}>Rename</button>
            <button role='menuitem' onClick={act(() => renameFolder(f, true))}>Move</button>
            <button role='menuitem' onClick={act(() => deleteFolder(f))}>Delete</button>
          </div>
        )}
        {isOpen && <ul>{f.folders.map(folderView)}{f.notes.map(noteRow)}</ul>}
      </li>
    )
  }

  return (
    <div className={`vault ${noteId !== undefined ? 'has-note' : ''}`}>
      <aside className='sidebar'>
        <div className='vault-head'>
          <h1>{vault?.name ?? 'Vault'}</h1>
          <span className={`badge role-${role}`}>{role}</span>
        </div>
        <div className='toolbar'>
          {canEdit && <button onClick={act(() => newNote(''))}>New note</button>}
          {canEdit && <button onClick={act(() => newFolder(''))}>New folder</button>}
          {role === 'owner' && <button onClick={() => { setError(''); void share() }}>Share</button>}
          <button onClick={() => { setShowTrash(true); navigate({ name: 'vault', vault: vaultId }) }}>Trash</button>
        </div>
        <Search vaultId={vaultId} onOpen={id => { setShowTrash(false); navigate({ name: 'vault', vault: vaultId, note: id }) }} />
        {error !== '' && <p className='error' role='alert'>{error}</p>}
        <ul className='tree' aria-label='Files'>
          {tree.folders.map(folderView)}
          {tree.notes.map(noteRow)}
        </ul>
        {loaded && notes.length === 0 && folders.length === 0 && <p className='hint'>No notes yet.</p>}
      </aside>
      <section className='main'>
        {noteId !== undefined && loaded && fresh && open === undefined && !isLocalId(noteId)
          ? <p className='hint pick' role='alert'>This note is not in this vault any more: it may be in the trash.</p>
          : noteId !== undefined && loaded
          ? (
            <>
              <div className='note-head'>
                <button className='back' onClick={() => navigate({ name: 'vault', vault: vaultId })}>← Files</button>
                <h2 className='note-path' data-testid='note-path'>{open?.path ?? ''}</h2>
              </div>
              <Editor key={noteId} noteId={noteId} readOnly={!canEdit} user={me} />
            </>
            )
          : showTrash
            ? <Trash vaultId={vaultId} canEdit={canEdit} onRestored={() => { void load() }} />
            : <p className='hint pick'>Pick a note on the left, or create one.</p>}
      </section>
      {dialog}
    </div>
  )
}
