import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream'
import { EventStore } from '../../src/event-store.ts'
import { type BenchContext, sub, fmtInt, aborted } from '../context.ts'
import { workerPool } from '../pool.ts'
import { appendMeta, orchestrationRef, typicalEnvelopeBytes, versionCreated } from '../payload.ts'
import type { Row } from '../report.ts'

export interface AppendResultFigures {
  row: Row
  raw: { perSecond: number, seconds: number }
  store: { perSecond: number, seconds: number }
  envelopeBytes: number
  dataBytes: number
}

/**
 * (a) EventStore.append, each to a new aggregate (expected version 0), C in flight, against raw
 * js.publish of a payload of the same size to a plain stream at the same concurrency. Each side
 * gets a short untimed warm-up first; raw runs first, then the store.
 */
export async function appendScenario (ctx: BenchContext, events: number, concurrency: number): Promise<AppendResultFigures> {
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

  ctx.progress(`(a) raw js.publish: ${fmtInt(warmup)} warm-up + ${fmtInt(events)} timed, ${envelopeBytes}-byte payload, ${concurrency} in flight`)
  await workerPool(warmup, concurrency, async i => await rawPublish(events + i), { signal: ctx.signal })
  let t0 = performance.now()
  await workerPool(events, concurrency, rawPublish, { signal: ctx.signal, onProgress: done => ctx.progress(`(a) raw ${fmtInt(done)}/${fmtInt(events)}`) })
  const rawSeconds = (performance.now() - t0) / 1000
  aborted(ctx.signal)

  const store = await EventStore.open(ctx.nc, sub(ctx, 'a'))
  const append = async (i: number): Promise<void> => {
    const ref = orchestrationRef(i)
    await store.append(ref, { version: 0, lastSeq: 0 }, [versionCreated(ref)], appendMeta(i))
  }
  ctx.progress(`(a) EventStore.append: ${fmtInt(warmup)} warm-up + ${fmtInt(events)} timed, ${dataBytes}-byte data (${envelopeBytes}-byte envelope), ${concurrency} in flight`)
  await workerPool(warmup, concurrency, async i => await append(events + i), { signal: ctx.signal })
  t0 = performance.now()
  await workerPool(events, concurrency, append, { signal: ctx.signal, onProgress: done => ctx.progress(`(a) append ${fmtInt(done)}/${fmtInt(events)}`) })
  const storeSeconds = (performance.now() - t0) / 1000
  aborted(ctx.signal)

  const ours = events / storeSeconds
  const limit = events / rawSeconds
  return {
    row: {
      id: 'a',
      scenario: `(a) EventStore.append, ${fmtInt(events)} new aggregates, C=${concurrency}`,
      unit: 'appends/s',
      ours,
      limit,
      limitLabel: `raw js.publish ${envelopeBytes} B, C=${concurrency}`,
      ratio: ours / limit,
      goal: 0.8,
      peakRssBytes: peak(),
      seconds: storeSeconds
    },
    raw: { perSecond: limit, seconds: rawSeconds },
    store: { perSecond: ours, seconds: storeSeconds },
    envelopeBytes,
    dataBytes
  }
}
