// pg.mjs - a throwaway PostgreSQL for Node tests (scripts/pg-test.sh, never a mock): one
// server per test file, a fresh database per vaultd, everything stopped and deleted at the end.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './vaultd.mjs'

const script = join(repoRoot, 'scripts/pg-test.sh')

export class TestPostgres {
  /** Starts a server (a few seconds: initdb). Needs the Debian package postgresql. */
  static start () {
    const state = mkdtempSync(join(tmpdir(), 'vn-pg-state-'))
    const url = execFileSync(script, ['start', state], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
    return new TestPostgres(url, state)
  }

  constructor (url, state) {
    this.url = url // postgresql://postgres@127.0.0.1:PORT/postgres
    this.state = state // where pg-test.sh recorded the cluster
    this.count = 0
  }

  /** A new empty database on the server; returns its URL. */
  database () {
    const name = `vn_interop_${process.pid}_${++this.count}`
    execFileSync('psql', [this.url, '-qc', `CREATE DATABASE ${name}`], { stdio: ['ignore', 'ignore', 'inherit'] })
    return this.url.replace(/\/postgres$/, `/${name}`)
  }

  stop () {
    execFileSync(script, ['stop', this.state], { stdio: 'inherit' })
    rmSync(this.state, { recursive: true, force: true })
  }
}
