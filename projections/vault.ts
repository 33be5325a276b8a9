import { sql, type Kysely } from 'kysely'
import type { RecordedEvent } from '../domain/envelope.ts'
import type { Projection } from './projection.ts'

/** Vault secrets: names and metadata only. Neither values nor ciphertexts ever reach this table. */
export const vaultProjection: Projection = {
  name: 'vault_secrets',
  tables: ['vault_secrets'],
  migrations: {
    '001_vault_secrets': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('vault_secrets')
          .addColumn('name', 'text', c => c.primaryKey())
          .addColumn('scope', 'text', c => c.notNull())
          .addColumn('description', 'text')
          .addColumn('version', 'integer', c => c.notNull())
          .addColumn('created_at', 'timestamptz', c => c.notNull())
          .addColumn('updated_at', 'timestamptz', c => c.notNull())
          .addColumn('created_by', 'text', c => c.notNull())
          .addColumn('deleted', 'boolean', c => c.notNull().defaultTo(false))
          .addColumn('deleted_at', 'timestamptz')
          .execute()
      }
    }
  },
  async apply (trx, events) {
    for (const e of events as Array<RecordedEvent<any>>) {
      const d = e.data
      if (e.type === 'vault.secret_set') {
        // a secret set again after its deletion starts a new life: created_* are the new ones
        await trx.insertInto('vault_secrets').values({
          name: d.name,
          scope: d.scope,
          description: d.description ?? null,
          version: d.version,
          created_at: d.set_at,
          updated_at: d.set_at,
          created_by: d.set_by,
          deleted: false,
          deleted_at: null
        }).onConflict(oc => oc.column('name').doUpdateSet({
          scope: sql`excluded.scope`,
          description: sql`excluded.description`,
          version: sql`excluded.version`,
          updated_at: sql`excluded.updated_at`,
          created_at: sql`case when vault_secrets.deleted then excluded.created_at else vault_secrets.created_at end`,
          created_by: sql`case when vault_secrets.deleted then excluded.created_by else vault_secrets.created_by end`,
          deleted: false,
          deleted_at: null
        }).where('vault_secrets.version', '<', d.version)).execute()
      } else if (e.type === 'vault.secret_deleted') {
        await trx.updateTable('vault_secrets').set({ deleted: true, deleted_at: d.deleted_at }).where('name', '=', d.name).execute()
      }
    }
  }
}
