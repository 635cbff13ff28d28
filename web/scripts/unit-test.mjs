// unit-test.mjs - runs the web app's unit tests (test/*.test.ts) with node --test: esbuild (the
// one Vite uses) bundles each test with its imports into build/ first, since Node.js 20 cannot
// run TypeScript itself.
import { build } from 'esbuild'
import { spawnSync } from 'node:child_process'
import { readdirSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(web, 'node_modules/.unit-tests')
rmSync(out, { recursive: true, force: true })
const tests = readdirSync(join(web, 'test')).filter(f => f.endsWith('.test.ts'))
await build({
  entryPoints: tests.map(f => join(web, 'test', f)),
  outdir: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  outExtension: { '.js': '.mjs' },
  packages: 'external',
  logLevel: 'warning'
})
const files = tests.map(f => join(out, f.replace(/\.ts$/, '.mjs')))
const r = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit', cwd: web })
process.exit(r.status ?? 1)
