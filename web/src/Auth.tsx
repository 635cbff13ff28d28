// Auth.tsx - sign up and log in. Login sets the HttpOnly session cookie; the token in its
// answer is not kept anywhere.
import { useState } from 'react'
import { api, type User } from './api'
import { navigate } from './route'

export function Auth ({ mode, onDone }: { mode: 'login' | 'signup', onDone: (u: User) => void }) {
  const [email, setEmail] = useState('')
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const signup = mode === 'signup'

  const submit = async (): Promise<void> => {
    setBusy(true)
    setError('')
    try {
      if (signup) await api.register(email, password, name)
      onDone(await api.login(email, password))
    } catch (e) {
      setError((e as Error).message)
      setBusy(false)
    }
  }

  return (
    <main className='auth'>
      <h1>Vault Notes</h1>
      <form onSubmit={e => { e.preventDefault(); void submit() }} aria-label={signup ? 'Sign up' : 'Log in'}>
        <h2>{signup ? 'Create your account' : 'Log in'}</h2>
        {signup && <label>Name<input value={name} onChange={e => setName(e.target.value)} autoComplete='name' /></label>}
        <label>Email<input type='email' required value={email} onChange={e => setEmail(e.target.value)} autoComplete='email' /></label>
        <label>Password
          <input
            type='password' required minLength={8} value={password}
            onChange={e => setPassword(e.target.value)} autoComplete={signup ? 'new-password' : 'current-password'}
          />
        </label>
        {error !== '' && <p className='error' role='alert'>{error}</p>}
        <button className='primary' type='submit' disabled={busy}>{signup ? 'Sign up' : 'Log in'}</button>
        <p>
          {signup ? 'Have an account? ' : 'New here? '}
          <a
            href={signup ? '/login' : '/signup'}
            onClick={e => { e.preventDefault(); setError(''); navigate({ name: signup ? 'login' : 'signup' }) }}
          >{signup ? 'Log in' : 'Sign up'}
          </a>
        </p>
      </form>
    </main>
  )
}
