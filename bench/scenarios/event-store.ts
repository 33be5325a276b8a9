import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream'
import { EventStore } from '../../src/event-store.ts'
import { type BenchContext, sub, fmtInt, aborted } from '../context.ts'
import { workerPool } from '../pool.ts'
import { appendMeta, orchestrationRef, typicalEnvelopeBytes, versionCreated } from '../payload.ts'
import { alternate, median, spread } from '../stats.ts'
import type { Row } from '../report.ts'

export interface AppendFigures {
  row: Row
  envelopeBytes: number
  dataBytes: number
  rounds: Array<{ raw: number, store: number, ratio: number }>
}

/**
 * (a) EventStore.append, each to a new aggregate (expected version 0), C in flight, against raw
 * js.publish of a payload of the same size to a plain file-storage stream at the same concurrency.
 * Both sides get an untimed warm-up; then R rounds of N each, back to back, order alternating.
 */
export async function appendScenario (ctx: BenchContext, events: number, concurrency: number, rounds: number): Promise<AppendFigures> {
  const peak = ctx.rss.phase()
  const { envelope: envelopeBytes, data: dataBytes } = typicalEnvelopeBytes()
  const warmup = Math.min(2_000, Math.max(100, Math.floor(events / 10)))

  // raw: a plain stream, file storage like the event store, a subject per message like aggregates
  const jsm = await jetstreamManager(ctx.nc, { timeout: 5_000 })
  const js = jetstream(ctx.nc, { timeout: 5_000 })
  const rawStream = sub(ctx, 'raw')
  await jsm.streams.add({ name: rawStream, subjects: [`${rawStream}.>`], storage: StorageType.File, num_replicas: 1 })
  const payload = new Uint8Array(envelopeBytes).fill(0x61)
  const rawPublish = async (i: number): Promise<void> => { await js.publish(`${rawStream}.orchestration.p${i}`, payload) }

  const store = await EventStore.open(ctx.nc, sub(ctx, 'a'))
  const append = async (i: number): Promise<void> => {
    const ref = orchestrationRef(i)
    await store.append(ref, { version: 0, lastSeq: 0 }, [versionCreated(ref)], appendMeta(i))
  }

  ctx.progress(`(a) ${rounds} round(s) of ${fmtInt(events)}: EventStore.append (${dataBytes}-byte data, ${envelopeBytes}-byte envelope) vs raw js.publish of ${envelopeBytes} bytes, ${concurrency} in flight`)
  let offset = 0 // every append goes to a new aggregate, warm-up and rounds included
  await workerPool(warmup, concurrency, rawPublish, { signal: ctx.signal })
  await workerPool(warmup, concurrency, append, { signal: ctx.signal })
  offset += warmup

  const timed = async (label: string, fn: (i: number) => Promise<void>): Promise<number> => {
    const base = offset
    offset += events
    const t0 = performance.now()
    await workerPool(events, concurrency, async i => await fn(base + i), { signal: ctx.signal })
    const seconds = (performance.now() - t0) / 1000
    aborted(ctx.signal)
    ctx.progress(`(a) ${label}: ${fmtInt(events / seconds)}/s (${seconds.toFixed(2)} s)`)
    return events / seconds
  }
  const results: AppendFigures['rounds'] = []
  for (let r = 0; r < rounds; r++) {
    let raw = 0
    let ours = 0
    await alternate(r,
      async () => { raw = await timed(`round ${r + 1} raw js.publish`, rawPublish) },
      async () => { ours = await timed(`round ${r + 1} EventStore.append`, append) })
    results.push({ raw, store: ours, ratio: ours / raw })
  }

  const ours = median(results.map(x => x.store))
  const limit = median(results.map(x => x.raw))
  ctx.progress(`(a) rounds: append ${spread(results.map(x => x.store))}; raw ${spread(results.map(x => x.raw))}; ratios ${results.map(x => x.ratio.toFixed(2)).join(' / ')}`)
  return {
    row: {
      id: 'a',
      scenario: `(a) EventStore.append, new aggregates, C=${concurrency}, ${rounds}×${fmtInt(events)}`,
      unit: 'appends/s',
      ours,
      limit,
      limitLabel: `raw js.publish ${envelopeBytes} B, C=${concurrency}`,
      ratio: ours / limit,
      goal: 0.8,
      peakRssBytes: peak()
    },
    envelopeBytes,
    dataBytes,
    rounds: results
  }
}
