// A node's HTTP API with the vault routes, built like src/node.ts builds it but here, so the vault
// can be tested before (and after) the node wires it in: fresh namespace, real NATS and Postgres,
// every projector running in-process, app not listening (tests use inject).
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { sql } from 'kysely'
import type { FastifyInstance } from 'fastify'
import { loadConfig, type Config } from '../../src/config.ts'
import { connectNats } from '../../src/nats.ts'
import { EventStore } from '../../src/event-store.ts'
import { openDatabase, type Database } from '../../src/db.ts'
import { Health } from '../../src/health.ts'
import { ProjectionWatcher } from '../../src/read-your-writes.ts'
import { Tokens } from '../../src/auth/tokens.ts'
import { Revocations } from '../../src/auth/revocations.ts'
import { ensureBootstrapKey } from '../../src/auth/bootstrap.ts'
import { buildApp } from '../../src/http/app.ts'
import type { AppDeps } from '../../src/http/context.ts'
import { vaultRoutes } from '../../src/http/routes/vault.ts'
import { Vault } from '../../src/vault/crypto.ts'
import { PROJECTIONS, type Projection } from '../../projections/index.ts'
import { vaultProjection } from '../../projections/vault.ts'
import { migrate, runProjector } from '../../projections/runtime.ts'
import type { NatsConnection } from '@nats-io/transport-node'
import { DATABASE_URL, NATS_URL, dropNamespace, freshNamespace } from '../helpers/services.ts'

export const ADMIN_SECRET = 'test-bootstrap-secret'

export interface VaultApp {
  app: FastifyInstance
  namespace: string
  config: Config
  nc: NatsConnection
  store: EventStore
  database: Database
  vault: Vault
  masterKey: string
  /** every line the app logged (level trace), to prove no value reaches a log */
  logs: string[]
  adminToken: string
  tokenWith: (scopes: string[]) => Promise<string>
  request: (opts: { method: string, url: string, body?: unknown, token?: string | null }) => Promise<{ statusCode: number, headers: Record<string, any>, json: () => any, body: string }>
  teardown: () => Promise<void>
}

export async function startVaultApp (): Promise<VaultApp> {
  const namespace = freshNamespace()
  const masterKey = randomBytes(32).toString('base64')
  const config = loadConfig({
    DM_NAMESPACE: namespace,
    NATS_URL,
    DATABASE_URL,
    DM_ROLES: 'api,projector',
    DM_BOOTSTRAP_API_KEY: ADMIN_SECRET,
    DM_JWT_SECRET: 'test-jwt-secret-' + namespace,
    DM_VAULT_KEY: masterKey,
    DM_PORT: '0',
    DM_HOST: '127.0.0.1'
  })
  const logs: string[] = []
  const log = pino({ level: 'trace' }, new Writable({ write (chunk, _enc, done) { logs.push(String(chunk)); done() } }))

  const nc = await connectNats(config.natsServers, `test-vault-${namespace}`)
  const store = await EventStore.open(nc, namespace)
  const database = await openDatabase(config.databaseUrl, namespace)
  const { db, schema } = database
  // the vault projection once, whether or not projections/index.ts lists it yet
  const projections: Projection[] = [...PROJECTIONS, vaultProjection].filter((p, i, all) => all.findIndex(q => q.name === p.name) === i)
  for (const p of projections) await migrate(db, schema, p)
  const watcher = new ProjectionWatcher(db, schema, projections.map(p => p.name))
  const stop = new AbortController()
  const running = projections.map(async projection => await runProjector({
    db, schema, projection, source: store, onCheckpoint: (name, seq) => watcher.advance(name, seq)
  }, stop.signal))
  const health = new Health(nc, db)
  health.start()
  const revocations = new Revocations(store)
  revocations.start()
  await ensureBootstrapKey(store, ADMIN_SECRET)
  const tokens = new Tokens(config.jwtSecret!, config.tokenTtlSeconds)
  const vault = await Vault.open(nc, namespace, masterKey)

  const deps: AppDeps & { vault: Vault } = { config, store, db, schema, tokens, revocations, watcher, health, logger: log, vault }
  const app = await buildApp(deps)
  if (!app.hasRoute({ method: 'GET', url: '/api/v1.0/vault/:name' })) await app.register(vaultRoutes(deps), { prefix: '/api/v1.0/vault' })
  await app.ready()

  const request: VaultApp['request'] = async ({ method, url, body, token }) => {
    const auth = token === null ? {} : { authorization: `Bearer ${token ?? adminToken}` }
    const res = await app.inject({
      method: method as any,
      url,
      headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    })
    return { statusCode: res.statusCode, headers: res.headers, json: () => res.json(), body: res.body }
  }
  const exchange = async (secret: string): Promise<string> => {
    const res = await request({ method: 'POST', url: '/api/v1.0/auth/token', body: { api_key: secret }, token: null })
    if (res.statusCode !== 200) throw new Error(`token exchange failed: ${res.statusCode} ${res.body}`)
    return res.json().access_token
  }
  for (let i = 0; i < 200 && !revocations.ready; i++) await new Promise(resolve => setTimeout(resolve, 25))
  let adminToken = ''
  adminToken = await exchange(ADMIN_SECRET)
  const tokenWith = async (scopes: string[]): Promise<string> => {
    const res = await request({ method: 'POST', url: '/api/v1.0/api-keys', body: { name: 'test', scopes } })
    if (res.statusCode !== 201) throw new Error(`key creation failed: ${res.statusCode} ${res.body}`)
    return await exchange(res.json().api_key)
  }

  return {
    app,
    namespace,
    config,
    nc,
    store,
    database,
    vault,
    masterKey,
    logs,
    adminToken,
    tokenWith,
    request,
    teardown: async () => {
      stop.abort()
      await app.close()
      revocations.close()
      health.stop()
      await Promise.allSettled(running)
      await dropNamespace(namespace, nc, database)
    }
  }
}

/** Every message of a stream, raw bytes (subject and data), read one by one by sequence. */
export async function rawMessages (store: EventStore, stream: string): Promise<Array<{ seq: number, subject: string, data: Buffer }>> {
  const info = await store.jsm.streams.info(stream)
  const out: Array<{ seq: number, subject: string, data: Buffer }> = []
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await store.jsm.streams.getMessage(stream, { seq }).catch(() => null)
    if (m != null) out.push({ seq, subject: m.subject, data: Buffer.from(m.data) })
  }
  return out
}

/** Every row of every table of the namespace's Postgres schemas, as JSON text per table. */
export async function dumpTables (database: Database, namespace: string): Promise<Record<string, string>> {
  const { rows: tables } = await sql<{ table_schema: string, table_name: string }>`
    SELECT table_schema, table_name FROM information_schema.tables
    WHERE table_schema = ${namespace} OR table_schema LIKE ${namespace + '\\_\\_%'}`.execute(database.db)
  const out: Record<string, string> = {}
  for (const { table_schema: s, table_name: t } of tables) {
    const { rows } = await sql`SELECT * FROM ${sql.id(s, t)}`.execute(database.db)
    out[`${s}.${t}`] = JSON.stringify(rows)
  }
  return out
}

/** The ways a value could leak in bytes: as text, as JSON-escaped text, as base64 and hex of it. */
export function leakForms (value: string): string[] {
  const b = Buffer.from(value, 'utf8')
  return [value, JSON.stringify(value).slice(1, -1), b.toString('base64'), b.toString('base64url'), b.toString('hex')]
}
