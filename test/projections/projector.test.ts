import t from 'tap'
import { randomUUID } from 'node:crypto'
import { getEventListeners } from 'node:events'
import { sql, type Kysely } from 'kysely'
import { connectNats } from '../../src/nats.ts'
import { Kvm } from '@nats-io/kv'
import { Leases } from '../../src/lease.ts'
import type { RecordedEvent } from '../../domain/envelope.ts'
import type { Projection } from '../../projections/index.ts'
import { applyBatch, migrate, readCheckpoint, runProjector } from '../../projections/runtime.ts'
import { orchestrationsProjection } from '../../projections/orchestrations.ts'
import { apiKeysProjection } from '../../projections/api-keys.ts'
import { auditProjection } from '../../projections/audit.ts'
import { openServices, NATS_URL } from '../helpers/services.ts'
import { at, Writer, definition, type Expected, appendMixed, newExpected, until, caughtUp as caughtUpIn } from '../helpers/projection-fixtures.ts'

const services = await openServices()
t.teardown(services.teardown)
const { store, namespace } = services
const { db, schema } = services.database
const caughtUp = async (s: string, projections: Projection[]): Promise<void> => await caughtUpIn(store, db, s, projections)

/** Every row of every table, in a stable order: for "nothing changed" comparisons. */
async function snapshot (s: string, projections: Projection[]): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {}
  for (const p of projections) {
    for (const table of p.tables) {
      const { rows } = await sql<{ r: string }>`SELECT row_to_json(x)::text AS r FROM ${sql.id(s, table)} x`.execute(db)
      out[table] = rows.map(r => r.r).sort()
    }
  }
  const { rows } = await sql<{ projection: string, seq: number }>`SELECT projection, seq FROM ${sql.id(s, 'checkpoints')} ORDER BY projection`.execute(db)
  out.checkpoints = rows.filter(r => projections.some(p => p.name === r.projection))
  return out
}

async function count (s: string, table: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.id(s, table)}`.execute(db)
  return rows[0].n
}

async function allEvents (): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = []
  const last = await store.lastSeq()
  for await (const b of store.readBatches({ fromSeq: 1, toSeq: last, maxBatch: 1000 })) out.push(...b)
  return out
}

/** A projection without any primary key: an event applied twice shows up as two rows. */
function counterProjection (name: string, failOn?: (e: RecordedEvent) => boolean): Projection {
  return {
    name,
    tables: [`${name}_applied`],
    migrations: {
      '001': {
        async up (db: Kysely<any>) {
          await db.schema.createTable(`${name}_applied`).addColumn('seq', 'bigint', c => c.notNull()).addColumn('type', 'text').execute()
        }
      }
    },
    async apply (trx, events) {
      for (const e of events) {
        await trx.insertInto(`${name}_applied`).values({ seq: e.seq, type: e.type }).execute()
        if (failOn?.(e) === true) throw new Error(`cannot apply ${e.seq}`)
      }
    }
  }
}

async function appliedSeqs (s: string, name: string): Promise<number[]> {
  const { rows } = await sql<{ seq: number }>`SELECT seq FROM ${sql.id(s, `${name}_applied`)} ORDER BY seq`.execute(db)
  return rows.map(r => r.seq)
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

async function sideSchema (suffix: string): Promise<string> {
  const s = `${namespace}__${suffix}`
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(s)}`.execute(db)
  return s
}

// the three read models under test (the projections list may hold more)
const PROJECTIONS = [orchestrationsProjection, apiKeysProjection, auditProjection]

const w = new Writer(store)
const expected = newExpected()

// ---------------------------------------------------------------------------------------------

