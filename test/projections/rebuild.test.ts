import t, { type Test } from 'tap'
import { sql } from 'kysely'
import { PROJECTIONS, type EventSource, type Projection } from '../../projections/index.ts'
import { readCheckpoint, runProjector } from '../../projections/runtime.ts'
import { rebuild, rebuildSchemaName, tableDifference } from '../../projections/rebuild.ts'
import { openServices } from '../helpers/services.ts'
import { at, Writer, definition, type Expected, appendMixed, newExpected, until, caughtUp as caughtUpIn } from '../helpers/projection-fixtures.ts'

const services = await openServices()
t.teardown(services.teardown)
const { store } = services
const { db, schema } = services.database
const caughtUp = async (s: string, projections: Projection[]): Promise<void> => await caughtUpIn(store, db, s, projections)

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
