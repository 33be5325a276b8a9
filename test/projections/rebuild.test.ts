import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { AggregateRef, EventStore } from '../../src/event-store.ts'
import type { DomainEvent } from '../../domain/decider.ts'
import type { RecordedEvent } from '../../domain/envelope.ts'
import { PROJECTIONS, type EventSource, type Projection } from '../../projections/index.ts'
import { readCheckpoint, runProjector } from '../../projections/runtime.ts'
import { rebuild, rebuildSchemaName, tableDifference } from '../../projections/rebuild.ts'
import { openServices } from '../helpers/services.ts'

const services = await openServices()
t.teardown(services.teardown)
const { store } = services
const { db, schema } = services.database

// ---------------------------------------------------------------------------------------------
// helpers

const T0 = Date.parse('2025-03-12T14:00:00.000Z')
const at = (n: number): string => new Date(T0 + n * 1000).toISOString()

/**
 * Appends events and remembers each aggregate's expectation, so no load is needed. Appends are
 * queued in call order, so several scenarios may write at once without racing each other.
 */
class Writer {
  private readonly expect = new Map<string, { version: number, lastSeq: number }>()
  private tail: Promise<unknown> = Promise.resolve()
  n = 0
  constructor (readonly store: EventStore) {}
  async append (ref: AggregateRef, event: DomainEvent, actor = 'tester'): Promise<RecordedEvent> {
    const run = async (): Promise<RecordedEvent> => {
      const key = `${ref.type}/${ref.id}`
      const expected = this.expect.get(key) ?? { version: 0, lastSeq: 0 }
      const res = await this.store.append(ref, expected, [event], { commandId: randomUUID(), actor, now: at(this.n++) })
      this.expect.set(key, { version: expected.version + 1, lastSeq: res.seq })
      return res.events[0]
    }
    const result = this.tail.then(run, run)
    this.tail = result.catch(() => {})
    return await result
  }
}

const definition = (name: string, version: number): unknown => ({
  description: `${name} v${version}`,
  stop_on_error: true,
  steps: [
    { id: 'build', action: { type: 'shell', command: `make v${version}` } },
    { id: 'ship', after: ['build'], target: ['web-1', 'web-2'], action: { type: 'http', method: 'POST', url: 'http://x/ship' } },
    ...(version % 2 === 0 ? [{ id: 'smoke', after: ['ship'], action: { type: 'shell', command: 'curl' } }] : [])
  ]
})

interface Expected { orchestrations: Map<string, { latest: number, archived: boolean }>, keys: Map<string, { revoked: boolean }> }

