// kysely's migrator scans every schema of the database; other installations (and other test
// files) create and drop schemas all along. Migrating must not fail on what they drop meanwhile.
import t from 'tap'
import { sql } from 'kysely'
import { executionsProjection } from '../../projections/executions.ts'
import { auditProjection } from '../../projections/audit.ts'
import { migrate } from '../../projections/runtime.ts'
import { openServices } from '../helpers/services.ts'

const services = await openServices()
t.teardown(services.teardown)
const { db } = services.database

t.test('migrations succeed while other schemas come and go', async t => {
  let churning = true
  let churned = 0
  const churn = Promise.all([0, 1, 2, 3].map(async k => {
    for (let n = 0; churning; n++) {
      const s = `${services.namespace}__churn${k}_${n % 2}`
      await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(s)}`.execute(db)
      await sql`CREATE TABLE IF NOT EXISTS ${sql.id(s, 'wide')} (${sql.raw(Array.from({ length: 40 }, (_, i) => `c${i} serial`).join(', '))})`.execute(db)
      await sql`DROP SCHEMA ${sql.id(s)} CASCADE`.execute(db)
      churned++
    }
  }))
  try {
    for (let i = 0; i < 12; i++) {
      const s = `${services.namespace}__m${i}`
      await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(s)}`.execute(db)
      await migrate(db, s, executionsProjection)
      await migrate(db, s, auditProjection)
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = ${s} AND table_name = 'step_runs' AND column_name = 'slot'`.execute(db)
      t.equal(rows[0].n, 1, `schema ${i} migrated to the latest`)
    }
  } finally {
    churning = false
    await churn
  }
  t.ok(churned > 0, `${churned} schemas came and went meanwhile`)
})
