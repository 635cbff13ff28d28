// tree.ts - the folder tree of a vault, built from its notes' paths ("/Projects/Q1/Plan.md")
// plus the empty folders made on this device (vaultd has no folder objects: a folder is the
// prefix of its notes' paths).
import type { NoteMeta } from './api'

export interface Folder { path: string, name: string, folders: Folder[], notes: NoteMeta[] }

export const dirOf = (path: string): string => path.slice(0, path.lastIndexOf('/'))
export const baseOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1)
export const join = (dir: string, name: string): string => `${dir}/${name}`

export function buildTree (notes: NoteMeta[], extraFolders: string[]): Folder {
  const root: Folder = { path: '', name: '', folders: [], notes: [] }
  const folder = (path: string): Folder => {
    if (path === '') return root
    const parent = folder(dirOf(path))
    let f = parent.folders.find(x => x.path === path)
    if (f === undefined) {
      f = { path, name: baseOf(path), folders: [], notes: [] }
      parent.folders.push(f)
    }
    return f
  }
  for (const p of extraFolders) folder(p)
  for (const n of notes) folder(dirOf(n.path)).notes.push(n)
  const sort = (f: Folder): void => {
    f.folders.sort((a, b) => a.name.localeCompare(b.name))
    f.notes.sort((a, b) => baseOf(a.path).localeCompare(baseOf(b.path)))
    f.folders.forEach(sort)
  }
  sort(root)
  return root
}

export function allFolders (f: Folder, out: string[] = []): string[] {
  out.push(f.path)
  f.folders.forEach(x => allFolders(x, out))
  return out
}

/** A note's file name: ".md" is added when the name has no extension. */
export function noteFileName (name: string): string {
  const n = name.trim()
  return /\.[A-Za-z0-9]+$/.test(n) ? n : `${n}.md`
}
