// Editor.tsx - one note: CodeMirror 6 bound to the note's Y.Text (y-codemirror.next: remote
// cursors and names from awareness, undo of one's own edits only), a live Markdown preview
// (markdown-it, sanitised by DOMPurify), the sync status in words, and the note's history.
import { useEffect, useRef, useState } from 'react'
import * as Y from 'yjs'
import { EditorState } from '@codemirror/state'
import {
  EditorView, keymap, drawSelection, dropCursor, highlightActiveLine, highlightSpecialChars,
  placeholder
} from '@codemirror/view'
import { defaultKeymap, indentWithTab } from '@codemirror/commands'
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language'
import { markdown } from '@codemirror/lang-markdown'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import MarkdownIt from 'markdown-it'
import DOMPurify from 'dompurify'
import { NoteSession, type Collaborator, type SyncStatus } from './sync'
import { History } from './History'
import { isLocalId } from './local'

const md = new MarkdownIt({ html: true, linkify: true, typographer: false })

// Links in a note open in a new tab, and the page they open gets no handle on this one.
DOMPurify.addHook('afterSanitizeAttributes', node => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank')
    node.setAttribute('rel', 'noopener noreferrer')
  }
})

/** Markdown to HTML that is safe to insert: DOMPurify removes scripts, handlers and the like. */
export function renderMarkdown (text: string): string {
  return DOMPurify.sanitize(md.render(text), { ADD_ATTR: ['target'] })
}

const statusText: Record<SyncStatus, string> = {
  loading: 'opening…',
  offline: 'offline: changes kept on this device',
  connecting: 'connecting…',
  saving: 'saving…',
  saved: 'saved on server',
  local: 'offline: changes kept on this device (the note is created on the server when you are back)',
  gone: 'this note is no longer available'
}

export function Editor ({ noteId, readOnly, user, onPeers }: {
  noteId: string
  readOnly: boolean
  user: Collaborator
  onPeers?: (names: string[]) => void
}) {
  const host = useRef<HTMLDivElement>(null)
  const [status, setStatus] = useState<SyncStatus>('loading')
  const [html, setHtml] = useState('')
  const [peers, setPeers] = useState<string[]>([])
  const [tab, setTab] = useState<'write' | 'preview'>('write')
  const [history, setHistory] = useState(false)

  useEffect(() => {
    const s = new NoteSession(noteId, user)
    let view: EditorView | null = null
    let closed = false
    let frame = 0
    const render = (): void => setHtml(renderMarkdown(s.text.toString()))
    const onText = (): void => {
      cancelAnimationFrame(frame)
      frame = requestAnimationFrame(render)
    }
    s.text.observe(onText)
    const off = s.on(setStatus)
    void s.ready.then(() => {
      if (closed || host.current === null) return
      const awareness = s.provider?.awareness ?? null
      if (awareness !== null) {
        const names = (): void => {
          const list: string[] = []
          awareness.getStates().forEach((st, id) => {
            if (id !== awareness.clientID && st.user?.name !== undefined) list.push(String(st.user.name))
          })
          setPeers(list)
          onPeers?.(list)
        }
        awareness.on('change', names)
      }
      view = new EditorView({
        parent: host.current,
        state: EditorState.create({
          doc: s.text.toString(),
          extensions: [
            highlightSpecialChars(),
            drawSelection(),
            dropCursor(),
            indentOnInput(),
            bracketMatching(),
            highlightActiveLine(),
            syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
            keymap.of([...yUndoManagerKeymap, ...defaultKeymap, indentWithTab]),
            markdown(),
            EditorView.lineWrapping,
            placeholder(readOnly ? 'This note is empty.' : 'Write Markdown here…'),
            EditorState.readOnly.of(readOnly),
            EditorView.editable.of(!readOnly),
            EditorView.contentAttributes.of({ 'aria-label': 'Note text' }),
            yCollab(s.text, awareness, { undoManager: new Y.UndoManager(s.text) })
          ]
        })
      })
      render()
    })
    return () => {
      closed = true
      cancelAnimationFrame(frame)
      off()
      s.text.unobserve(onText)
      view?.destroy()
      s.destroy()
    }
  }, [noteId, readOnly, user.name])

  return (
    <div className='editor'>
      <div className='editor-bar'>
        <span className={`status status-${status}`} role='status' data-testid='sync-status'>{statusText[status]}</span>
        {readOnly && <span className='badge'>read only</span>}
        {peers.length > 0 && <span className='peers' data-testid='peers'>also here: {peers.join(', ')}</span>}
        {!isLocalId(noteId) && <button className='history-button' onClick={() => setHistory(true)}>History</button>}
        <span className='tabs'>
          <button className={tab === 'write' ? 'on' : ''} onClick={() => setTab('write')}>Write</button>
          <button className={tab === 'preview' ? 'on' : ''} onClick={() => setTab('preview')}>Preview</button>
        </span>
      </div>
      <div className={`panes show-${tab}`}>
        <div className='source' ref={host} data-testid='editor' />
        <article className='preview' data-testid='preview' dangerouslySetInnerHTML={{ __html: html }} />
      </div>
      {history && <History noteId={noteId} canEdit={!readOnly} onClose={() => setHistory(false)} />}
    </div>
  )
}
