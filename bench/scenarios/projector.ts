import { sql } from 'kysely'
import type { RecordedEvent } from '../../domain/envelope.ts'
import { EventStore } from '../../src/event-store.ts'
import { auditProjection, auditRow } from '../../projections/audit.ts'
import { migrate, runProjector } from '../../projections/runtime.ts'
import type { EventSource, Projection } from '../../projections/projection.ts'
import { type BenchContext, sub, fmtInt, aborted } from '../context.ts'
import { workerPool } from '../pool.ts'
import { appendMeta, orchestrationRef, versionCreated } from '../payload.ts'
import type { Row } from '../report.ts'

const BATCH = 500

export interface ProjectorFigures {
  row: Row
  rawInsert: { rowsPerSecond: number, seconds: number, transactions: number }
  projector: {
    eventsPerSecond: number
    seconds: number
    batches: number
    meanBatch: number
    /** where the projector's wall time went (seconds) */
    breakdown: { waitingForNats: number, projectionApply: number, transactionOverhead: number }
    restarts: number
  }
}

/**
 * (b) The live projector (runProjector, audit projection, maxBatch 500) over N pre-appended
 * events, timed from its start until its checkpoint reaches the last seq, against plain-pg
 * multi-row inserts of the same audit rows into an identical fresh table, 500 rows a transaction.
 * The projector is observed from outside (its source and projection wrapped with timers), not
 * changed.
 */
export async function projectorScenario (ctx: BenchContext, events: number, concurrency: number): Promise<ProjectorFigures> {
  const peak = ctx.rss.phase()
  const { db, pool } = ctx.database

  // the log: N appends through the event store, untimed
  const store = await EventStore.open(ctx.nc, sub(ctx, 'b'))
  ctx.progress(`(b) pre-appending ${fmtInt(events)} events (${concurrency} in flight)`)
  await workerPool(events, concurrency, async i => {
    const ref = orchestrationRef(i)
    await store.append(ref, { version: 0, lastSeq: 0 }, [versionCreated(ref)], appendMeta(i))
  }, { signal: ctx.signal, onProgress: done => ctx.progress(`(b) pre-append ${fmtInt(done)}/${fmtInt(events)}`) })
  aborted(ctx.signal)
  const lastSeq = await store.lastSeq()

  // the same rows, read back once (untimed) for the raw baseline
  const recorded: RecordedEvent[] = []
  for await (const batch of store.readBatches({ fromSeq: 1, toSeq: lastSeq, maxBatch: 2_000, signal: ctx.signal })) recorded.push(...batch)
  aborted(ctx.signal)
  const rows = recorded.map(auditRow)

  // raw: identical fresh table (same migration), plain pg, 500-row INSERTs, one transaction each
  const rawSchema = sub(ctx, 'braw')
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(rawSchema)}`.execute(db)
  await migrate(db, rawSchema, auditProjection)
  const columns = Object.keys(rows[0])
  const table = `"${rawSchema}"."audit_events"`
  const insertSql = (n: number): string => {
    const values: string[] = []
    for (let r = 0; r < n; r++) values.push('(' + columns.map((_, c) => `$${r * columns.length + c + 1}`).join(',') + ')')
    return `INSERT INTO ${table} (${columns.map(c => `"${c}"`).join(',')}) VALUES ${values.join(',')}`
  }
  const fullBatchSql = insertSql(BATCH)
  ctx.progress(`(b) raw pg: ${fmtInt(rows.length)} rows, ${BATCH} per transaction`)
  const client = await pool.connect()
  let transactions = 0
  let t0 = performance.now()
  try {
    for (let i = 0; i < rows.length; i += BATCH) {
      aborted(ctx.signal)
      const chunk = rows.slice(i, i + BATCH)
      const params: unknown[] = []
      for (const row of chunk) for (const c of columns) params.push(row[c])
      await client.query('BEGIN')
      await client.query(chunk.length === BATCH ? fullBatchSql : insertSql(chunk.length), params)
      await client.query('COMMIT')
      transactions++
    }
  } finally {
    client.release()
  }
  const rawSeconds = (performance.now() - t0) / 1000

  // the projector, instrumented from outside
  const schema = sub(ctx, 'b')
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db)
  await migrate(db, schema, auditProjection) // untimed, as for the raw table; runProjector finds it done
  let waitingForNats = 0
  let projectionApply = 0
  let batches = 0
  const source: EventSource = {
    lastSeq: async () => await store.lastSeq(),
    readBatches: async function * (opts) {
      const it = store.readBatches(opts)[Symbol.asyncIterator]()
      try {
        while (true) {
          const t = performance.now()
          const next = await it.next()
          waitingForNats += performance.now() - t
          if (next.done === true) return
          batches++
          yield next.value
        }
      } finally {
        await it.return?.(undefined)
      }
    }
  }
  const projection: Projection = {
    ...auditProjection,
    apply: async (trx, batch) => {
      const t = performance.now()
      await auditProjection.apply(trx, batch)
      projectionApply += performance.now() - t
    }
  }
  const stop = new AbortController()
  const onOuterAbort = (): void => stop.abort()
  ctx.signal.addEventListener('abort', onOuterAbort)
  let restarts = 0
  let reachedAt = 0
  let lastReport = 0
  ctx.progress(`(b) projector: audit projection, maxBatch ${BATCH}, up to seq ${fmtInt(lastSeq)}`)
  t0 = performance.now()
  try {
    await runProjector({
      db,
      schema,
      projection,
      source,
      maxBatch: BATCH,
      onCheckpoint: (_name, seq) => {
        if (seq - lastReport >= lastSeq / 10) { lastReport = seq; ctx.progress(`(b) projector checkpoint ${fmtInt(seq)}/${fmtInt(lastSeq)}`) }
        if (seq >= lastSeq && reachedAt === 0) { reachedAt = performance.now(); stop.abort() }
      },
      log: (level, msg) => { if (level !== 'info') { restarts++; ctx.progress(`(b) projector ${level}: ${msg}`) } }
    }, stop.signal)
  } finally {
    ctx.signal.removeEventListener('abort', onOuterAbort)
  }
  aborted(ctx.signal)
  const seconds = (reachedAt - t0) / 1000
  const waiting = waitingForNats / 1000
  const applying = projectionApply / 1000

  const ours = events / seconds
  const limit = rows.length / rawSeconds
  return {
    row: {
      id: 'b',
      scenario: `(b) projector (audit, maxBatch ${BATCH}), ${fmtInt(events)} events`,
      unit: 'events/s',
      ours,
      limit,
      limitLabel: `raw pg INSERT ${BATCH} rows/tx`,
      ratio: ours / limit,
      goal: 0.5,
      peakRssBytes: peak(),
      seconds
    },
    rawInsert: { rowsPerSecond: limit, seconds: rawSeconds, transactions },
    projector: {
      eventsPerSecond: ours,
      seconds,
      batches,
      meanBatch: events / Math.max(1, batches),
      breakdown: { waitingForNats: waiting, projectionApply: applying, transactionOverhead: Math.max(0, seconds - waiting - applying) },
      restarts
    }
  }
}
