import { sql, type Kysely } from 'kysely'
import type { EventSource, Projection } from './projection.ts'
import { applyBatch, applyInTransaction, CHECKPOINTS, migrate, readCheckpoint } from './runtime.ts'

export interface RebuildOptions {
  db: Kysely<any>
  /** the live schema */
  schema: string
  projection: Projection
  source: EventSource
  maxBatch?: number
  /** swap the rebuilt tables in (default); false leaves them in the rebuild schema to compare */
  swap?: boolean
  onProgress?: (done: number, total: number) => void
}

export interface RebuildResult {
  projection: string
  events: number
  seconds: number
  eventsPerSecond: number
  rebuildSchema: string
  swapped: boolean
}

export function rebuildSchemaName (schema: string, projection: Projection): string {
  return `${schema}__rb_${projection.name}`.slice(0, 63)
}

/**
 * Replays the whole log from sequence 1 into fresh tables in a side schema, then swaps them in.
 * The swap locks the live checkpoint row, so the live projector waits; whatever it had applied
 * beyond the rebuild is replayed into the new tables inside the same transaction, so no event is
 * lost or applied twice across the swap.
 */
export async function rebuild (opts: RebuildOptions): Promise<RebuildResult> {
  const { db, schema, projection, source } = opts
  const maxBatch = opts.maxBatch ?? 2000
  const tmp = rebuildSchemaName(schema, projection)
  const started = performance.now()
  await sql`DROP SCHEMA IF EXISTS ${sql.id(tmp)} CASCADE`.execute(db)
  await sql`CREATE SCHEMA ${sql.id(tmp)}`.execute(db)
  await migrate(db, tmp, projection)
  await migrate(db, schema, projection)

  const target = await source.lastSeq()
  let done = 0
  for await (const batch of source.readBatches({ fromSeq: 1, toSeq: target, maxBatch })) {
    await applyBatch(db, tmp, projection, batch)
    done += batch.length
    opts.onProgress?.(done, target)
  }

  const swap = opts.swap ?? true
  if (swap) {
    done += await db.transaction().execute(async trx => {
      const live = trx.withSchema(schema)
      await live.insertInto(CHECKPOINTS).values({ projection: projection.name, seq: 0 })
        .onConflict(oc => oc.column('projection').doNothing()).execute()
      const { seq: liveSeq } = await live.selectFrom(CHECKPOINTS).select('seq')
        .where('projection', '=', projection.name).forUpdate().executeTakeFirstOrThrow()
      let rebuilt = await readCheckpoint(trx, tmp, projection.name)
      let extra = 0
      if (liveSeq > rebuilt) {
        for await (const batch of source.readBatches({ fromSeq: rebuilt + 1, toSeq: liveSeq, maxBatch })) {
          rebuilt = await applyInTransaction(trx, tmp, projection, batch)
          extra += batch.length
        }
      }
      for (const table of projection.tables) {
        await sql`DROP TABLE IF EXISTS ${sql.id(schema, table)} CASCADE`.execute(trx)
        await sql`ALTER TABLE ${sql.id(tmp, table)} SET SCHEMA ${sql.id(schema)}`.execute(trx)
      }
      await live.updateTable(CHECKPOINTS).set({ seq: Math.max(liveSeq, rebuilt), updated_at: sql`now()` })
        .where('projection', '=', projection.name).execute()
      return extra
    })
    await sql`DROP SCHEMA IF EXISTS ${sql.id(tmp)} CASCADE`.execute(db)
  }
  const seconds = (performance.now() - started) / 1000
  return { projection: projection.name, events: done, seconds, eventsPerSecond: done / seconds, rebuildSchema: tmp, swapped: swap }
}

/** Rows that differ between the same table in two schemas (0 = equal, duplicates counted). */
export async function tableDifference (db: Kysely<any>, schemaA: string, schemaB: string, table: string): Promise<number> {
  const a = sql.id(schemaA, table)
  const b = sql.id(schemaB, table)
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM (
      (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b})
      UNION ALL
      (SELECT * FROM ${b} EXCEPT ALL SELECT * FROM ${a})
    ) d`.execute(db)
  return rows[0].n
}
