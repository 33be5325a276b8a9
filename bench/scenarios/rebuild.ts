import { sql } from 'kysely'
import { jetstream, DeliverPolicy } from '@nats-io/jetstream'
import { EventStore } from '../../src/event-store.ts'
import { auditProjection } from '../../projections/audit.ts'
import { rebuild } from '../../projections/rebuild.ts'
import { type BenchContext, sub, fmtInt, aborted } from '../context.ts'
import { workerPool } from '../pool.ts'
import { envelopeOf, smallEvent } from '../payload.ts'
import type { Row } from '../report.ts'

const IN_FLIGHT = 1_000
const AGGREGATES = 10_000

export interface RebuildFigures {
  rows: Row[]
  append: { eventsPerSecond: number, seconds: number, envelopeBytes: number }
  read: { eventsPerSecond: number, seconds: number }
  bareRead: { eventsPerSecond: number, seconds: number }
  rebuild: { eventsPerSecond: number, seconds: number, events: number }
}

function every (total: number, label: string, ctx: BenchContext, started: number): (done: number) => void {
  let next = 0
  return done => {
    if (done < next && done < total) return
    next = done + total / 20
    const s = (performance.now() - started) / 1000
    ctx.progress(`${label} ${fmtInt(done)}/${fmtInt(total)} (${(100 * done / total).toFixed(0)}%, ${fmtInt(done / Math.max(s, 1e-3))}/s, ${s.toFixed(1)} s)`)
  }
}

/**
 * (c) N small events over many aggregates, appended with 1000 publishes in flight (reported for
 * context), one ordered-consumer pass over the whole log through store.readBatches (decoded,
 * counted only), one through a bare ordered consumer (no decoding: the NATS side's limit), then
 * rebuild() of the audit projection. Its limit is the slower of the bare read and the raw
 * Postgres insert rate measured in (b).
 */
export async function rebuildScenario (ctx: BenchContext, total: number, rawInsertRowsPerSecond?: number): Promise<RebuildFigures> {
  const peak = ctx.rss.phase()
  const store = await EventStore.open(ctx.nc, sub(ctx, 'c'))
  const js = jetstream(ctx.nc, { timeout: 10_000 })

  // the log: envelopes exactly as append would write them, without the expectation headers
  const encoder = new TextEncoder()
  let envelopeBytes = 0
  ctx.progress(`(c) appending ${fmtInt(total)} events to ${fmtInt(AGGREGATES)} aggregates, ${IN_FLIGHT} publishes in flight`)
  let t0 = performance.now()
  await workerPool(total, IN_FLIGHT, async i => {
    const ref = { type: 'server', id: `srv-${i % AGGREGATES}` }
    const commandId = `bench-c-${i}`
    const payload = encoder.encode(JSON.stringify(envelopeOf(ref, Math.floor(i / AGGREGATES) + 1, smallEvent(i), commandId)))
    if (i === 0) envelopeBytes = payload.length
    await js.publish(store.subject(ref), payload)
  }, { signal: ctx.signal, progressEvery: Math.max(1, Math.floor(total / 20)), onProgress: every(total, '(c) append', ctx, t0) })
  const appendSeconds = (performance.now() - t0) / 1000
  aborted(ctx.signal)
  const lastSeq = await store.lastSeq()

  // ordered-consumer read rate over the same log: what rebuild reads with
  ctx.progress(`(c) ordered-consumer read of ${fmtInt(lastSeq)} events`)
  let read = 0
  const readProgress = every(lastSeq, '(c) read', ctx, performance.now())
  t0 = performance.now()
  for await (const batch of store.readBatches({ fromSeq: 1, toSeq: lastSeq, maxBatch: 2_000, signal: ctx.signal })) {
    read += batch.length
    readProgress(read)
  }
  const readSeconds = (performance.now() - t0) / 1000
  aborted(ctx.signal)

  // the same without the store's decoding (JSON.parse + upcast): what the consumer itself delivers
  ctx.progress(`(c) bare ordered consumer (no decoding) over ${fmtInt(lastSeq)} events`)
  const bareProgress = every(lastSeq, '(c) bare read', ctx, performance.now())
  let bare = 0
  t0 = performance.now()
  {
    const consumer = await js.consumers.get(store.stream, { filter_subjects: `${store.subjectPrefix}.>`, deliver_policy: DeliverPolicy.All })
    const messages = await consumer.consume({ max_messages: 4096 })
    const onAbort = (): void => { void messages.close() }
    ctx.signal.addEventListener('abort', onAbort)
    try {
      for await (const m of messages) {
        bare++
        if (bare % 2_000 === 0) bareProgress(bare)
        if (m.seq >= lastSeq) break
      }
    } finally {
      ctx.signal.removeEventListener('abort', onAbort)
      await messages.close()
    }
  }
  const bareSeconds = (performance.now() - t0) / 1000
  aborted(ctx.signal)

  // rebuild of the audit projection into the (empty) live schema of this scenario
  const schema = sub(ctx, 'c')
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(ctx.database.db)
  ctx.progress(`(c) rebuild() of the audit projection over ${fmtInt(lastSeq)} events`)
  const result = await rebuild({
    db: ctx.database.db,
    schema,
    projection: auditProjection,
    source: store,
    onProgress: every(lastSeq, '(c) rebuild', ctx, performance.now())
  })
  aborted(ctx.signal)
  const peakBytes = peak()
  const readRate = read / readSeconds
  const bareRate = bare / bareSeconds
  // what the two services can do: NATS delivering the log, Postgres taking the rows
  const limit = rawInsertRowsPerSecond == null ? bareRate : Math.min(bareRate, rawInsertRowsPerSecond)
  return {
    rows: [
      {
        id: 'c',
        scenario: `(c) rebuild() audit, ${fmtInt(result.events)} events (${result.seconds.toFixed(1)} s)`,
        unit: 'events/s',
        ours: result.eventsPerSecond,
        limit,
        limitLabel: rawInsertRowsPerSecond == null ? 'bare ordered consumer' : 'min(bare ordered consumer, raw pg INSERT of (b))',
        ratio: result.eventsPerSecond / limit,
        peakRssBytes: peakBytes,
        seconds: result.seconds
      },
      {
        id: 'c-read',
        scenario: `    context: ordered-consumer read in (c) (store.readBatches), ${fmtInt(read)} events`,
        unit: 'events/s',
        ours: readRate,
        peakRssBytes: peakBytes,
        seconds: readSeconds
      },
      {
        id: 'c-bare-read',
        scenario: `    context: same consumer without decoding (JSON.parse + upcast)`,
        unit: 'events/s',
        ours: bareRate,
        peakRssBytes: peakBytes,
        seconds: bareSeconds
      },
      {
        id: 'c-append',
        scenario: `    context: pipelined js.publish in (c), ${IN_FLIGHT} in flight, ${envelopeBytes} B`,
        unit: 'msgs/s',
        ours: total / appendSeconds,
        peakRssBytes: peakBytes,
        seconds: appendSeconds
      }
    ],
    append: { eventsPerSecond: total / appendSeconds, seconds: appendSeconds, envelopeBytes },
    read: { eventsPerSecond: readRate, seconds: readSeconds },
    bareRead: { eventsPerSecond: bareRate, seconds: bareSeconds },
    rebuild: { eventsPerSecond: result.eventsPerSecond, seconds: result.seconds, events: result.events }
  }
}
