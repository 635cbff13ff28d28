// Vaults.tsx - the list of vaults (this device's copy when offline) and creating one.
import { useEffect, useState } from 'react'
import { api, OfflineError, type Vault } from './api'
import { local } from './local'
import { navigate } from './route'

export function Vaults ({ online }: { online: boolean }) {
  const [vaults, setVaults] = useState<Vault[] | null>(null)
  const [name, setName] = useState('')
  const [error, setError] = useState('')

  useEffect(() => {
    api.vaults().then(async v => {
      setVaults(v)
      await local.setVaults(v)
    }, async () => setVaults(await local.vaults()))
  }, [online])

  const create = async (): Promise<void> => {
    setError('')
    try {
      const v = await api.createVault(name.trim())
      const all = [...(vaults ?? []), v]
      setVaults(all)
      await local.setVaults(all)
      setName('')
      navigate({ name: 'vault', vault: v.id })
    } catch (e) {
      setError(e instanceof OfflineError ? 'You are offline: creating a vault needs the server.' : (e as Error).message)
    }
  }

  return (
    <main className='vaults'>
      <h1>Your vaults</h1>
      {vaults === null && <p>Loading…</p>}
      {vaults?.length === 0 && <p className='hint'>No vault yet: create one below.</p>}
      <ul className='vault-list'>
        {vaults?.map(v => (
          <li key={v.id}>
            <a href={`/v/${v.id}`} onClick={e => { e.preventDefault(); navigate({ name: 'vault', vault: v.id }) }}>{v.name}</a>
            <span className={`badge role-${v.role}`}>{v.role}</span>
          </li>
        ))}
      </ul>
      <form className='inline' onSubmit={e => { e.preventDefault(); void create() }}>
        <input aria-label='New vault name' placeholder='New vault name' value={name} onChange={e => setName(e.target.value)} required />
        <button className='primary' type='submit'>Create vault</button>
      </form>
      {error !== '' && <p className='error' role='alert'>{error}</p>}
    </main>
  )
}
