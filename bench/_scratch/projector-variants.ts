import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { connect } from '@nats-io/transport-node'
import { EventStore } from '/work/main/src/event-store.ts'
import { openDatabase } from '/work/main/src/db.ts'
import { auditProjection, auditRow } from '/work/main/projections/audit.ts'
import { migrate, runProjector } from '/work/main/projections/runtime.ts'
import type { EventSource, Projection } from '/work/main/projections/projection.ts'
import type { RecordedEvent } from '/work/main/domain/envelope.ts'
import { workerPool } from '/work/main/bench/pool.ts'
import { appendMeta, orchestrationRef, versionCreated } from '/work/main/bench/payload.ts'

const N = Number(process.argv[2] ?? 20000)
const ns = 'bx_' + randomUUID().slice(0, 8)
const nc = await connect({ servers: '127.0.0.1:4222' })
const database = await openDatabase('postgres://127.0.0.1:5432/dimensigon_bench', ns)
const store = await EventStore.open(nc, ns)
const prepared = new WeakMap<RecordedEvent[], Record<string, unknown>[]>()
function prefetching (prepare: boolean): EventSource {
  return {
    lastSeq: () => store.lastSeq(),
    readBatches: async function * (o) {
      const it = store.readBatches(o)[Symbol.asyncIterator]()
      const pull = async () => { const n = await it.next(); if (prepare && n.done !== true) { await new Promise(r => setImmediate(r)); prepared.set(n.value, n.value.map(auditRow)) } return n }
      try {
        let next = pull()
        while (true) { const n = await next; if (n.done === true) return; next = pull(); yield n.value }
      } finally { await it.return?.(undefined) }
    }
  }
}
const preparedProjection: Projection = {
  ...auditProjection,
  apply: async (trx, events) => {
    const rows = prepared.get(events) ?? events.map(auditRow)
    await trx.insertInto('audit_events').values(rows).onConflict(oc => oc.column('seq').doNothing()).execute()
  }
}
async function customLoop (schema: string, last: number): Promise<void> {
  for await (const batch of prefetching(false).readBatches({ fromSeq: 1, maxBatch: 500 })) {
    const seq = await database.db.transaction().execute(async trx => {
      const { rows: [{ seq: cp }] } = await sql<{ seq: number }>`INSERT INTO ${sql.id(schema, 'checkpoints')} (projection, seq) VALUES ('audit', 0) ON CONFLICT (projection) DO UPDATE SET projection = EXCLUDED.projection RETURNING seq`.execute(trx)
      const fresh = batch.filter(e => e.seq > cp)
      if (fresh.length === 0) return cp
      await auditProjection.apply(trx.withSchema(schema), fresh)
      const s = fresh[fresh.length - 1].seq
      await trx.withSchema(schema).updateTable('checkpoints').set({ seq: s, updated_at: sql`now()` }).where('projection', '=', 'audit').execute()
      return s
    })
    if (seq >= last) break
  }
}
const res: Record<string, number[]> = {}
try {
  await workerPool(N, 256, async i => { const ref = orchestrationRef(i); await store.append(ref, { version: 0, lastSeq: 0 }, [versionCreated(ref)], appendMeta(i)) })
  const last = await store.lastSeq()
  for (let r = 0; r < Number(process.env.ROUNDS ?? 3); r++) {
    for (const [name, source, projection] of [['baseline', store, auditProjection], ['prefetch', prefetching(false), auditProjection], ['prefetch+prepare', prefetching(true), preparedProjection], ['prefetch+1-stmt-lock', null, null]] as const) {
      if (!(process.env.ONLY ?? name).split(',').includes(name)) continue
      const schema = `${ns}_${name.replace(/\W/g, '')}${r}`
      await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(database.db)
      await migrate(database.db, schema, auditProjection)
      const ac = new AbortController(); let done = 0
      const c0 = process.cpuUsage(); const t0 = performance.now()
      if (source == null) { await customLoop(schema, last); done = performance.now() } else await runProjector({ db: database.db, schema, projection: projection!, source, maxBatch: 500, onCheckpoint: (_n, seq) => { if (seq >= last && done === 0) { done = performance.now(); ac.abort() } } }, ac.signal)
      const cu = process.cpuUsage(c0)
      const rate = N / ((done - t0) / 1000)
      ;(res[name] ??= []).push(rate)
      const { rows: [{ n }] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.id(schema, 'audit_events')}`.execute(database.db)
      console.log(r, name, Math.round(rate), 'events/s', 'rows', n, 'node cpu', ((cu.user + cu.system) / 1e6).toFixed(2), 's, load', (await import('node:os')).loadavg()[0])
    }
  }
} finally {
  await store.jsm.streams.delete(store.stream).catch(() => {})
  const { rows } = await sql<{ nspname: string }>`SELECT nspname FROM pg_namespace WHERE nspname LIKE ${ns + '%'}`.execute(database.db)
  for (const { nspname } of rows) await sql`DROP SCHEMA ${sql.id(nspname)} CASCADE`.execute(database.db)
  await database.close(); await nc.close()
}
for (const [k, v] of Object.entries(res)) console.log(k, v.map(Math.round).join(' '), 'median', Math.round([...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]))
