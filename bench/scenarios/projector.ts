import { sql, type Kysely } from 'kysely'
import type pg from 'pg'
import type { RecordedEvent } from '../../domain/envelope.ts'
import { EventStore } from '../../src/event-store.ts'
import { AUDIT_COLUMNS, auditProjection, auditRow } from '../../projections/audit.ts'
import { migrate, runProjector } from '../../projections/runtime.ts'
import type { EventSource, Projection } from '../../projections/projection.ts'
import { type BenchContext, sub, fmtInt, aborted } from '../context.ts'
import { workerPool } from '../pool.ts'
import { appendMeta, orchestrationRef, versionCreated } from '../payload.ts'
import { alternate, median, spread } from '../stats.ts'
import type { Row } from '../report.ts'

const BATCH = 500

export interface ProjectorRound {
  /** rows/s of the plain-pg baseline */
  raw: number
  /** events/s of the projector */
  projector: number
  ratio: number
  projectorSeconds: number
  batches: number
  /** where the projector's wall time went, in seconds (measured around its source and projection) */
  breakdown: { waitingForNats: number, projectionApply: number, transactionAndCheckpoint: number }
  /** CPU seconds this Node process spent during the projector run (vs its wall time) */
  nodeCpuSeconds: number
  rawNodeCpuSeconds: number
  restarts: number
}

export interface ProjectorFigures {
  row: Row
  rounds: ProjectorRound[]
}

export type RawMode = 'values' | 'unnest' | 'json'

/**
 * Plain pg, 500 rows a transaction, on one connection, the three usual ways: `INSERT ... VALUES
 * (...),(...)` (11 parameters a row), `INSERT ... SELECT * FROM unnest($1::bigint[], ...)` (one
 * array a column), or `INSERT ... SELECT * FROM jsonb_to_recordset($1)` (the batch as one JSON
 * document). The rows are ready before the clock starts: `data` as JSON text for the first two,
 as an object for the third. The fastest is the limit.
 */
async function rawInsert (pool: pg.Pool, schema: string, rows: Array<Record<string, unknown>>, mode: RawMode, signal: AbortSignal): Promise<number> {
  const columns = Object.keys(rows[0])
  const into = `INSERT INTO "${schema}"."audit_events" (${columns.map(c => `"${c}"`).join(',')})`
  const valuesSql = (n: number): string => {
    const values: string[] = []
    for (let r = 0; r < n; r++) values.push('(' + columns.map((_, c) => `$${r * columns.length + c + 1}`).join(',') + ')')
    return `${into} VALUES ${values.join(',')}`
  }
  const fullBatchSql = valuesSql(BATCH)
  const unnestSql = `${into} SELECT * FROM unnest(${columns.map((c, i) => `$${i + 1}::${AUDIT_COLUMNS[c]}[]`).join(',')})`
  const jsonSql = `${into} SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(${columns.map(c => `"${c}" ${AUDIT_COLUMNS[c]}`).join(', ')})`
  const client = await pool.connect()
  try {
    for (let i = 0; i < rows.length; i += BATCH) {
      aborted(signal)
      const chunk = rows.slice(i, i + BATCH)
      await client.query('BEGIN')
      if (mode === 'unnest') {
        await client.query(unnestSql, columns.map(c => chunk.map(row => row[c])))
      } else if (mode === 'json') {
        await client.query(jsonSql, [JSON.stringify(chunk)])
      } else {
        const params: unknown[] = []
        for (const row of chunk) for (const c of columns) params.push(row[c])
        await client.query(chunk.length === BATCH ? fullBatchSql : valuesSql(chunk.length), params)
      }
      await client.query('COMMIT')
    }
  } finally {
    client.release()
  }
  return rows.length
}

async function freshAuditSchema (db: Kysely<any>, schema: string): Promise<void> {
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db)
  await migrate(db, schema, auditProjection)
}

/**
 * (b) The live projector (runProjector, audit projection, maxBatch 500) over N pre-appended
 * events, timed from its start until its checkpoint reaches the last seq, against plain-pg
 * inserts (VALUES, unnest or jsonb_to_recordset, the fastest) of the same audit rows (auditRow, computed beforehand) into an identical
 * fresh table, 500 rows a transaction. Both tables are created (migrated) before the clock
 * starts. The projector is observed from outside (its source and projection wrapped with
 * timers), not changed.
 */
