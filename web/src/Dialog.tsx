// Dialog.tsx - the one modal of the app: a title, fields, OK and Cancel. Enter submits,
// Escape cancels; an error from onSubmit is shown in the dialog, which stays open.
import { useState, type ReactNode } from 'react'

export interface Field {
  name: string
  label: string
  value?: string
  options?: Array<{ value: string, label: string }>
  type?: string
}

export function Dialog ({ title, fields, submit, onSubmit, onClose, children }: {
  title: string
  fields: Field[]
  submit: string
  onSubmit: (values: Record<string, string>) => Promise<void> | void
  onClose: () => void
  children?: ReactNode
}) {
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(fields.map(f => [f.name, f.value ?? f.options?.[0]?.value ?? ''])))
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  return (
    <div className='overlay' onKeyDown={e => { if (e.key === 'Escape') onClose() }}>
      <form
        className='dialog' role='dialog' aria-label={title}
        onSubmit={e => {
          e.preventDefault()
          setBusy(true)
          setError('')
          Promise.resolve(onSubmit(values)).then(onClose, (err: Error) => {
            setError(err.message)
            setBusy(false)
          })
        }}
      >
        <h2>{title}</h2>
        {children}
        {fields.map((f, i) => (
          <label key={f.name}>
            {f.label}
            {f.options !== undefined
              ? (
                <select value={values[f.name]} onChange={e => setValues({ ...values, [f.name]: e.target.value })}>
                  {f.options.map(o => <option key={o.value} value={o.value}>{o.label}</option>)}
                </select>
                )
              : (
                <input
                  autoFocus={i === 0} type={f.type ?? 'text'} value={values[f.name]}
                  onChange={e => setValues({ ...values, [f.name]: e.target.value })}
                />
                )}
          </label>
        ))}
        {error !== '' && <p className='error' role='alert'>{error}</p>}
        <div className='actions'>
          <button type='button' onClick={onClose}>Cancel</button>
          <button type='submit' className='primary' disabled={busy}>{submit}</button>
        </div>
      </form>
    </div>
  )
}
