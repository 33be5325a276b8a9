import t from 'tap'
import { sql } from 'kysely'
import type { RecordedEvent } from '../../domain/envelope.ts'
import { auditProjection } from '../../projections/audit.ts'
import { applyBatch, migrate } from '../../projections/runtime.ts'
import { openServices } from '../helpers/services.ts'

const services = await openServices()
t.teardown(services.teardown)
const { db } = services.database
const schema = services.namespace
await migrate(db, schema, auditProjection)

const event = (seq: number, data: unknown, over: Partial<RecordedEvent> = {}): RecordedEvent => ({
  id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
  type: 'orchestration.version_created',
  schema_version: 1,
  aggregate_type: 'orchestration',
  aggregate_id: `name "with" quotes, {braces} \\ and a comma`,
  version: seq,
  timestamp: '2025-03-12T14:00:00.000Z',
  actor: 'key-1',
  correlation_id: `c-${seq}`,
  causation_id: null,
  command_id: `cmd-${seq}`,
  data,
  seq,
  ...over
})

t.test('every value reaches the table exactly, whatever characters it holds', async t => {
  const tricky = [
    { text: 'quotes " and \' and \\ backslashes \\\\ and {"json": [1, 2]}', nested: { list: ['a,b', '{c}', 'NULL', null, ''] } },
    { text: 'déjà vu — ünïcödé 🚀 and a tab\tand a newline\n', n: 1.5e300, neg: -0, t: true },
    { text: 'NULL' },
    { secret: 'hunter2', value: 'v', inner: { token: 't' } }
  ]
  const events = tricky.map((data, i) => event(i + 1, data, i === 1 ? { causation_id: 'cause "1"' } : {}))
  const checkpoint = await applyBatch(db, schema, auditProjection, events)
  t.equal(checkpoint, 4)
  const { rows } = await sql<any>`SELECT seq, event_id, aggregate_id, version, causation_id, timestamp, data FROM ${sql.id(schema, 'audit_events')} ORDER BY seq`.execute(db)
  t.same(rows.map(r => Number(r.seq)), [1, 2, 3, 4])
  t.same(rows[0].data, tricky[0], 'quotes, backslashes, braces, commas and the word NULL survive')
  t.same(rows[1].data, { ...tricky[1], neg: 0 }, 'non-ASCII, tabs and newlines survive')
  t.same(rows[2].data, { text: 'NULL' }, 'the string NULL is not a null')
  t.same(rows[3].data, { secret: '***', value: '***', inner: { token: '***' } }, 'secrets are redacted')
  t.equal(rows[0].aggregate_id, events[0].aggregate_id)
  t.equal(rows[0].causation_id, null)
  t.equal(rows[1].causation_id, 'cause "1"')
  t.equal(new Date(rows[0].timestamp).toISOString(), '2025-03-12T14:00:00.000Z')

  // a redelivered batch changes nothing
  t.equal(await applyBatch(db, schema, auditProjection, events), 4)
  const count = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.id(schema, 'audit_events')}`.execute(db)
  t.equal(Number(count.rows[0].n), 4)
})
