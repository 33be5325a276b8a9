import { sql, type Kysely } from 'kysely'
import type { RecordedEvent } from '../domain/envelope.ts'
import type { Projection } from './projection.ts'

/** Fields never copied into the audit trail: secrets, their hashes and ciphertexts. */
const REDACTED_FIELDS = new Set(['secret_hash', 'secret', 'value', 'ciphertext', 'wrapped_key', 'api_key', 'password', 'token'])

export function redactForAudit (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactForAudit)
  if (value == null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = REDACTED_FIELDS.has(k) ? '***' : redactForAudit(v)
  return out
}

/** Every event of the log, in log order: the audit trail. One multi-row insert per batch. */
export const auditProjection: Projection = {
  name: 'audit',
  tables: ['audit_events'],
  migrations: {
    '001_audit_events': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('audit_events')
          .addColumn('seq', 'bigint', c => c.primaryKey())
          .addColumn('event_id', 'text', c => c.notNull())
          .addColumn('type', 'text', c => c.notNull())
          .addColumn('aggregate_type', 'text', c => c.notNull())
          .addColumn('aggregate_id', 'text', c => c.notNull())
          .addColumn('version', 'integer', c => c.notNull())
          .addColumn('actor', 'text', c => c.notNull())
          .addColumn('timestamp', 'timestamptz', c => c.notNull())
          .addColumn('correlation_id', 'text', c => c.notNull())
          .addColumn('causation_id', 'text')
          .addColumn('data', 'jsonb', c => c.notNull())
          .execute()
        await db.schema.createIndex('audit_events_aggregate').on('audit_events').columns(['aggregate_type', 'aggregate_id', 'seq']).execute()
        await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['actor', 'seq']).execute()
        await db.schema.createIndex('audit_events_type').on('audit_events').columns(['type', 'seq']).execute()
        await db.schema.createIndex('audit_events_timestamp').on('audit_events').columns(['timestamp']).execute()
      }
    }
  },
  async apply (trx, events) {
    // The batch as one JSON document, expanded by Postgres: one JSON.stringify here (no per-value
    // escaping), one statement whatever the batch size (a VALUES list has 11 parameters a row, and
    // caps at 65535)
    const columns = Object.keys(AUDIT_COLUMNS)
    const recordType = columns.map(c => `"${c}" ${AUDIT_COLUMNS[c]}`).join(', ')
    await trx.insertInto('audit_events').columns(columns)
      .expression(sql`SELECT * FROM jsonb_to_recordset(${JSON.stringify(events.map(auditRow))}::jsonb) AS x(${sql.raw(recordType)})`)
      .onConflict(oc => oc.column('seq').doNothing()).execute()
  }
}

/** The audit table's columns and their Postgres types, in table order. */
export const AUDIT_COLUMNS: Record<string, string> = {
  seq: 'bigint', event_id: 'text', type: 'text', aggregate_type: 'text', aggregate_id: 'text', version: 'integer',
  actor: 'text', timestamp: 'timestamptz', correlation_id: 'text', causation_id: 'text', data: 'jsonb'
}

/** One row of `audit_events`; `data` redacted, as an object. */
export function auditRow (e: RecordedEvent): Record<string, unknown> {
  return {
    seq: e.seq,
    event_id: e.id,
    type: e.type,
    aggregate_type: e.aggregate_type,
    aggregate_id: e.aggregate_id,
    version: e.version,
    actor: e.actor,
    timestamp: e.timestamp,
    correlation_id: e.correlation_id,
    causation_id: e.causation_id,
    data: redactForAudit(e.data)
  }
}
