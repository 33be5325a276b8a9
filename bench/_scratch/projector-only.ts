import { randomUUID } from 'node:crypto'
import { Session } from 'node:inspector/promises'
import { writeFileSync, mkdirSync } from 'node:fs'
import { sql } from 'kysely'
import { connect } from '@nats-io/transport-node'
import { EventStore } from '/work/main/src/event-store.ts'
import { openDatabase } from '/work/main/src/db.ts'
import { auditProjection } from '/work/main/projections/audit.ts'
import { migrate, runProjector } from '/work/main/projections/runtime.ts'
import { workerPool } from '/work/main/bench/pool.ts'
import { appendMeta, orchestrationRef, versionCreated } from '/work/main/bench/payload.ts'

const N = Number(process.argv[2] ?? 20000)
const ns = 'bx_' + randomUUID().slice(0, 8)
const nc = await connect({ servers: '127.0.0.1:4222' })
const database = await openDatabase('postgres://127.0.0.1:5432/dimensigon_bench', ns)
const store = await EventStore.open(nc, ns)
const session = new Session(); session.connect()
try {
  await workerPool(N, 256, async i => { const ref = orchestrationRef(i); await store.append(ref, { version: 0, lastSeq: 0 }, [versionCreated(ref)], appendMeta(i)) })
  const last = await store.lastSeq()
  for (let r = 0; r < Number(process.env.ROUNDS ?? 2); r++) {
    const schema = `${ns}_p${r}`
    await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(database.db)
    await migrate(database.db, schema, auditProjection)
    await session.post('Profiler.enable'); await session.post('Profiler.start')
    const ac = new AbortController(); let done = 0
    const c0 = process.cpuUsage(); const t0 = performance.now()
    await runProjector({ db: database.db, schema, projection: auditProjection, source: store, maxBatch: 500, onCheckpoint: (_n, seq) => { if (seq >= last && done === 0) { done = performance.now(); ac.abort() } } }, ac.signal)
    const { profile } = await session.post('Profiler.stop')
    const cu = process.cpuUsage(c0)
    mkdirSync('/tmp/prof4', { recursive: true }); writeFileSync(`/tmp/prof4/r${r}.cpuprofile`, JSON.stringify(profile))
    console.log(r, 'projector', Math.round(N / ((done - t0) / 1000)), 'events/s', 'node cpu', ((cu.user + cu.system) / 1e6).toFixed(2), 's of', ((done - t0) / 1000).toFixed(2), 's, load', (await import('node:os')).loadavg()[0])
  }
} finally {
  await store.jsm.streams.delete(store.stream).catch(() => {})
  const { rows } = await sql<{ nspname: string }>`SELECT nspname FROM pg_namespace WHERE nspname LIKE ${ns + '%'}`.execute(database.db)
  for (const { nspname } of rows) await sql`DROP SCHEMA ${sql.id(nspname)} CASCADE`.execute(database.db)
  await database.close(); await nc.close()
}
