import { sql, type Kysely } from 'kysely'
import type { RecordedEvent } from '../domain/envelope.ts'
import type { Projection } from './projection.ts'

/** Orchestrations, their immutable versions and the steps of each version. */
export const orchestrationsProjection: Projection = {
  name: 'orchestrations',
  tables: ['orchestrations', 'orchestration_versions', 'orchestration_steps'],
  migrations: {
    '001_orchestrations': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('orchestrations')
          .addColumn('name', 'text', c => c.primaryKey())
          .addColumn('latest_version', 'integer', c => c.notNull())
          .addColumn('description', 'text')
          .addColumn('archived', 'boolean', c => c.notNull().defaultTo(false))
          .addColumn('archived_at', 'timestamptz')
          .addColumn('created_at', 'timestamptz', c => c.notNull())
          .addColumn('created_by', 'text', c => c.notNull())
          .addColumn('updated_at', 'timestamptz', c => c.notNull())
          .addColumn('seq', 'bigint', c => c.notNull())
          .execute()
        await db.schema.createTable('orchestration_versions')
          .addColumn('name', 'text', c => c.notNull())
          .addColumn('version', 'integer', c => c.notNull())
          .addColumn('definition', 'jsonb', c => c.notNull())
          .addColumn('created_at', 'timestamptz', c => c.notNull())
          .addColumn('created_by', 'text', c => c.notNull())
          .addPrimaryKeyConstraint('orchestration_versions_pk', ['name', 'version'])
          .execute()
        await db.schema.createTable('orchestration_steps')
          .addColumn('name', 'text', c => c.notNull())
          .addColumn('version', 'integer', c => c.notNull())
          .addColumn('step_id', 'text', c => c.notNull())
          .addColumn('position', 'integer', c => c.notNull())
          .addColumn('after', 'jsonb', c => c.notNull())
          .addColumn('action_type', 'text', c => c.notNull())
          .addColumn('target', 'jsonb')
          .addPrimaryKeyConstraint('orchestration_steps_pk', ['name', 'version', 'step_id'])
          .execute()
      }
    }
  },
  async apply (trx, events) {
    for (const e of events) {
      if (e.type === 'orchestration.version_created') await versionCreated(trx, e as RecordedEvent<any>)
      else if (e.type === 'orchestration.archived') {
        const d = (e as RecordedEvent<any>).data
        await trx.updateTable('orchestrations')
          .set({ archived: true, archived_at: d.archived_at, updated_at: e.timestamp, seq: e.seq })
          .where('name', '=', d.name).execute()
      }
    }
  }
}

async function versionCreated (trx: Kysely<any>, e: RecordedEvent<any>): Promise<void> {
  const { name, version, definition, created_at: createdAt, created_by: createdBy } = e.data
  await trx.insertInto('orchestration_versions')
    .values({ name, version, definition: JSON.stringify(definition), created_at: createdAt, created_by: createdBy })
    .onConflict(oc => oc.columns(['name', 'version']).doNothing()).execute()
  const steps: any[] = definition.steps ?? []
  if (steps.length > 0) {
    await trx.insertInto('orchestration_steps').values(steps.map((s, position) => ({
      name,
      version,
      step_id: s.id,
      position,
      after: JSON.stringify(s.after ?? []),
      action_type: s.action.type,
      target: s.target == null ? null : JSON.stringify(s.target)
    }))).onConflict(oc => oc.columns(['name', 'version', 'step_id']).doNothing()).execute()
  }
  await trx.insertInto('orchestrations').values({
    name,
    latest_version: version,
    description: definition.description ?? null,
    created_at: createdAt,
    created_by: createdBy,
    updated_at: createdAt,
    seq: e.seq
  }).onConflict(oc => oc.column('name').doUpdateSet({
    latest_version: sql`greatest(orchestrations.latest_version, excluded.latest_version)`,
    description: sql`case when excluded.latest_version >= orchestrations.latest_version then excluded.description else orchestrations.description end`,
    updated_at: sql`excluded.updated_at`,
    seq: sql`excluded.seq`
  })).execute()
}