t.test('runProjector builds the three read models', async t => {
  const stop = new AbortController()
  const runs = PROJECTIONS.map(projection => runProjector({ db, schema, projection, source: store, maxBatch: 50 }, stop.signal))
  t.teardown(async () => { stop.abort(); await Promise.all(runs) })

  // some events before, some while they run
  await appendMixed(w, 60, expected)
  await appendMixed(w, 60, expected)
  // one orchestration with a known shape
  const special = await w.append({ type: 'orchestration', id: 'web.deploy' }, {
    type: 'orchestration.version_created',
    data: {
      name: 'web.deploy',
      version: 1,
      definition: {
        description: 'Roll out',
        steps: [
          { id: 'a', action: { type: 'shell', command: 'x' } },
          { id: 'b', after: ['a'], target: { servers: ['web-1'] }, action: { type: 'http', url: 'http://y' } }
        ]
      },
      created_at: '2025-04-01T10:00:00.000Z',
      created_by: 'carol'
    }
  }, 'carol')
  await w.append({ type: 'orchestration', id: 'web.deploy' }, {
    type: 'orchestration.version_created',
    data: { name: 'web.deploy', version: 2, definition: { steps: [{ id: 'only', action: { type: 'shell' } }] }, created_at: '2025-04-02T10:00:00.000Z', created_by: 'dave' }
  }, 'dave')
  const archived = await w.append({ type: 'orchestration', id: 'web.deploy' }, {
    type: 'orchestration.archived', data: { name: 'web.deploy', archived_at: '2025-04-03T10:00:00.000Z', archived_by: 'erin' }
  }, 'erin')
  await w.append({ type: 'api_key', id: 'k-special' }, {
    type: 'api_key.created',
    data: { id: 'k-special', name: 'ci', scopes: ['admin'], rate_limits: { quota: '5/minute' }, secret_hash: 'sha256:abc', created_at: '2025-04-01T00:00:00.000Z', created_by: 'root' }
  }, 'root')
  await w.append({ type: 'api_key', id: 'k-special' }, { type: 'api_key.revoked', data: { id: 'k-special', revoked_at: '2025-04-05T00:00:00.000Z', revoked_by: 'root' } }, 'root')
  await w.append({ type: 'api_key', id: 'k-special' }, { type: 'api_key.rate_limits_set', data: { id: 'k-special', rate_limits: { quota: '1/day' } } }, 'root')

  await caughtUp(schema, PROJECTIONS)
  const last = await store.lastSeq()
  const q = db.withSchema(schema)

  // orchestrations
  const orchs = await q.selectFrom('orchestrations').selectAll().orderBy('name').execute()
  t.equal(orchs.length, expected.orchestrations.size + 1)
  for (const o of orchs) {
    if (o.name === 'web.deploy') continue
    const e = expected.orchestrations.get(o.name)!
    t.ok(e, `${o.name} expected`)
    t.equal(o.latest_version, e.latest, `${o.name} latest version`)
    t.equal(o.archived, e.archived, `${o.name} archived`)
    t.equal(o.description, `${o.name} v${e.latest}`, `${o.name} description of the latest version`)
  }
  const wd = orchs.find(o => o.name === 'web.deploy')!
  t.match(wd, { latest_version: 2, description: null, archived: true, created_by: 'carol', seq: archived.seq })
  t.equal(new Date(wd.archived_at).toISOString(), '2025-04-03T10:00:00.000Z')
  t.equal(new Date(wd.created_at).toISOString(), '2025-04-01T10:00:00.000Z')
  t.equal(new Date(wd.updated_at).toISOString(), archived.timestamp)

  const versions = await q.selectFrom('orchestration_versions').selectAll().where('name', '=', 'web.deploy').orderBy('version').execute()
  t.same(versions.map(v => [v.version, v.created_by]), [[1, 'carol'], [2, 'dave']])
  t.same(versions[0].definition, (special.data as any).definition, 'the definition is stored as jsonb')
  const steps = await q.selectFrom('orchestration_steps').selectAll().where('name', '=', 'web.deploy').orderBy('version').orderBy('position').execute()
  t.same(steps.map(s => [s.version, s.step_id, s.position, s.after, s.action_type, s.target]), [
    [1, 'a', 0, [], 'shell', null],
    [1, 'b', 1, ['a'], 'http', { servers: ['web-1'] }],
    [2, 'only', 0, [], 'shell', null]
  ])
  const totalVersions = [...expected.orchestrations.values()].reduce((n, o) => n + o.latest, 0) + 2
  t.equal(await count(schema, 'orchestration_versions'), totalVersions, 'one row per version')
  const totalSteps = [...expected.orchestrations.values()].reduce((n, o) => n + range(1, o.latest).reduce((m, v) => m + (v % 2 === 0 ? 3 : 2), 0), 0) + 3
  t.equal(await count(schema, 'orchestration_steps'), totalSteps, 'one row per step of every version')

  // api keys
  const keys = await q.selectFrom('api_keys').selectAll().orderBy('id').execute()
  t.equal(keys.length, expected.keys.size + 1)
  for (const k of keys) {
    if (k.id === 'k-special') continue
    t.equal(k.revoked_at != null, expected.keys.get(k.id)!.revoked, `${k.id} revoked`)
    t.equal(k.secret_hash, `hash-${k.id}`)
    t.same(k.scopes, ['orchestrations:read', 'executions:write'])
  }
  const ks = keys.find(k => k.id === 'k-special')!
  t.match(ks, { name: 'ci', scopes: ['admin'], rate_limits: { quota: '1/day' }, secret_hash: 'sha256:abc', created_by: 'root' })
  t.equal(new Date(ks.revoked_at).toISOString(), '2025-04-05T00:00:00.000Z')

  // audit: the whole log, in order, secrets redacted
  const audit = await q.selectFrom('audit_events').selectAll().orderBy('seq').execute()
  t.same(audit.map(a => a.seq), range(1, last), 'audit has every seq exactly once')
  const log = await allEvents()
  t.same(audit.map(a => [a.event_id, a.type, a.aggregate_type, a.aggregate_id, a.version, a.actor, new Date(a.timestamp).toISOString(), a.correlation_id, a.causation_id]),
    log.map(e => [e.id, e.type, e.aggregate_type, e.aggregate_id, e.version, e.actor, e.timestamp, e.correlation_id, e.causation_id]))
  const created = audit.find(a => a.aggregate_id === 'k-special' && a.type === 'api_key.created')!
  t.equal(created.data.secret_hash, '***', 'secret hashes never reach the audit trail')
  t.equal(created.data.name, 'ci')
  t.notOk(JSON.stringify(audit.map(a => a.data)).includes('secret-token'), 'nor tokens')

  // and the projectors keep following the log
  const more = await appendMixed(w, 12, expected)
  await caughtUp(schema, PROJECTIONS)
  t.equal(await count(schema, 'audit_events'), more[more.length - 1].seq)
})

