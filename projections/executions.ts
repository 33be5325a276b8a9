import { sql, type Kysely } from 'kysely'
import type { RecordedEvent } from '../domain/envelope.ts'
import type { ExecutionLaunched, StepRunOutput } from '../domain/execution/events.ts'
import { evolveExecution, initialExecution, progressOf, type ExecutionState } from '../domain/execution/run.ts'
import type { Projection } from './projection.ts'

/**
 * Executions and their step runs. The row keeps the domain's own folded state, so status,
 * progress and each step run's status are computed by the very code the engine decides with.
 * A batch touches each execution once: read the states, fold, write back.
 */
export const executionsProjection: Projection = {
  name: 'executions',
  tables: ['executions', 'step_runs', 'step_outputs'],
  migrations: {
    '001_executions': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('executions')
          .addColumn('execution_id', 'text', c => c.primaryKey())
          .addColumn('orchestration_id', 'text', c => c.notNull())
          .addColumn('version', 'integer', c => c.notNull())
          .addColumn('status', 'text', c => c.notNull())
          .addColumn('progress', 'integer', c => c.notNull())
          .addColumn('undo_status', 'text')
          .addColumn('params', 'jsonb', c => c.notNull())
          .addColumn('targets', 'jsonb', c => c.notNull())
          .addColumn('parent_id', 'text')
          .addColumn('launched_at', 'timestamptz', c => c.notNull())
          .addColumn('launched_by', 'text', c => c.notNull())
          .addColumn('finished_at', 'timestamptz')
          .addColumn('state', 'jsonb', c => c.notNull())
          .addColumn('seq', 'bigint', c => c.notNull())
          .execute()
        await db.schema.createIndex('executions_status').on('executions').columns(['status', 'launched_at']).execute()
        await db.schema.createIndex('executions_orchestration').on('executions').columns(['orchestration_id', 'launched_at']).execute()
        await db.schema.createIndex('executions_launched').on('executions').columns(['launched_at', 'execution_id']).execute()
        await db.schema.createTable('step_runs')
          .addColumn('execution_id', 'text', c => c.notNull())
          .addColumn('step_id', 'text', c => c.notNull())
          .addColumn('server', 'text', c => c.notNull())
          .addColumn('position', 'integer', c => c.notNull())
          .addColumn('status', 'text', c => c.notNull())
          .addColumn('attempt', 'integer', c => c.notNull())
          .addColumn('rc', 'integer')
          .addColumn('error', 'text')
          .addColumn('stdout', 'text', c => c.notNull())
          .addColumn('stderr', 'text', c => c.notNull())
          .addColumn('started_at', 'timestamptz')
          .addColumn('finished_at', 'timestamptz')
          .addColumn('duration_ms', 'integer')
          .addColumn('undo_status', 'text')
          .addPrimaryKeyConstraint('step_runs_pk', ['execution_id', 'step_id', 'server'])
          .execute()
        await db.schema.createTable('step_outputs')
          .addColumn('seq', 'bigint', c => c.primaryKey())
          .addColumn('execution_id', 'text', c => c.notNull())
          .addColumn('step_id', 'text', c => c.notNull())
          .addColumn('server', 'text', c => c.notNull())
          .addColumn('kind', 'text', c => c.notNull())
          .addColumn('attempt', 'integer', c => c.notNull())
          .addColumn('stream', 'text', c => c.notNull())
          .addColumn('data', 'text', c => c.notNull())
          .execute()
        await db.schema.createIndex('step_outputs_run').on('step_outputs').columns(['execution_id', 'step_id', 'server', 'seq']).execute()
      }
    }
  },
  async apply (trx, events) {
    const ids = new Set<string>()
    for (const e of events) {
      if (e.aggregate_type === 'execution') ids.add(e.aggregate_id)
      else if (e.aggregate_type === 'step_run' && e.type !== 'step_run.output') ids.add((e.data as any).execution_id)
    }
    const states = new Map<string, { state: ExecutionState, seq: number }>()
    // as stored before this batch: a slot the batch left alone is the very same object after the
    // fold (evolve shares what it does not change), so only changed step runs are written
    const before = new Map<string, ExecutionState>()
    if (ids.size > 0) {
      const rows = await trx.selectFrom('executions').select(['execution_id', 'state', 'seq']).where('execution_id', 'in', [...ids]).execute()
      for (const r of rows) { states.set(r.execution_id, { state: r.state, seq: r.seq }); before.set(r.execution_id, r.state) }
    }
    const outputs: Array<Record<string, unknown>> = []
    const changed = new Set<string>()
    for (const e of events as RecordedEvent<any>[]) {
      if (e.type === 'step_run.output') {
        const d = e.data as StepRunOutput
        outputs.push({ seq: e.seq, execution_id: d.execution_id, step_id: d.step_id, server: d.server, kind: d.kind, attempt: d.attempt, stream: d.stream, data: d.data })
        continue
      }
      if (e.type === 'execution.launched') {
        states.set(e.aggregate_id, { state: initialExecution(e.data as ExecutionLaunched), seq: e.seq })
        before.delete(e.aggregate_id)
        changed.add(e.aggregate_id)
        continue
      }
      const id = e.aggregate_type === 'execution' ? e.aggregate_id : e.aggregate_type === 'step_run' ? e.data.execution_id : null
      const current = id != null ? states.get(id) : undefined
      if (id == null || current == null) continue
      states.set(id, { state: evolveExecution(current.state, e as any), seq: e.seq })
      changed.add(id)
    }
    if (outputs.length > 0) {
      for (let i = 0; i < outputs.length; i += 5000) {
        await trx.insertInto('step_outputs').values(outputs.slice(i, i + 5000)).onConflict(oc => oc.column('seq').doNothing()).execute()
      }
    }
    if (changed.size === 0) return
    const execRows = [...changed].map(id => {
      const { state, seq } = states.get(id)!
      const l = state.launch
      return {
        execution_id: id,
        orchestration_id: l.orchestration_id,
        version: l.version,
        status: state.status,
        progress: progressOf(state),
        undo_status: state.undoStatus,
        params: JSON.stringify(l.params),
        targets: JSON.stringify(l.targets),
        parent_id: l.parent?.execution_id ?? null,
        launched_at: l.launched_at,
        launched_by: l.launched_by,
        finished_at: state.completed ? finishedAt(state) : null,
        state: JSON.stringify(state),
        seq
      }
    })
    await trx.insertInto('executions').values(execRows).onConflict(oc => oc.column('execution_id').doUpdateSet({
      status: sql`excluded.status`,
      progress: sql`excluded.progress`,
      undo_status: sql`excluded.undo_status`,
      finished_at: sql`excluded.finished_at`,
      state: sql`excluded.state`,
      seq: sql`excluded.seq`
    })).execute()
    const runRows = [...changed].flatMap(id => {
      const { state } = states.get(id)!
      const old = before.get(id)?.slots
      const slots = Object.entries(state.slots).filter(([key, slot]) => old?.[key] !== slot).map(([, slot]) => slot)
      if (slots.length === 0) return []
      const position = new Map(state.launch.steps.map((s, i) => [s.id, i]))
      return slots.map(s => ({
        execution_id: id,
        step_id: s.step_id,
        server: s.server,
        position: position.get(s.step_id) ?? 0,
        status: s.status,
        attempt: s.attempt,
        rc: s.rc,
        error: s.error,
        stdout: s.stdout_tail,
        stderr: s.stderr_tail,
        started_at: s.started_at,
        finished_at: s.finished_at,
        duration_ms: s.duration_ms,
        undo_status: s.undo === 'none' ? null : s.undo
      }))
    })
    for (let i = 0; i < runRows.length; i += 3000) {
      await trx.insertInto('step_runs').values(runRows.slice(i, i + 3000)).onConflict(oc => oc.columns(['execution_id', 'step_id', 'server']).doUpdateSet({
        status: sql`excluded.status`,
        attempt: sql`excluded.attempt`,
        rc: sql`excluded.rc`,
        error: sql`excluded.error`,
        stdout: sql`excluded.stdout`,
        stderr: sql`excluded.stderr`,
        started_at: sql`excluded.started_at`,
        finished_at: sql`excluded.finished_at`,
        duration_ms: sql`excluded.duration_ms`,
        undo_status: sql`excluded.undo_status`
      })).execute()
    }
  }
}

function finishedAt (state: ExecutionState): string {
  const times = Object.values(state.slots).map(s => s.finished_at).filter((t): t is string => t != null).sort()
  return times[times.length - 1] ?? state.launch.launched_at
}