export async function projectorScenario (ctx: BenchContext, events: number, concurrency: number, rounds: number): Promise<ProjectorFigures> {
  const peak = ctx.rss.phase()
  const { db, pool } = ctx.database

  // the log: N appends through the event store, untimed
  const store = await EventStore.open(ctx.nc, sub(ctx, 'b'))
  ctx.progress(`(b) pre-appending ${fmtInt(events)} events (${concurrency} in flight)`)
  await workerPool(events, concurrency, async i => {
    const ref = orchestrationRef(i)
    await store.append(ref, { version: 0, lastSeq: 0 }, [versionCreated(ref)], appendMeta(i))
  }, { signal: ctx.signal, progressEvery: Math.max(1, Math.floor(events / 4)), onProgress: done => ctx.progress(`(b) pre-append ${fmtInt(done)}/${fmtInt(events)}`) })
  aborted(ctx.signal)
  const lastSeq = await store.lastSeq()

  // the same rows, read back once (untimed) for the raw baseline
  const recorded: RecordedEvent[] = []
  for await (const batch of store.readBatches({ fromSeq: 1, toSeq: lastSeq, maxBatch: 2_000, signal: ctx.signal })) recorded.push(...batch)
  aborted(ctx.signal)
  const rows = recorded.map(auditRow)
  const textRows = rows.map(row => ({ ...row, data: JSON.stringify(row.data) }))
  recorded.length = 0

  const runRaw = async (r: number): Promise<{ rate: number, cpu: number }> => {
    let best = { rate: 0, cpu: 0 }
    for (const mode of ['values', 'unnest', 'json'] as const) {
      const schema = sub(ctx, `braw${r}${mode}`)
      await freshAuditSchema(db, schema)
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      const n = await rawInsert(pool, schema, mode === 'json' ? rows : textRows, mode, ctx.signal)
      const seconds = (performance.now() - t0) / 1000
      const cpu = process.cpuUsage(cpu0)
      ctx.progress(`(b) round ${r + 1} raw pg INSERT (${mode}): ${fmtInt(n / seconds)} rows/s (${seconds.toFixed(2)} s)`)
      await sql`DROP SCHEMA ${sql.id(schema)} CASCADE`.execute(db) // keep the database small between rounds
      if (n / seconds > best.rate) best = { rate: n / seconds, cpu: (cpu.user + cpu.system) / 1e6 }
    }
    return best
  }

  const runProjectorRound = async (r: number): Promise<Omit<ProjectorRound, 'raw' | 'ratio' | 'rawNodeCpuSeconds'>> => {
    const schema = sub(ctx, `b${r}`)
    await freshAuditSchema(db, schema) // runProjector migrates again: finds nothing to do
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
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    try {
      await runProjector({
        db,
        schema,
        projection,
        source,
        maxBatch: BATCH,
        onCheckpoint: (_name, seq) => {
          if (seq >= lastSeq && reachedAt === 0) { reachedAt = performance.now(); stop.abort() }
        },
        log: (level, msg) => { if (level !== 'info') { restarts++; ctx.progress(`(b) projector ${level}: ${msg}`) } }
      }, stop.signal)
    } finally {
      ctx.signal.removeEventListener('abort', onOuterAbort)
    }
    aborted(ctx.signal)
    const cpu = process.cpuUsage(cpu0)
    const seconds = (reachedAt - t0) / 1000
    const waiting = waitingForNats / 1000
    const applying = projectionApply / 1000
    ctx.progress(`(b) round ${r + 1} projector: ${fmtInt(events / seconds)} events/s (${seconds.toFixed(2)} s, ${batches} batches; ` +
      `waiting for NATS ${waiting.toFixed(2)} s, projection.apply ${applying.toFixed(2)} s, rest ${(seconds - waiting - applying).toFixed(2)} s)`)
    await sql`DROP SCHEMA ${sql.id(schema)} CASCADE`.execute(db)
    return {
      projector: events / seconds,
      projectorSeconds: seconds,
      batches,
      breakdown: { waitingForNats: waiting, projectionApply: applying, transactionAndCheckpoint: Math.max(0, seconds - waiting - applying) },
      nodeCpuSeconds: (cpu.user + cpu.system) / 1e6,
      restarts
    }
  }

  ctx.progress(`(b) ${rounds} round(s): projector (audit, maxBatch ${BATCH}) over ${fmtInt(lastSeq)} events vs raw pg INSERT (the fastest of VALUES, unnest and jsonb_to_recordset), ${BATCH} rows/tx`)
  const results: ProjectorRound[] = []
  for (let r = 0; r < rounds; r++) {
    let raw = { rate: 0, cpu: 0 }
    let proj: Awaited<ReturnType<typeof runProjectorRound>> | null = null
    await alternate(r, async () => { raw = await runRaw(r) }, async () => { proj = await runProjectorRound(r) })
    const p = proj as unknown as Awaited<ReturnType<typeof runProjectorRound>>
    results.push({ ...p, raw: raw.rate, ratio: p.projector / raw.rate, rawNodeCpuSeconds: raw.cpu })
  }

  const ours = median(results.map(x => x.projector))
  const limit = median(results.map(x => x.raw))
  ctx.progress(`(b) rounds: projector ${spread(results.map(x => x.projector))}; raw ${spread(results.map(x => x.raw))}; ratios ${results.map(x => x.ratio.toFixed(2)).join(' / ')}`)
  return {
    row: {
      id: 'b',
      scenario: `(b) projector, audit, maxBatch ${BATCH}, ${rounds}×${fmtInt(events)} events`,
      unit: 'events/s',
      ours,
      limit,
      limitLabel: `raw pg INSERT ${BATCH} rows/tx, fastest of 3 ways`,
      ratio: ours / limit,
      goal: 0.5,
      peakRssBytes: peak()
    },
    rounds: results
  }
}