t.test('redelivering an applied batch changes nothing', async t => {
  const s = await sideSchema('redeliver')
  for (const p of PROJECTIONS) await migrate(db, s, p)
  const log = await allEvents()
  const half = Math.floor(log.length / 2)
  for (const p of PROJECTIONS) t.equal(await applyBatch(db, s, p, log.slice(0, half)), log[half - 1].seq)
  const before = await snapshot(s, PROJECTIONS)
  t.equal(before.audit_events.length, half)

  // the same batch again, a sub-range of it, each event on its own
  for (const p of PROJECTIONS) {
    t.equal(await applyBatch(db, s, p, log.slice(0, half)), log[half - 1].seq, `${p.name}: checkpoint unchanged`)
    t.equal(await applyBatch(db, s, p, log.slice(5, 20)), log[half - 1].seq)
    for (const e of log.slice(half - 10, half)) await applyBatch(db, s, p, [e])
  }
  t.same(await snapshot(s, PROJECTIONS), before, 'tables and checkpoints unchanged')

  // an overlapping batch applies only what is new
  for (const p of PROJECTIONS) t.equal(await applyBatch(db, s, p, log.slice(half - 20)), log[log.length - 1].seq)
  t.same((await snapshot(s, [auditProjection])).audit_events.length, log.length)
  const full = await snapshot(s, PROJECTIONS)
  for (const p of PROJECTIONS) await applyBatch(db, s, p, log)
  t.same(await snapshot(s, PROJECTIONS), full)
  // equal to what the live projector built from the same events
  const live = await snapshot(schema, PROJECTIONS)
  const liveUpTo = log[log.length - 1].seq
  t.equal(live.checkpoints.every((c: any) => c.seq >= liveUpTo), true)
  t.same(full.orchestrations, live.orchestrations)
  t.same(full.api_keys, live.api_keys)
  t.same(full.audit_events, live.audit_events)

  // and a redelivery that does not count: a counter projection sees each event once
  const counter = counterProjection('redeliver_counter')
  await migrate(db, s, counter)
  await applyBatch(db, s, counter, log.slice(0, 10))
  await applyBatch(db, s, counter, log.slice(0, 10))
  await applyBatch(db, s, counter, log.slice(3, 15))
  t.same(await appliedSeqs(s, counter.name), range(1, 15))
})