/** A deterministic mix of every event the three read models know, plus some only audit keeps. */
async function appendMixed (w: Writer, count: number, exp: Expected, tag = 'm'): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = []
  for (let k = 0; k < count; k++) {
    const names = [...exp.orchestrations.keys()]
    const live = names.filter(n => !exp.orchestrations.get(n)!.archived)
    const keys = [...exp.keys.keys()].filter(id => !exp.keys.get(id)!.revoked)
    const when = at(w.n)
    switch (k % 6) {
      case 0: {
        const name = `${tag}.deploy-${names.length}`
        exp.orchestrations.set(name, { latest: 1, archived: false })
        out.push(await w.append({ type: 'orchestration', id: name }, {
          type: 'orchestration.version_created',
          data: { name, version: 1, definition: definition(name, 1), created_at: when, created_by: 'alice' }
        }, 'alice'))
        break
      }
      case 1:
      case 4: {
        if (live.length === 0) continue
        const name = live[k % live.length]
        const o = exp.orchestrations.get(name)!
        o.latest++
        out.push(await w.append({ type: 'orchestration', id: name }, {
          type: 'orchestration.version_created',
          data: { name, version: o.latest, definition: definition(name, o.latest), created_at: when, created_by: 'bob' }
        }, 'bob'))
        break
      }
      case 2: {
        const id = `${tag}-key-${exp.keys.size}`
        exp.keys.set(id, { revoked: false })
        out.push(await w.append({ type: 'api_key', id }, {
          type: 'api_key.created',
          data: { id, name: `key ${id}`, scopes: ['orchestrations:read', 'executions:write'], rate_limits: k % 4 === 0 ? null : { quota: '10k/day' }, secret_hash: `hash-${id}`, created_at: when, created_by: 'alice' }
        }, 'alice'))
        break
      }
      case 3: {
        if (keys.length > 2 && k % 4 === 3) {
          const id = keys[0]
          exp.keys.get(id)!.revoked = true
          out.push(await w.append({ type: 'api_key', id }, { type: 'api_key.revoked', data: { id, revoked_at: when, revoked_by: 'root' } }, 'root'))
        } else {
          out.push(await w.append({ type: 'probe', id: `probe ${k % 3}` }, { type: 'probe.pinged', data: { k, token: 'secret-token' } }, 'agent'))
        }
        break
      }
      case 5: {
        if (live.length > 3 && k % 12 === 5) {
          const name = live[1]
          exp.orchestrations.get(name)!.archived = true
          out.push(await w.append({ type: 'orchestration', id: name }, { type: 'orchestration.archived', data: { name, archived_at: when, archived_by: 'root' } }, 'root'))
        } else {
          out.push(await w.append({ type: 'probe', id: `probe ${k % 3}` }, { type: 'probe.pinged', data: { k } }, 'agent'))
        }
        break
      }
    }
  }
  return out
}

const newExpected = (): Expected => ({ orchestrations: new Map(), keys: new Map() })

