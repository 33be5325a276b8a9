import t from 'tap'
import { randomUUID } from 'node:crypto'
import { connectNats } from '../../src/nats.ts'
import { EventStore, ConcurrencyError, encodeToken, type AggregateRef, type AppendMeta } from '../../src/event-store.ts'
import { registerUpcaster, currentSchemaVersion } from '../../src/upcast.ts'
import type { RecordedEvent } from '../../domain/envelope.ts'
import { openServices, NATS_URL } from '../helpers/services.ts'

const services = await openServices()
t.teardown(services.teardown)
const { store } = services

const meta = (over: Partial<AppendMeta> = {}): AppendMeta => ({
  commandId: randomUUID(),
  actor: 'key-1',
  now: '2025-03-12T14:00:00.000Z',
  ...over
})

const ref = (type: string, id: string): AggregateRef => ({ type, id })

async function collect (it: AsyncIterable<RecordedEvent>): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = []
  for await (const e of it) out.push(e)
  return out
}

async function allEvents (): Promise<RecordedEvent[]> {
  const last = await store.lastSeq()
  return last === 0 ? [] : await collect(store.read({ fromSeq: 1, toSeq: last }))
}

/** Appends one event to an aggregate after whatever it holds now. */
async function appendOne (r: AggregateRef, type: string, data: unknown): Promise<RecordedEvent> {
  const loaded = await store.load(r)
  const res = await store.append(r, loaded, [{ type, data }], meta())
  return res.events[0]
}

async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

