// pg.mjs - a throwaway PostgreSQL for Node tests (scripts/pg-test.sh, never a mock): start
// one server per test file, a fresh database per vaultd, stop and delete it all at the end.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { repoRoot } from './vaultd.mjs'

const script = join(repoRoot, 'scripts/pg-test.sh')

export class TestPostgres {
  static start () {
    const url = execFileSync(script, ['start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
    return new TestPostgres(url)
  }

  constructor (url) {
    this.url = url // postgresql://postgres@127.0.0.1:PORT/postgres
    this.dir = null
    this.count = 0
  }

  /** A new empty database on the server; returns its URL. */
  database () {
    const name = `vn_interop_${process.pid}_${++this.count}`
    execFileSync('psql', [this.url, '-qc', `CREATE DATABASE ${name}`], { stdio: ['ignore', 'ignore', 'inherit'] })
    return this.url.replace(/\/postgres$/, `/${name}`)
  }

  stop () {
    const port = /:(\d+)\//.exec(this.url)[1]
    // the cluster directory is where pg-test.sh wrote `url`; find it by the port
    const dir = execFileSync('bash', ['-c', `grep -l ":${port}/" \${VN_PG_TMPDIR:-/tmp}/vn-pg.*/url | head -1 | xargs dirname`], { encoding: 'utf8' }).trim()
    if (dir) execFileSync(script, ['stop', dir], { stdio: 'inherit' })
  }
}
