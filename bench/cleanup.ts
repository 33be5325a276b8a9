import pg from 'pg'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { defaultPgUser } from '../src/config.ts'

/**
 * Removes every stream named `<ns>` / `<ns>_...` (and KV bucket `<ns>_...`, stream `KV_<ns>_...`)
 * and every schema named `<ns>` / `<ns>_...`.
 * Uses its own Postgres connection and first ends this run's other backends (recognised by
 * application_name), so an interrupted transaction's locks cannot block the DROP.
 */
export async function cleanupNamespace (namespace: string, nc: NatsConnection | null, databaseUrl: string, appName: string): Promise<string[]> {
  const removed: string[] = []
  if (nc != null && !nc.isClosed()) {
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 })
      const names: string[] = []
      for await (const s of jsm.streams.names()) names.push(s)
      // KV buckets of nodes started in a (sub-)namespace are streams `KV_<ns>_...`
      const ours = (n: string): boolean => n === namespace || n.startsWith(namespace + '_') || n.startsWith(`KV_${namespace}_`)
      for (const name of names.filter(ours)) {
        await jsm.streams.delete(name).then(() => removed.push(`stream ${name}`), () => {})
      }
    } catch {}
  }
  const u = new URL(databaseUrl)
  const client = new pg.Client({
    host: decodeURIComponent(u.hostname) || '127.0.0.1',
    port: Number(u.port || 5432),
    user: u.username !== '' ? decodeURIComponent(u.username) : defaultPgUser(),
    password: u.password !== '' ? decodeURIComponent(u.password) : process.env.PGPASSWORD,
    database: decodeURIComponent(u.pathname.slice(1)) || 'dimensigon',
    application_name: `${appName}-cleanup`,
    connectionTimeoutMillis: 3_000
  })
  try {
    await client.connect()
    await client.query("SET lock_timeout = '3s'")
    const { rows } = await client.query<{ nspname: string }>(
      "SELECT nspname FROM pg_namespace WHERE nspname = $1 OR nspname LIKE $2 ORDER BY nspname DESC",
      [namespace, namespace.replace(/_/g, '\\_') + '\\_%'])
    for (const { nspname } of rows) {
      for (let attempt = 0; ; attempt++) {
        try {
          await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid() AND state <> $2', [appName, 'idle'])
          await client.query(`DROP SCHEMA IF EXISTS "${nspname.replace(/"/g, '""')}" CASCADE`)
          removed.push(`schema ${nspname}`)
          break
        } catch (err) {
          if (attempt >= 4) throw err
        }
      }
    }
  } finally {
    await client.end().catch(() => {})
  }
  return removed
}
