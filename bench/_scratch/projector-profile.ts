import { randomUUID } from 'node:crypto'
import { Kysely, PostgresDialect, sql } from 'kysely'
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
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const ns = 'bx_' + randomUUID().slice(0, 8)
const nc = await connect({ servers: '127.0.0.1:4222' })
const database = await openDatabase('postgres://127.0.0.1:5432/dimensigon_bench', ns)
const stats = new Map<string, { n: number, ms: number }>()
const add = (k: string, ms: number) => { const s = stats.get(k) ?? { n: 0, ms: 0 }; s.n++; s.ms += ms; stats.set(k, s) }
const db = new Kysely<any>({
  dialect: new PostgresDialect({ pool: database.pool }),
  log (e) { const q = e.query.sql.replace(/\(\$\d+.*$/s, '(...)').slice(0, 60); add('pg ' + q, e.queryDurationMillis) }
})
const store = await EventStore.open(nc, ns)
try {
  await workerPool(N, 256, async i => { const ref = orchestrationRef(i); await store.append(ref, { version: 0, lastSeq: 0 }, [versionCreated(ref)], appendMeta(i)) })
  const last = await store.lastSeq()
  const recorded: RecordedEvent[] = []
  for await (const b of store.readBatches({ fromSeq: 1, toSeq: last, maxBatch: 2000 })) recorded.push(...b)
  for (let r = 0; r < ROUNDS; r++) {
    // raw variants
    for (const variant of ['raw', 'raw+auditRow', 'raw+onconflict', 'kysely-insert-only']) {
      const schema = `${ns}_${variant.replace(/\W/g, '')}${r}`
      await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(database.db)
      await migrate(database.db, schema, auditProjection)
      const rowsPre = recorded.map(auditRow)
      const cols = Object.keys(rowsPre[0])
      const client = await database.pool.connect()
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      for (let i = 0; i < recorded.length; i += 500) {
        const chunk = variant === 'raw+auditRow' ? recorded.slice(i, i + 500).map(auditRow) : rowsPre.slice(i, i + 500)
        if (variant === 'kysely-insert-only') {
          await database.db.transaction().execute(async trx => { await trx.withSchema(schema).insertInto('audit_events').values(chunk).onConflict(oc => oc.column('seq').doNothing()).execute() })
          continue
        }
        const params: unknown[] = []; const vals: string[] = []
        chunk.forEach((row, ri) => { vals.push('(' + cols.map((c, ci) => `$${ri * cols.length + ci + 1}`).join(',') + ')'); for (const c of cols) params.push(row[c]) })
        await client.query('BEGIN')
        await client.query(`INSERT INTO "${schema}".audit_events (${cols.join(',')}) VALUES ${vals.join(',')}${variant === 'raw+onconflict' ? ' ON CONFLICT (seq) DO NOTHING' : ''}`, params)
        await client.query('COMMIT')
      }
      client.release()
      const s = (performance.now() - t0) / 1000
      const cu = process.cpuUsage(c0); console.log(r, variant, Math.round(N / s), 'rows/s', 'node cpu', ((cu.user + cu.system) / 1e6).toFixed(2) + 's', 'load', (await import('node:os')).loadavg()[0])
    }
    // projector
    const schema = `${ns}_p${r}`
    await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(database.db)
    await migrate(database.db, schema, auditProjection)
    stats.clear()
    let wait = 0; let apply = 0; let rowsMs = 0; let firstRead = 0
    const source: EventSource = {
      lastSeq: () => store.lastSeq(),
      readBatches: async function * (o) {
        firstRead ||= performance.now()
        const it = store.readBatches(o)[Symbol.asyncIterator]()
        try { while (true) { const t = performance.now(); const n = await it.next(); wait += performance.now() - t; if (n.done) return; yield n.value } } finally { await it.return?.(undefined) }
      }
    }
    const projection: Projection = { ...auditProjection, apply: async (trx, ev) => { const t = performance.now(); const t1 = performance.now(); ev.map(auditRow); rowsMs += performance.now() - t1; await auditProjection.apply(trx, ev); apply += performance.now() - t } }
    const ac = new AbortController()
    let done = 0; let firstCp = 0
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await runProjector({ db, schema, projection, source, maxBatch: 500, onCheckpoint: (_n, seq) => { if (seq > 0 && firstCp === 0) firstCp = performance.now(); if (seq >= last && done === 0) { done = performance.now(); ac.abort() } } }, ac.signal)
    const s = (done - t0) / 1000
    const cu = process.cpuUsage(c0); console.log(r, 'projector', Math.round(N / s), 'events/s', `node cpu ${((cu.user + cu.system) / 1e6).toFixed(2)}s total ${s.toFixed(2)}s startup(to first read) ${((firstRead - t0) / 1000).toFixed(3)}s wait ${(wait / 1000).toFixed(2)}s apply ${(apply / 1000).toFixed(2)}s (auditRow alone ~${(rowsMs / 1000).toFixed(2)}s)`)
    for (const [k, v] of [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)) console.log('    ', v.n, (v.ms / 1000).toFixed(3) + 's', k)
  }
} finally {
  await store.jsm.streams.delete(store.stream).catch(() => {})
  const { rows } = await sql<{ nspname: string }>`SELECT nspname FROM pg_namespace WHERE nspname LIKE ${ns + '%'}`.execute(database.db)
  for (const { nspname } of rows) await sql`DROP SCHEMA ${sql.id(nspname)} CASCADE`.execute(database.db)
  await database.close(); await nc.close()
}
