import type { Kysely } from 'kysely'
import type { RecordedEvent } from '../domain/envelope.ts'
import type { Projection } from './projection.ts'

/** API keys: names, scopes and limits; the secret itself is never stored, only its hash. */
export const apiKeysProjection: Projection = {
  name: 'api_keys',
  tables: ['api_keys'],
  migrations: {
    '001_api_keys': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('api_keys')
          .addColumn('id', 'text', c => c.primaryKey())
          .addColumn('name', 'text', c => c.notNull())
          .addColumn('scopes', 'jsonb', c => c.notNull())
          .addColumn('rate_limits', 'jsonb')
          .addColumn('secret_hash', 'text', c => c.notNull())
          .addColumn('created_at', 'timestamptz', c => c.notNull())
          .addColumn('created_by', 'text', c => c.notNull())
          .addColumn('revoked_at', 'timestamptz')
          .execute()
        await db.schema.createIndex('api_keys_secret_hash').on('api_keys').column('secret_hash').execute()
      }
    }
  },
  async apply (trx, events) {
    for (const e of events as Array<RecordedEvent<any>>) {
      const d = e.data
      if (e.type === 'api_key.created') {
        await trx.insertInto('api_keys').values({
          id: d.id,
          name: d.name,
          scopes: JSON.stringify(d.scopes),
          rate_limits: d.rate_limits == null ? null : JSON.stringify(d.rate_limits),
          secret_hash: d.secret_hash,
          created_at: d.created_at,
          created_by: d.created_by
        }).onConflict(oc => oc.column('id').doNothing()).execute()
      } else if (e.type === 'api_key.revoked') {
        await trx.updateTable('api_keys').set({ revoked_at: d.revoked_at }).where('id', '=', d.id).execute()
      } else if (e.type === 'api_key.rate_limits_set') {
        await trx.updateTable('api_keys').set({ rate_limits: JSON.stringify(d.rate_limits) }).where('id', '=', d.id).execute()
      }
    }
  }
}
