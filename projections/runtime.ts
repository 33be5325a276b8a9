import { Migrator, sql, type Kysely } from 'kysely'
import type { RecordedEvent } from '../domain/envelope.ts'
import type { EventSource, Projection } from './projection.ts'

export const CHECKPOINTS = 'checkpoints'

/** Creates the projection's tables and the checkpoint table in `schema`. */
export async function migrate (db: Kysely<any>, schema: string, projection: Projection): Promise<void> {
  const scoped = db.withSchema(schema)
  await scoped.schema.createTable(CHECKPOINTS).ifNotExists()
    .addColumn('projection', 'text', c => c.primaryKey())
    .addColumn('seq', 'bigint', c => c.notNull())
    .addColumn('updated_at', 'timestamptz', c => c.notNull().defaultTo(sql`now()`))
    .execute().catch(ignoreConcurrentCreate)
  // Already at the latest migration (every start but the first): skip kysely's migrator, which
  // takes a database-wide lock and scans every schema.
  const applied = await sql<{ name: string }>`SELECT name FROM ${sql.id(schema, `migrations_${projection.name}`)}`.execute(db)
    .then(r => new Set(r.rows.map(x => x.name)), () => new Set<string>())
  if (Object.keys(projection.migrations).every(name => applied.has(name))) return
  const migrator = new Migrator({
    db: scoped,
    migrationTableSchema: schema,
    migrationTableName: `migrations_${projection.name}`,
    migrationLockTableName: `migrations_${projection.name}_lock`,
    provider: { getMigrations: async () => projection.migrations }
  })
  // kysely's migrator introspects every schema of the database: a schema, table or column that
  // anyone drops meanwhile (a rebuild's side schema, another namespace) fails that scan, so try
  // again; for a while rather than a few times, as other installations may be dropping schemas
  // all along
  const giveUpAt = Date.now() + 20_000
  for (let attempt = 1; ; attempt++) {
    const { error } = await migrator.migrateToLatest()
    if (error == null) return
    const code = (error as any)?.code
    if ((attempt >= 10 && Date.now() > giveUpAt) || !DROPPED_MEANWHILE.has(code)) throw error
    await new Promise(resolve => setTimeout(resolve, Math.min(10 * attempt, 100) + Math.random() * 20))
  }
}

/** What the migrator's scan of every schema meets when something is dropped during it. */
const DROPPED_MEANWHILE = new Set([
  '3F000', // invalid_schema_name
  '42P01', // undefined_table
  '42703', // undefined_column (pg_get_serial_sequence on a column of a table being dropped)
  '42704' // undefined_object
])

function ignoreConcurrentCreate (err: any): void {
  if (err?.code !== '23505' && err?.code !== '42P07') throw err
}

export async function readCheckpoint (db: Kysely<any>, schema: string, name: string): Promise<number> {
  const row = await db.withSchema(schema).selectFrom(CHECKPOINTS).select('seq').where('projection', '=', name).executeTakeFirst()
  return row?.seq ?? 0
}

/**
 * Applies a batch and moves the checkpoint in one transaction. The checkpoint row is locked first,
 * so events at or below it (a redelivery, a second projector, a rebuild swap) change nothing.
 * Returns the new checkpoint.
 */
export async function applyBatch (db: Kysely<any>, schema: string, projection: Projection, events: RecordedEvent[]): Promise<number> {
  return await db.transaction().execute(async trx => await applyInTransaction(trx, schema, projection, events))
}

export async function applyInTransaction (trx: Kysely<any>, schema: string, projection: Projection, events: RecordedEvent[]): Promise<number> {
  const scoped = trx.withSchema(schema)
  // one round trip: create the row if missing and lock it (an upsert locks the row it touches)
  const { seq: checkpoint } = await scoped.insertInto(CHECKPOINTS).values({ projection: projection.name, seq: 0 })
    .onConflict(oc => oc.column('projection').doUpdateSet({ projection: sql`excluded.projection` }))
    .returning('seq').executeTakeFirstOrThrow()
  const fresh = events.filter(e => e.seq > checkpoint)
  if (fresh.length === 0) return checkpoint
  await projection.apply(scoped, fresh)
  const seq = fresh[fresh.length - 1].seq
  await scoped.updateTable(CHECKPOINTS).set({ seq, updated_at: sql`now()` }).where('projection', '=', projection.name).execute()
  return seq
}

export interface ProjectorOptions {
  db: Kysely<any>
  schema: string
  projection: Projection
  source: EventSource
  maxBatch?: number
  onCheckpoint?: (name: string, seq: number) => void
  log?: (level: 'info' | 'warn' | 'error', msg: string, extra?: object) => void
}

/**
 * Runs one projection live: from its checkpoint, forever, batch by batch. Any failure (Postgres or
 * NATS gone) restarts it from the checkpoint after a pause; that is also how it catches up after
 * downtime. Call `run` only while holding the projection's lease.
 */
export async function runProjector (opts: ProjectorOptions, signal: AbortSignal): Promise<void> {
  const { db, schema, projection, source, log = () => {} } = opts
  let migrated = false
  let delay = 100
  while (!signal.aborted) {
    const reading = new AbortController()
    const stopReading = (): void => reading.abort()
    signal.addEventListener('abort', stopReading, { once: true })
    try {
      if (!migrated) { await migrate(db, schema, projection); migrated = true }
      let checkpoint = await readCheckpoint(db, schema, projection.name)
      opts.onCheckpoint?.(projection.name, checkpoint)
      log('info', `projector ${projection.name} running from seq ${checkpoint + 1}`)
      const batches = source.readBatches({ fromSeq: checkpoint + 1, maxBatch: opts.maxBatch ?? 500, signal: reading.signal })[Symbol.asyncIterator]()
      // a read that fails while a batch is being written is reported when its turn comes, not as
      // an unhandled rejection in the meantime
      const ahead = (): Promise<IteratorResult<RecordedEvent[]>> => { const p = batches.next(); p.catch(() => {}); return p }
      let next = ahead()
      try {
        for (;;) {
          const r = await next
          if (r.done === true) break
          // read and decode the next batch while Postgres writes this one
          next = ahead()
          checkpoint = await applyBatch(db, schema, projection, r.value)
          opts.onCheckpoint?.(projection.name, checkpoint)
          delay = 100
        }
      } finally {
        // the read ahead ends once its read is stopped
        reading.abort()
        await next.catch(() => {})
      }
    } catch (err: any) {
      if (signal.aborted) break
      log('warn', `projector ${projection.name} stopped: ${err?.message ?? err}; restarting from its checkpoint in ${delay} ms`)
      await new Promise(resolve => setTimeout(resolve, delay))
      delay = Math.min(delay * 2, 5_000)
    } finally {
      signal.removeEventListener('abort', stopReading)
    }
  }
}
