import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../../src/nats.ts'
import { EventStore } from '../../src/event-store.ts'
import { openDatabase, type Database } from '../../src/db.ts'

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/dimensigon_test'

/** A fresh namespace: its own stream, KV buckets and Postgres schema, so test files never meet. */
export function freshNamespace (): string {
  return 't_' + randomBytes(5).toString('hex')
}

export interface Services {
  namespace: string
  nc: NatsConnection
  store: EventStore
  database: Database
  /** removes the namespace's stream, buckets and schemas, and closes connections */
  teardown: () => Promise<void>
}

export async function openServices (namespace = freshNamespace()): Promise<Services> {
  const nc = await connectNats([NATS_URL], `test-${namespace}`)
  const store = await EventStore.open(nc, namespace)
  const database = await openDatabase(DATABASE_URL, namespace)
  return {
    namespace,
    nc,
    store,
    database,
    teardown: async () => await dropNamespace(namespace, nc, database)
  }
}

export async function dropNamespace (namespace: string, nc: NatsConnection, database: Database): Promise<void> {
  const store = await EventStore.open(nc, namespace).catch(() => null)
  if (store != null) {
    const names: string[] = []
    for await (const s of store.jsm.streams.names()) names.push(s)
    // every stream of the namespace: events, tasks, and the KV buckets
    for (const name of names.filter(n => n.startsWith(`${namespace}_`) || n.startsWith(`KV_${namespace}_`))) {
      await store.jsm.streams.delete(name).catch(() => {})
    }
  }
  const { rows } = await sql<{ nspname: string }>`SELECT nspname FROM pg_namespace WHERE nspname = ${namespace} OR nspname LIKE ${namespace + '\\_\\_%'}`.execute(database.db)
  for (const { nspname } of rows) await sql`DROP SCHEMA IF EXISTS ${sql.id(nspname)} CASCADE`.execute(database.db)
  await database.close()
  await nc.drain().catch(() => {})
}