async function until (what: string, cond: () => Promise<boolean>, ms = 10_000, progress = (): string => ''): Promise<void> {
  const deadline = Date.now() + ms
  // a table that does not exist yet (the projector is still migrating) counts as "not yet"
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${progress()}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

async function caughtUp (s: string, projections: Projection[]): Promise<void> {
  const last = await store.lastSeq()
  const at: Record<string, number> = {}
  await until(`${s} to reach seq ${last}`, async () => {
    for (const p of projections) at[p.name] = await readCheckpoint(db, s, p.name)
    return projections.every(p => at[p.name] >= last)
  }, 20_000, () => JSON.stringify(at))
}

async function count (s: string, table: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.id(s, table)}`.execute(db)
  return rows[0].n
}


/** A projection without any primary key: an event applied twice shows up as two rows. */
const counterProjection: Projection = {
  name: 'rb_counter',
  tables: ['rb_counter_applied'],
  migrations: {
    '001': {
      async up (db) {
        await db.schema.createTable('rb_counter_applied').addColumn('seq', 'bigint', c => c.notNull()).execute()
      }
    }
  },
  async apply (trx, events) {
    await trx.insertInto('rb_counter_applied').values(events.map(e => ({ seq: e.seq }))).execute()
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

async function seqs (s: string, table: string): Promise<number[]> {
  const { rows } = await sql<{ seq: number }>`SELECT seq FROM ${sql.id(s, table)} ORDER BY seq`.execute(db)
  return rows.map(r => r.seq)
}

async function schemaExists (s: string): Promise<boolean> {
  const { rows } = await sql`SELECT 1 FROM pg_namespace WHERE nspname = ${s}`.execute(db)
  return rows.length > 0
}

// the read models these events feed; every other projection is rebuilt and compared all the same
const FED = ['orchestrations', 'api_keys', 'audit']

const w = new Writer(store)
const expected = newExpected()

// the live projectors run through the whole file
const stopLive = new AbortController()
const live = PROJECTIONS.map(projection => runProjector({ db, schema, projection, source: store, maxBatch: 50 }, stopLive.signal))
t.teardown(async () => { stopLive.abort(); await Promise.all(live) })

async function expectEqualToFreshRebuild (t: Test, what: string): Promise<void> {
  for (const projection of PROJECTIONS) {
    const res = await rebuild({ db, schema, projection, source: store, swap: false, maxBatch: 100 })
    for (const table of projection.tables) {
      t.equal(await tableDifference(db, schema, res.rebuildSchema, table), 0, `${what}: ${table} equals a fresh rebuild`)
    }
  }
}

t.test('a rebuild beside the live projector builds the same tables', async t => {
  const writing = appendMixed(w, 120, expected, 'a')
  await new Promise(resolve => setTimeout(resolve, 20))
  await appendMixed(w, 120, expected, 'b')
  await writing
  await caughtUp(schema, PROJECTIONS)
  const last = await store.lastSeq()
  t.ok(last >= 240)

  for (const projection of PROJECTIONS) {
    const progress: number[] = []
    const res = await rebuild({ db, schema, projection, source: store, swap: false, maxBatch: 100, onProgress: done => progress.push(done) })
    t.match(res, { projection: projection.name, events: last, swapped: false, rebuildSchema: rebuildSchemaName(schema, projection) })
    t.equal(progress[progress.length - 1], last, 'progress reaches the end')
    t.equal(await readCheckpoint(db, res.rebuildSchema, projection.name), last, 'the rebuild checkpoint is at the end of the log')
    t.equal(await readCheckpoint(db, schema, projection.name), last, 'the live checkpoint is untouched')
    for (const table of projection.tables) {
      if (FED.includes(projection.name)) t.ok(await count(res.rebuildSchema, table) > 0, `${table} is not trivially empty`)
      t.equal(await tableDifference(db, schema, res.rebuildSchema, table), 0, `${table}: live and rebuild are equal`)
    }
  }

  // the comparison does see differences (so the zeroes above mean something)
  const tmp = rebuildSchemaName(schema, PROJECTIONS.find(p => p.name === 'orchestrations')!)
  await sql`UPDATE ${sql.id(tmp, 'orchestrations')} SET description = 'changed' WHERE name = (SELECT min(name) FROM ${sql.id(tmp, 'orchestrations')})`.execute(db)
  t.equal(await tableDifference(db, schema, tmp, 'orchestrations'), 2, 'a changed row counts on both sides')
  await sql`DELETE FROM ${sql.id(tmp, 'orchestration_steps')} WHERE position = 1`.execute(db)
  t.ok(await tableDifference(db, schema, tmp, 'orchestration_steps') > 0, 'missing rows count')
  const auditTmp = rebuildSchemaName(schema, PROJECTIONS.find(p => p.name === 'audit')!)
  await sql`DELETE FROM ${sql.id(auditTmp, 'audit_events')} WHERE seq = 7`.execute(db)
  t.equal(await tableDifference(db, schema, auditTmp, 'audit_events'), 1)
})

t.test('rebuild and swap while the live projector runs and events keep coming', async t => {
  const startSeq = await store.lastSeq()
  // a steady trickle of events all through the rebuilds, bounded so the file stays fast
  let rebuilding = true
  let appendedDuring = 0
  const writer = (async () => {
    for (let i = 0; rebuilding && appendedDuring < 80; i++) {
      appendedDuring += (await appendMixed(w, 5, expected, `c${i}`)).length
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  })()
  // and, to be sure every rebuild sees the log move under it, some events land after each one has
  // fixed its target, while it replays
  const movingSource = {
    lastSeq: async () => await store.lastSeq(),
    async * readBatches (opts: Parameters<EventSource['readBatches']>[0]) {
      let first = true
      for await (const batch of store.readBatches(opts)) {
        yield batch
        if (first && opts.fromSeq === 1) { first = false; await appendMixed(w, 8, expected, 'mv') }
      }
    }
  }

  // every projection at once, each swapping in while the live projectors keep applying
  const before = await store.lastSeq()
  const results = await Promise.all(PROJECTIONS.map(async projection => await rebuild({ db, schema, projection, source: movingSource, maxBatch: 100 })))
  t.ok(await store.lastSeq() >= before + 8 * PROJECTIONS.length, 'the log moved during the rebuilds')
  for (const res of results) {
    t.equal(res.swapped, true)
    t.ok(res.events >= before, `${res.projection}: replayed the log (${res.events} events)`)
    t.notOk(await schemaExists(res.rebuildSchema), `${res.projection}: the rebuild schema is gone after the swap`)
  }

  // a swap that must replay what the live projector applied beyond the rebuild's target
  const audit = PROJECTIONS.find(p => p.name === 'audit')!
  let target = 0
  const laggingSource = {
    lastSeq: async () => {
      target = await store.lastSeq()
      // the live projector moves on past the target before the rebuild reaches its swap
      await appendMixed(w, 25, expected, 'lag')
      await caughtUp(schema, [audit])
      return target
    },
    readBatches: store.readBatches.bind(store)
  }
  const lagged = await rebuild({ db, schema, projection: audit, source: laggingSource, maxBatch: 100 })
  t.ok(lagged.events >= target + 25, `the swap replayed the live projector's lead (${lagged.events} > ${target})`)

  rebuilding = false
  await writer
  t.ok(appendedDuring > 0, `${appendedDuring} events were appended during the rebuilds`)
  t.ok(await store.lastSeq() > startSeq)

  // settle: one more batch after the swaps, and the live projector catches up
  await appendMixed(w, 20, expected, 'after')
  await caughtUp(schema, PROJECTIONS)
  const last = await store.lastSeq()
  t.same(await seqs(schema, 'audit_events'), range(1, last), 'audit seqs are exactly 1..N')
  for (const p of PROJECTIONS) t.equal(await readCheckpoint(db, schema, p.name), last)
  await expectEqualToFreshRebuild(t, 'after concurrent swaps')

  // the live tables still follow the log after the swaps
  const o = await db.withSchema(schema).selectFrom('orchestrations').select(['name', 'latest_version', 'archived']).execute()
  t.equal(o.length, expected.orchestrations.size)
  for (const row of o) t.same([row.latest_version, row.archived], [expected.orchestrations.get(row.name)!.latest, expected.orchestrations.get(row.name)!.archived], row.name)
  const k = await db.withSchema(schema).selectFrom('api_keys').select(['id', 'revoked_at']).execute()
  t.equal(k.length, expected.keys.size)
  for (const row of k) t.equal(row.revoked_at != null, expected.keys.get(row.id)!.revoked, row.id)
})