t.test('a projector stopped mid-stream resumes from its checkpoint: nothing lost, nothing twice', async t => {
  const s = await sideSchema('crash')
  const counter = counterProjection('crash_counter')
  const projections = [counter, auditProjection, orchestrationsProjection, apiKeysProjection]

  // first run: stop it while it is still working through the log, batch by batch
  const first = new AbortController()
  let applied = 0
  const slow: Projection = { ...counter, apply: async (trx, events) => { await counter.apply(trx, events); applied += events.length; await new Promise(resolve => setTimeout(resolve, 5)) } }
  const runs = [runProjector({ db, schema: s, projection: slow, source: store, maxBatch: 10 }, first.signal)]
  for (const p of projections.slice(1)) runs.push(runProjector({ db, schema: s, projection: p, source: store, maxBatch: 10 }, first.signal))
  const writing = appendMixed(w, 60, expected, 'crash')
  await until('the first run to be part way', async () => applied >= 40)
  first.abort()
  await Promise.all(runs)
  await writing
  const stoppedAt = await readCheckpoint(db, s, counter.name)
  const last1 = await store.lastSeq()
  t.ok(stoppedAt > 0 && stoppedAt < last1, `stopped part way (${stoppedAt} of ${last1})`)
  t.same(await appliedSeqs(s, counter.name), range(1, stoppedAt), 'exactly what the checkpoint says was applied')

  // more events while nothing runs
  await appendMixed(w, 30, expected, 'crash')

  // a new projector (another node) catches up from the checkpoint
  const second = new AbortController()
  const resumedFrom = new Map<string, number>()
  const onCheckpoint = (name: string, seq: number): void => { if (!resumedFrom.has(name)) resumedFrom.set(name, seq) }
  const runs2 = projections.map(projection => runProjector({ db, schema: s, projection, source: store, maxBatch: 10, onCheckpoint }, second.signal))
  t.teardown(async () => { second.abort(); await Promise.all(runs2) })
  await caughtUp(s, projections)
  t.equal(resumedFrom.get(counter.name), stoppedAt, 'it started from the checkpoint, not from 1')
  // and keeps going live
  await appendMixed(w, 10, expected, 'crash')
  await caughtUp(s, projections)
  const last = await store.lastSeq()
  t.same(await appliedSeqs(s, counter.name), range(1, last), 'every event applied exactly once across the restart')
  const { rows } = await sql<{ seq: number }>`SELECT seq FROM ${sql.id(s, 'audit_events')} ORDER BY seq`.execute(db)
  t.same(rows.map(r => r.seq), range(1, last), 'audit seqs are exactly 1..N')
  second.abort()
  await Promise.all(runs2)

  // what two runs built equals what one pass over the whole log builds
  const once = await sideSchema('crash_once')
  const everything = await allEvents()
  for (const p of PROJECTIONS) { await migrate(db, once, p); await applyBatch(db, once, p, everything) }
  const a = await snapshot(s, PROJECTIONS)
  const b = await snapshot(once, PROJECTIONS)
  t.same(a.orchestrations, b.orchestrations)
  t.same(a.orchestration_steps, b.orchestration_steps)
  t.same(a.api_keys, b.api_keys)
  t.same(a.audit_events, b.audit_events)
  t.same(a.checkpoints, b.checkpoints)
})

