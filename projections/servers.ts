import type { Kysely } from 'kysely'
import type { RecordedEvent } from '../domain/envelope.ts'
import type { Projection } from './projection.ts'

/** Registered servers (agents): name, groups, current instance. Liveness comes from heartbeats. */
export const serversProjection: Projection = {
  name: 'servers',
  tables: ['servers'],
  migrations: {
    '001_servers': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('servers')
          .addColumn('name', 'text', c => c.primaryKey())
          .addColumn('groups', 'jsonb', c => c.notNull())
          .addColumn('instance', 'text', c => c.notNull())
          .addColumn('hostname', 'text', c => c.notNull())
          .addColumn('registered_at', 'timestamptz', c => c.notNull())
          .addColumn('started_at', 'timestamptz', c => c.notNull())
          .execute()
      }
    }
  },
  async apply (trx, events) {
    for (const e of events as RecordedEvent<any>[]) {
      if (e.type !== 'server.started') continue
      const d = e.data
      await trx.insertInto('servers').values({
        name: d.name, groups: JSON.stringify(d.groups), instance: d.instance, hostname: d.hostname, registered_at: d.started_at, started_at: d.started_at
      }).onConflict(oc => oc.column('name').doUpdateSet({ groups: JSON.stringify(d.groups), instance: d.instance, hostname: d.hostname, started_at: d.started_at })).execute()
    }
  }
}