t.test('append then load round-trips the full envelope', async t => {
  const r = ref('orchestration', 'roundtrip')
  const empty = await store.load(r)
  t.same(empty, { events: [], version: 0, lastSeq: 0 }, 'an unknown aggregate is empty')

  const before = await store.lastSeq()
  const m = meta({ actor: 'alice', now: '2025-03-12T14:05:06.789Z', correlationId: 'corr-1', causationId: 'cause-1' })
  const res = await store.append(r, empty, [
    { type: 'orchestration.version_created', data: { name: 'roundtrip', version: 1, nested: { list: [1, 'two', null] } } },
    { type: 'orchestration.archived', data: { name: 'roundtrip', archived_at: m.now, archived_by: 'alice' } }
  ], m)
  t.equal(res.duplicate, false)
  t.equal(res.events.length, 2)
  t.equal(res.seq, before + 2, 'result seq is the last event\'s stream sequence')

  const loaded = await store.load(r)
  t.equal(loaded.version, 2)
  t.equal(loaded.lastSeq, before + 2)
  t.same(loaded.events, res.events, 'what load returns is exactly what append recorded')
  const [first, second] = loaded.events
  t.match(first.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  t.not(first.id, second.id, 'each event has its own id')
  t.strictSame(first, {
    id: first.id,
    type: 'orchestration.version_created',
    schema_version: 1,
    aggregate_type: 'orchestration',
    aggregate_id: 'roundtrip',
    version: 1,
    timestamp: '2025-03-12T14:05:06.789Z',
    actor: 'alice',
    correlation_id: 'corr-1',
    causation_id: 'cause-1',
    command_id: m.commandId,
    data: { name: 'roundtrip', version: 1, nested: { list: [1, 'two', null] } },
    seq: before + 1
  })
  t.equal(second.version, 2)
  t.equal(second.seq, before + 2)
  t.equal(second.command_id, m.commandId)

  // without correlation/causation: correlation defaults to the command id, causation to null
  const m2 = meta()
  const res2 = await store.append(r, loaded, [{ type: 'orchestration.archived', data: {} }], m2)
  t.equal(res2.events[0].correlation_id, m2.commandId)
  t.equal(res2.events[0].causation_id, null)
  t.equal(res2.events[0].version, 3)
  const again = await store.load(r)
  t.same(again.events[2], res2.events[0])
  t.equal(await store.lastSeq(), before + 3)
})

t.test('two writers racing on the same version: exactly one wins', async t => {
  // a second node: its own connection, the same stream
  const nc2 = await connectNats([NATS_URL], 'event-store-test-writer-2')
  t.teardown(async () => { await nc2.close() })
  const store2 = await EventStore.open(nc2, services.namespace)

  for (const start of [0, 1, 3]) {
    const r = ref('orchestration', `race-${start}`)
    for (let i = 0; i < start; i++) await appendOne(r, 'orchestration.touched', { i })
    const [a, b] = await Promise.all([store.load(r), store2.load(r)])
    t.equal(a.version, start)
    t.same(a, b, 'both writers see the same version')
    const before = await store.lastSeq()
    const ma = meta({ actor: 'a' })
    const mb = meta({ actor: 'b' })
    const results = await Promise.allSettled([
      store.append(r, a, [{ type: 'orchestration.touched', data: { by: 'a' } }], ma),
      store2.append(r, b, [{ type: 'orchestration.touched', data: { by: 'b' } }], mb)
    ])
    const won = results.filter(x => x.status === 'fulfilled')
    const lost = results.filter(x => x.status === 'rejected')
    t.equal(won.length, 1, `start ${start}: one append succeeds`)
    t.equal(lost.length, 1, `start ${start}: one append fails`)
    const err = (lost[0] as PromiseRejectedResult).reason
    t.type(err, ConcurrencyError)
    t.equal(err.name, 'ConcurrencyError')
    t.same(err.aggregate, r)
    t.equal(err.expectedVersion, start)

    const winner = won[0] as PromiseFulfilledResult<Awaited<ReturnType<EventStore['append']>>>
    const loserCommand = results[0] === winner ? mb.commandId : ma.commandId
    const after = await store.load(r)
    t.equal(after.version, start + 1, 'the aggregate moved by exactly one event')
    t.equal(after.events.length, start + 1)
    t.equal(after.events[start].command_id, winner.value.events[0].command_id)
    t.equal(await store.lastSeq(), before + 1, 'the log grew by exactly one event')
    const everything = await allEvents()
    t.notOk(everything.some(e => e.command_id === loserCommand), 'nothing of the losing command is in the log')
  }
})

t.test('the same command appended again appends nothing, even with a stale expectation', async t => {
  const r = ref('api_key', 'dup-key')
  const m = meta()
  const first = await store.append(r, { version: 0, lastSeq: 0 }, [{ type: 'api_key.created', data: { id: 'dup-key' } }], m)
  t.equal(first.duplicate, false)
  const logLength = await store.lastSeq()

  // a plain retry with the same expectation
  const retry = await store.append(r, { version: 0, lastSeq: 0 }, [{ type: 'api_key.created', data: { id: 'dup-key' } }], m)
  t.equal(retry.duplicate, true)
  t.equal(retry.seq, first.seq, 'the retry reports where the original landed')
  t.equal(await store.lastSeq(), logLength, 'log length unchanged')

  // another command moves the aggregate on: the retry's expectation is now stale
  const loaded = await store.load(r)
  await store.append(r, loaded, [{ type: 'api_key.revoked', data: { id: 'dup-key' } }], meta())
  const logLength2 = await store.lastSeq()
  const stale = await store.append(r, { version: 0, lastSeq: 0 }, [{ type: 'api_key.created', data: { id: 'dup-key' } }], m)
  t.equal(stale.duplicate, true, 'a duplicate, not a ConcurrencyError')
  t.equal(stale.seq, first.seq)
  t.equal(await store.lastSeq(), logLength2, 'log length unchanged')

  const final = await store.load(r)
  t.same(final.events.map(e => e.type), ['api_key.created', 'api_key.revoked'])
  t.equal(final.events.filter(e => e.command_id === m.commandId).length, 1, 'the command is in the log once')

  // a different command with a stale expectation is a conflict
  await t.rejects(store.append(r, { version: 0, lastSeq: 0 }, [{ type: 'api_key.created', data: {} }], meta()), ConcurrencyError)
  t.equal(await store.lastSeq(), logLength2)
})

t.test('ids with dots, spaces and wildcards map to distinct subjects', async t => {
  const ids = ['a.b', 'a_b', 'a b', 'a', 'b', 'a~2eb', 'a.*', 'a.>', 'a-b', 'A.B', 'é', '€', ' ac', '~20ac', '😀']
  const subjects = ids.map(id => store.subject(ref('orchestration', id)))
  t.equal(new Set(subjects).size, ids.length, 'every id has its own subject')
  const tokens = ids.map(encodeToken)
  t.equal(new Set(tokens).size, ids.length, 'encodeToken is injective on these ids')
  for (const [i, s] of subjects.entries()) {
    t.equal(s.split('.').length, 4, `subject of ${JSON.stringify(ids[i])} has exactly four tokens`)
    t.notMatch(s, /[\s*>]/, 'no spaces or wildcards')
  }
  t.equal(encodeToken('plain-Id_09'), 'plain-Id_09', 'safe ids are unchanged')
  t.not(store.subject(ref('a.b', 'c')), store.subject(ref('a', 'b.c')), 'type and id cannot be confused')

  const loggable = ['a.b', 'a_b', 'a b', 'a', 'a.*', 'a.>', '€', ' ac']
  for (const id of loggable) await appendOne(ref('server', id), 'server.registered', { id })
  for (const id of loggable) {
    const { events } = await store.load(ref('server', id))
    t.same(events.map(e => e.data), [{ id }], `${JSON.stringify(id)} holds only its own event`)
    t.equal(events[0].aggregate_id, id, 'the envelope keeps the original id')
  }
})

t.test('read from a sequence returns exactly the tail, in order', async t => {
  const start = await store.lastSeq()
  const written: RecordedEvent[] = []
  for (let i = 0; i < 30; i++) written.push(await appendOne(ref('server', `tail-${i % 4}`), 'server.heartbeat', { i }))
  const last = await store.lastSeq()
  t.equal(last, start + 30)

  const from = start + 11
  const tail = await collect(store.read({ fromSeq: from, toSeq: last }))
  t.same(tail.map(e => e.seq), Array.from({ length: last - from + 1 }, (_, k) => from + k), 'exactly seqs from..last')
  t.same(tail, written.slice(10), 'the same events that were appended')

  const all = await collect(store.read({ fromSeq: 1, toSeq: last }))
  t.same(all.map(e => e.seq), Array.from({ length: last }, (_, k) => k + 1), 'from 1: the whole log, gap-free')

  const one = await collect(store.read({ fromSeq: last, toSeq: last }))
  t.same(one.map(e => e.seq), [last])
  t.same(await collect(store.read({ fromSeq: last, toSeq: last - 1 })), [], 'an empty range reads nothing')

  const middle: number[] = []
  for await (const batch of store.readBatches({ fromSeq: start + 5, toSeq: start + 17, maxBatch: 4 })) {
    t.ok(batch.length > 0 && batch.length <= 4, 'batches respect maxBatch')
    middle.push(...batch.map(e => e.seq))
  }
  t.same(middle, Array.from({ length: 13 }, (_, k) => start + 5 + k), 'batches end exactly at toSeq')

  // one subject only
  const sub = store.subject(ref('server', 'tail-1'))
  const only = await collect(store.read({ fromSeq: from, toSeq: last, subject: sub }))
  t.same(only, written.slice(10).filter(e => e.aggregate_id === 'tail-1'))
})

t.test('readBatches without toSeq is live and ends on abort', async t => {
  const from = (await store.lastSeq()) + 1
  const ac = new AbortController()
  const seen: number[] = []
  let batches = 0
  let notify: () => void = () => {}
  const reader = (async () => {
    for await (const batch of store.readBatches({ fromSeq: from, maxBatch: 3, signal: ac.signal })) {
      batches++
      t.ok(batch.length <= 3)
      seen.push(...batch.map(e => e.seq))
      notify()
    }
  })()
  const waitFor = async (n: number): Promise<void> => {
    await withTimeout((async () => {
      while (seen.length < n) await new Promise<void>(resolve => { notify = resolve })
    })(), 5_000, `${n} live events`)
  }

  // the reader starts before anything is there to read
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(seen.length, 0)
  const appended: number[] = []
  for (let i = 0; i < 4; i++) appended.push((await appendOne(ref('server', 'live'), 'server.heartbeat', { i })).seq)
  await waitFor(4)
  for (let i = 4; i < 10; i++) appended.push((await appendOne(ref('server', 'live-2'), 'server.heartbeat', { i })).seq)
  await waitFor(10)
  t.same(seen, appended, 'every event appended after it started, in order, once')
  t.same(appended, Array.from({ length: 10 }, (_, k) => from + k))
  t.ok(batches >= 4)

  ac.abort()
  await withTimeout(reader, 3_000, 'reader ends after abort')
  t.pass('the live read ended on abort')

  // aborted before it starts: ends at once
  const pre = new AbortController()
  pre.abort()
  const none: RecordedEvent[][] = []
  await withTimeout((async () => { for await (const b of store.readBatches({ fromSeq: 1, maxBatch: 10, signal: pre.signal })) none.push(b) })(), 3_000, 'pre-aborted read')
  t.same(none, [])

  // aborted while the consumer is being set up (a projector stopped as it starts): ends at once
  for (let i = 0; i < 3; i++) {
    const racing = new AbortController()
    const it = store.readBatches({ fromSeq: 1, maxBatch: 10, signal: racing.signal })
    const next = it.next()
    racing.abort()
    const r = await withTimeout(next, 3_000, 'read aborted during setup')
    t.equal(r.done, true, 'nothing is read after the abort')
  }
})

t.test('a live reader that falls behind gets what arrived meanwhile in one batch', async t => {
  const from = (await store.lastSeq()) + 1
  const ac = new AbortController()
  const sizes: number[] = []
  let received = 0
  let busy = (): void => {}
  const isBusy = new Promise<void>(resolve => { busy = resolve })
  let allAppended = (): void => {}
  const appended = new Promise<void>(resolve => { allAppended = resolve })
  const reader = (async () => {
    // maxBatch 50: the consumer pulls 256 at a time, and queues a refill request after 64
    for await (const batch of store.readBatches({ fromSeq: from, maxBatch: 50, signal: ac.signal })) {
      t.ok(batch.length <= 50)
      sizes.push(batch.length)
      received += batch.length
      // the first write of a slow projector takes a while: until everything below is appended
      if (sizes.length === 1) { busy(); await appended; await new Promise(resolve => setTimeout(resolve, 100)) }
    }
  })()
  await appendOne(ref('server', 'primer'), 'server.heartbeat', {})
  await withTimeout(isBusy, 3_000, 'the first batch')
  // meanwhile 120 events arrive one by one: each leaves the server with nothing pending behind it
  for (let i = 0; i < 120; i++) await store.append(ref('server', `trickle-${i}`), { version: 0, lastSeq: 0 }, [{ type: 'server.heartbeat', data: { i } }], meta())
  allAppended()
  try {
    await withTimeout((async () => { while (received < 121) await new Promise(resolve => setTimeout(resolve, 20)) })(), 5_000, 'the trickle to be read')
  } catch {
    t.fail(`the reader stalled at ${received} of 121 (batches ${sizes.join(', ')})`)
  }
  ac.abort()
  await withTimeout(reader, 3_000, 'reader ends')
  t.equal(received, 121)
  t.ok(sizes.length <= 6, `what was buffered while busy comes in full batches, not one per event (${sizes.join(', ')})`)
})

t.test('a live reader keeps delivering past its pull window (no stall after a refill)', async t => {
  const from = (await store.lastSeq()) + 1
  const ac = new AbortController()
  let received = 0
  const seen: number[] = []
  const reader = (async () => {
    // maxBatch 50: the consumer pulls 256 at a time and refills as it goes
    for await (const batch of store.readBatches({ fromSeq: from, maxBatch: 50, signal: ac.signal })) {
      received += batch.length
      seen.push(...batch.map(e => e.seq))
      // a projector writing each batch: messages (and the consumer's refill requests) queue up meanwhile
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  })()
  const total = 300
  for (let i = 0; i < total; i += 20) {
    await Promise.all(Array.from({ length: 20 }, async (_, k) => await store.append(ref('server', `window-${i + k}`), { version: 0, lastSeq: 0 }, [{ type: 'server.heartbeat', data: {} }], meta())))
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  try {
    await withTimeout((async () => { while (received < total) await new Promise(resolve => setTimeout(resolve, 20)) })(), 8_000, `all ${total} events (got ${received})`)
  } catch (err) {
    t.fail(`the reader stalled at ${received} of ${total}`)
  }
  ac.abort()
  await withTimeout(reader, 3_000, 'reader ends')
  t.same(seen, Array.from({ length: total }, (_, k) => from + k), 'every event once, in order')
})

t.test('readers opened while writers append never hold back what they have', async t => {
  // NATS 2.9 can count one message too many for the whole life of such a consumer: a reader that
  // trusted the count would keep its last batch until another event came, which may be never
  const from = (await store.lastSeq()) + 1
  const stopWriting = new AbortController()
  let written = 0
  const writer = (async () => {
    while (!stopWriting.signal.aborted) {
      await Promise.all(Array.from({ length: 4 }, async () => await store.append(ref('server', randomUUID()), { version: 0, lastSeq: 0 }, [{ type: 'server.heartbeat', data: {} }], meta())))
      written += 4
    }
  })()
  const readers: Array<{ seen: number, ac: AbortController, done: Promise<void> }> = []
  for (let i = 0; i < 24; i++) {
    const r = { seen: from - 1, ac: new AbortController(), done: Promise.resolve() }
    r.done = (async () => {
      for await (const batch of store.readBatches({ fromSeq: from, maxBatch: 1000, signal: r.ac.signal })) r.seen = batch[batch.length - 1].seq
    })()
    readers.push(r)
    await new Promise(resolve => setTimeout(resolve, 15))
  }
  stopWriting.abort()
  await writer
  const last = await store.lastSeq()
  t.ok(written > 0)
  try {
    await withTimeout((async () => { while (readers.some(r => r.seen < last)) await new Promise(resolve => setTimeout(resolve, 20)) })(), 5_000, 'every reader to reach the end')
  } catch {
    t.fail(`readers stalled short of ${last}: ${readers.map(r => r.seen).filter(s => s < last).join(', ')}`)
  }
  for (const r of readers) r.ac.abort()
  await withTimeout(Promise.all(readers.map(async r => await r.done)), 5_000, 'readers end')
})

t.test('an upcaster transforms old data on read', async t => {
  const type = `test.upcast_${randomUUID().slice(0, 8)}`
  const r = ref('test', `upcast-${type}`)
  t.equal(currentSchemaVersion(type), 1)
  const v1 = await appendOne(r, type, { full_name: 'Ada Lovelace' })
  t.equal(v1.schema_version, 1)

  registerUpcaster(type, 1, (d: any) => {
    const [first, last] = d.full_name.split(' ')
    return { first, last }
  })
  t.equal(currentSchemaVersion(type), 2, 'new events are written with the next version')
  const v2 = await appendOne(r, type, { first: 'Grace', last: 'Hopper' })
  t.equal(v2.schema_version, 2)

  let loaded = await store.load(r)
  t.same(loaded.events.map(e => [e.schema_version, e.data]), [
    [2, { first: 'Ada', last: 'Lovelace' }],
    [2, { first: 'Grace', last: 'Hopper' }]
  ], 'the old event is upcast, the new one is left alone')

  // a chain: 1 → 2 → 3
  registerUpcaster(type, 2, (d: any) => ({ name: { given: d.first, family: d.last } }))
  t.equal(currentSchemaVersion(type), 3)
  loaded = await store.load(r)
  t.same(loaded.events.map(e => [e.schema_version, e.data]), [
    [3, { name: { given: 'Ada', family: 'Lovelace' } }],
    [3, { name: { given: 'Grace', family: 'Hopper' } }]
  ])
  const viaRead = await collect(store.read({ fromSeq: v1.seq, toSeq: v1.seq }))
  t.same(viaRead[0].data, { name: { given: 'Ada', family: 'Lovelace' } }, 'read upcasts too')

  // other types are untouched
  const other = await appendOne(ref('test', 'other'), `${type}_other`, { full_name: 'X Y' })
  const [back] = await collect(store.read({ fromSeq: other.seq, toSeq: other.seq }))
  t.same([back.schema_version, back.data], [1, { full_name: 'X Y' }])
})