t.test('a failing apply changes neither the tables nor the checkpoint', async t => {
  const s = await sideSchema('fail')
  const log = await allEvents()
  const poison = log[24].seq
  const fragile = counterProjection('fragile', e => e.seq === poison)
  // a real read model that fails after writing: its writes must roll back too
  const failingAudit: Projection = {
    ...auditProjection,
    apply: async (trx, events) => {
      await auditProjection.apply(trx, events)
      if (events.some(e => e.seq === poison)) throw new Error('boom')
    }
  }
  for (const p of [fragile, failingAudit]) await migrate(db, s, p)
  await applyBatch(db, s, fragile, log.slice(0, 10))
  await applyBatch(db, s, failingAudit, log.slice(0, 10))
  const before = await snapshot(s, [fragile, failingAudit])

  await t.rejects(applyBatch(db, s, fragile, log.slice(10, 40)), /cannot apply/)
  await t.rejects(applyBatch(db, s, failingAudit, log.slice(10, 40)), /boom/)
  t.same(await snapshot(s, [fragile, failingAudit]), before, 'both unchanged, checkpoints included')
  t.equal(await readCheckpoint(db, s, fragile.name), log[9].seq)

  // the projector retries from its checkpoint; once the event can be applied it goes on, exactly once
  let broken = true
  const healing = counterProjection('healing', e => broken && e.seq === poison)
  const stop = new AbortController()
  const warnings: string[] = []
  const run = runProjector({ db, schema: s, projection: healing, source: store, maxBatch: 25, log: (level, msg) => { if (level === 'warn') warnings.push(msg) } }, stop.signal)
  t.teardown(async () => { stop.abort(); await run })
  await until('a failure', async () => warnings.length >= 2)
  const stuck = await readCheckpoint(db, s, healing.name)
  t.ok(stuck < poison, 'the checkpoint never passes the failing event')
  t.same(await appliedSeqs(s, healing.name), range(1, stuck), 'nothing of a failed batch is left behind')
  broken = false
  await caughtUp(s, [healing])
  t.same(await appliedSeqs(s, healing.name), range(1, await store.lastSeq()))
  stop.abort()
  await run
})

