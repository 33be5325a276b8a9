import pg from 'pg'
import { Kysely, PostgresDialect, sql } from 'kysely'
import { defaultPgUser } from './config.ts'

export interface Database {
  pool: pg.Pool
  /** unscoped: qualify names or use `.withSchema(schema)` */
  db: Kysely<any>
  schema: string
  close: () => Promise<void>
}

// int8 (seq columns, counts) as numbers: every value we store fits in 2^53.
const types = {
  getTypeParser: (oid: number, format?: any) =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)
}

function clientConfig (url: string, database?: string): pg.PoolConfig {
  const u = new URL(url)
  return {
    host: decodeURIComponent(u.hostname) || '127.0.0.1',
    port: Number(u.port || 5432),
    user: u.username !== '' ? decodeURIComponent(u.username) : defaultPgUser(),
    password: u.password !== '' ? decodeURIComponent(u.password) : process.env.PGPASSWORD,
    database: database ?? (decodeURIComponent(u.pathname.slice(1)) || 'dimensigon'),
    connectionTimeoutMillis: 3_000,
    types
  }
}

/** Creates the database when it does not exist yet, as the contract promises for DATABASE_URL. */
async function ensureDatabase (url: string): Promise<void> {
  const config = clientConfig(url)
  const probe = new pg.Client(config)
  try {
    await probe.connect()
    return
  } catch (err: any) {
    if (err?.code !== '3D000') throw err // anything but "database does not exist"
  } finally {
    await probe.end().catch(() => {})
  }
  const admin = new pg.Client({ ...config, database: 'postgres' })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${config.database!.replace(/"/g, '""')}"`)
  } catch (err: any) {
    if (err?.code !== '42P04') throw err // created by another node meanwhile
  } finally {
    await admin.end()
  }
}

export async function openDatabase (url: string, schema: string, opts: { max?: number } = {}): Promise<Database> {
  await ensureDatabase(url)
  const pool = new pg.Pool({ ...clientConfig(url), max: opts.max ?? 10 })
  // an idle client losing its connection (Postgres restarted) must not crash the process
  pool.on('error', () => {})
  // nor a checked-out one: pg emits 'error' on the client as well as failing its query, and the
  // pool only listens while the client is idle. The query's own error still reaches the caller
  // (→ 503), and the pool discards the broken client when it is released.
  pool.on('connect', client => { client.on('error', () => {}) })
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) })
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db).catch(async err => {
    if (err?.code !== '23505' && err?.code !== '42P06') throw err // concurrent create
  })
  return { pool, db, schema, close: async () => { await db.destroy() } }
}

/** Errors that mean "Postgres is unreachable right now" (answer 503), as opposed to a bad query. */
export function isPgUnavailable (err: any): boolean {
  const code: string | undefined = err?.code
  if (typeof code === 'string' && (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300')) return true
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code ?? '')) return true
  const msg = String(err?.message ?? '')
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed/i.test(msg)
}