t.test('a swap ahead of a stopped projector: it resumes after the rebuilt position, nothing twice', async t => {
  const s = `${schema}__lag`
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(s)}`.execute(db)
  // the projector ran part way and stopped
  const first = new AbortController()
  const run1 = runProjector({ db, schema: s, projection: counterProjection, source: store, maxBatch: 10 }, first.signal)
  await until('part of the log', async () => await readCheckpoint(db, s, counterProjection.name) >= 20)
  first.abort()
  await run1
  const stoppedAt = await readCheckpoint(db, s, counterProjection.name)
  const last = await store.lastSeq()
  t.ok(stoppedAt < last)

  const res = await rebuild({ db, schema: s, projection: counterProjection, source: store })
  t.equal(res.events, last)
  t.equal(await readCheckpoint(db, s, counterProjection.name), last, 'the checkpoint moves to the rebuilt position')
  t.same(await seqs(s, 'rb_counter_applied'), range(1, last))

  await appendMixed(w, 15, expected, 'd')
  const second = new AbortController()
  const run2 = runProjector({ db, schema: s, projection: counterProjection, source: store, maxBatch: 10}, second.signal)
  t.teardown(async () => { second.abort(); await run2 })
  await caughtUp(s, [counterProjection])
  t.same(await seqs(s, 'rb_counter_applied'), range(1, await store.lastSeq()), 'every event exactly once')
})