t.test('migrate is not upset by schemas dropped meanwhile (a rebuild, another namespace)', async t => {
  let churning = true
  const churn = (async () => {
    for (let i = 0; churning; i++) {
      const s = `${namespace}__churn${i % 3}`
      await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(s)}`.execute(db)
      await sql`CREATE TABLE IF NOT EXISTS ${sql.id(s, 'x')} (a int)`.execute(db)
      await sql`DROP SCHEMA ${sql.id(s)} CASCADE`.execute(db)
      // a schema dropped every few tens of milliseconds: far more than tests or rebuilds ever do
      await new Promise(resolve => setTimeout(resolve, 25))
    }
  })()
  try {
    for (let i = 0; i < 8; i++) {
      const s = await sideSchema(`mig${i}`)
      await migrate(db, s, auditProjection)
      t.equal(await count(s, 'audit_events'), 0)
    }
  } finally {
    churning = false
    await churn
  }
})

t.test('a lease lets one holder run at a time and passes on when it stops', async t => {
  const name = `projector:test ${randomUUID().slice(0, 6)}`
  const ncA = await connectNats([NATS_URL], 'lease-a')
  const ncB = await connectNats([NATS_URL], 'lease-b')
  t.teardown(async () => { await ncA.close().catch(() => {}); await ncB.close().catch(() => {}) })
  const ttl = 1000
  const [a, b] = await Promise.all([Leases.open(ncA, namespace, ttl), Leases.open(ncB, namespace, ttl)])
  t.not(a.holder, b.holder)

  let active = 0
  let maxActive = 0
  const starts: Array<{ who: string, at: number }> = []
  const ends: Array<{ who: string, at: number }> = []
  const runner = (who: string) => async (lost: AbortSignal): Promise<void> => {
    active++
    maxActive = Math.max(maxActive, active)
    starts.push({ who, at: Date.now() })
    await new Promise(resolve => lost.addEventListener('abort', resolve, { once: true }))
    ends.push({ who, at: Date.now() })
    active--
  }
  const errors: unknown[] = []
  const stopA = new AbortController()
  const stopB = new AbortController()
  const heldA = a.hold(name, stopA.signal, runner('a'), err => errors.push(err))
  const heldB = b.hold(name, stopB.signal, runner('b'), err => errors.push(err))
  t.teardown(async () => { stopA.abort(); stopB.abort(); await Promise.all([heldA, heldB]) })

  await until('someone to hold the lease', async () => starts.length >= 1, 3000)
  // well past several renewals and retries: still exactly one
  await new Promise(resolve => setTimeout(resolve, 1.5 * ttl))
  t.equal(starts.length, 1, 'only one holder ran')
  t.equal(maxActive, 1)
  t.same(errors, [], 'contention is not an error')
  const first = starts[0].who
  const [stopFirst, stopOther] = first === 'a' ? [stopA, stopB] : [stopB, stopA]
  const other = first === 'a' ? 'b' : 'a'
  // a waiting holder does not pile up abort listeners on its stop signal while it polls
  t.ok(getEventListeners(stopOther.signal, 'abort').length <= 2, 'no listener leak while waiting')

  // the holder stops: it releases the key at once (no ttl wait), and the other takes over
  const bucket = await new Kvm(ncA).open(`${namespace}_leases`)
  const key = name.replace(/[^A-Za-z0-9_=-]/g, '_')
  t.equal((await bucket.get(key))?.string(), first === 'a' ? a.holder : b.holder, 'the key names its holder')
  const stoppedAt = Date.now()
  stopFirst.abort()
  await (first === 'a' ? heldA : heldB)
  const released = await bucket.get(key)
  t.ok(released == null || released.operation === 'DEL', 'the stopped holder deleted its key')
  await until('the other to take over', async () => starts.length >= 2, 3000)
  t.equal(starts[1].who, other)
  t.ok(ends[0].at <= starts[1].at, 'the first stopped before the second started')
  t.comment(`taken over ${starts[1].at - stoppedAt} ms after the stop`)
  t.equal(maxActive, 1)

  // a third holder on a connection that dies: the others take over once the ttl passes
  const ncC = await connectNats([NATS_URL], 'lease-c')
  const c = await Leases.open(ncC, namespace, ttl)
  const name2 = `${name}-2`
  const stopC = new AbortController()
  const stopD = new AbortController()
  t.teardown(async () => { stopC.abort(); stopD.abort() })
  const startsBefore = starts.length
  const heldC = c.hold(name2, stopC.signal, runner('c'))
  await until('c to hold', async () => starts.length > startsBefore, 3000)
  const d = first === 'a' ? a : b // the stopped node's Leases is reusable with a new stop signal
  const heldD = d.hold(name2, stopD.signal, runner('d'))
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(starts.filter(s => s.who === 'd').length, 0, 'd waits while c holds')
  const diedAt = Date.now()
  await ncC.close()
  await until('d to take over after the ttl', async () => starts.some(s => s.who === 'd'), 5000)
  const took = starts.find(s => s.who === 'd')!.at - diedAt
  t.ok(took >= ttl / 4, `not at once: only when the lease expired (${took} ms)`)
  t.ok(ends.some(e => e.who === 'c'), 'c learned it lost the lease')
  t.equal(maxActive, 2, 'at most one holder per name (two names are held now)')
  stopC.abort()
  stopD.abort()
  stopA.abort()
  stopB.abort()
  await Promise.all([heldA, heldB, heldC, heldD])
})

t.test('a read that fails while a batch is being written restarts the projector from its checkpoint', async t => {
  const s = await sideSchema('readfail')
  const counter = counterProjection('readfail_counter')
  const last = await store.lastSeq()
  t.ok(last >= 30, `a log to read (${last} events)`)
  // the real log, but the read that runs ahead breaks once, while the first batch is written
  let failed = false
  let reads = 0
  const source = {
    lastSeq: async () => await store.lastSeq(),
    readBatches: (opts: { fromSeq: number, toSeq?: number, maxBatch: number, signal?: AbortSignal }) => (async function * () {
      reads++
      let n = 0
      for await (const batch of store.readBatches(opts)) {
        if (!failed && ++n === 2) { failed = true; throw new Error('NATS went away') }
        yield batch
      }
    })()
  }
  let written = 0
  const slow: Projection = { ...counter, apply: async (trx, events) => { await new Promise(resolve => setTimeout(resolve, 50)); await counter.apply(trx, events); written++ } }
  const unhandled: unknown[] = []
  const onUnhandled = (err: unknown): void => { unhandled.push(err) }
  process.on('unhandledRejection', onUnhandled)
  const warnings: string[] = []
  const ac = new AbortController()
  const run = runProjector({ db, schema: s, projection: slow, source, maxBatch: 10, log: (level, msg) => { if (level === 'warn') warnings.push(msg) } }, ac.signal)
  try {
    await until('the projector to catch up after the failed read', async () => await readCheckpoint(db, s, counter.name) >= last, 15_000)
  } finally {
    ac.abort()
    await run
    process.off('unhandledRejection', onUnhandled)
  }
  t.ok(failed, 'the read failed once')
  t.equal(reads, 2, 'and was opened again')
  t.match(warnings.join('\n'), /NATS went away; restarting from its checkpoint/)
  t.same(unhandled, [], 'no unhandled rejection')
  t.ok(written >= 2)
  t.same(await appliedSeqs(s, counter.name), range(1, await readCheckpoint(db, s, counter.name)), 'every event once, in order')
})
