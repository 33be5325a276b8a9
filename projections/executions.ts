import { sql, type Kysely } from 'kysely'
import type { RecordedEvent } from '../domain/envelope.ts'
import type { ExecutionLaunched, StepRunOutput } from '../domain/execution/events.ts'
import { evolveExecution, initialExecution, progressOf, slotKey, type ExecutionState } from '../domain/execution/run.ts'
import type { Projection } from './projection.ts'

/**
 * Executions and their step runs. The rows keep the domain's own folded state, so status,
 * progress and each step run's status are computed by the very code the engine decides with:
 * the launch (written once), the run's own fields (`state`), and each slot in its step run's row
 * (`slot`), so a batch writes what it changed, not every step run of a 1,000-step execution.
 * A batch touches each execution once: read the states (or take them from the cache), fold,
 * write back what changed.
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
    },
    // the folded state was one document per execution, rewritten whole by every batch
    '002_state_split': {
      async up (db: Kysely<any>) {
        await db.schema.alterTable('executions').addColumn('launch', 'jsonb').execute()
        await db.schema.alterTable('step_runs').addColumn('slot', 'jsonb').execute()
        // (the builder, not raw SQL: it puts the tables in this projection's schema)
        await db.updateTable('step_runs as r').from('executions as e')
          .set({ slot: sql`e.state->'slots'->(r.step_id || chr(31) || r.server)` })
          .whereRef('e.execution_id', '=', 'r.execution_id').execute()
        await db.updateTable('executions').set({ launch: sql`state->'launch'`, state: sql`state - 'launch' - 'slots'` }).execute()
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
      const rows = await trx.selectFrom('executions').select(['execution_id', 'seq']).where('execution_id', 'in', [...ids]).execute()
      const stale: string[] = []
      for (const r of rows) {
        const cached = folded.get(r.execution_id)
        if (cached?.seq === Number(r.seq)) states.set(r.execution_id, cached)
        else stale.push(r.execution_id)
      }
      for (const [id, loaded] of await loadStates(trx, stale)) states.set(id, loaded)
      for (const [id, { state }] of states) before.set(id, state)
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
        state: JSON.stringify(runFields(state)),
        // written once, with the execution: an update never sends it again
        ...(before.has(id) ? {} : { launch: JSON.stringify(l) }),
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
        undo_status: s.undo === 'none' ? null : s.undo,
        slot: JSON.stringify(s)
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
        undo_status: sql`excluded.undo_status`,
        slot: sql`excluded.slot`
      })).execute()
    }
    for (const id of changed) {
      const { state, seq } = states.get(id)!
      if (state.completed) folded.delete(id)
      else remember(id, { state, seq })
    }
  }
}

/**
 * States of running executions as this process last folded them, valid while the row's seq is
 * the same (then the row holds exactly this state: it is a function of the execution's events up
 * to that seq). Saves reading every step run of a big execution for each batch. A batch that
 * does not commit leaves a newer seq here than in the row, so the next batch reads the row.
 */
const folded = new Map<string, { state: ExecutionState, seq: number }>()
const FOLDED_LIMIT = 1_000

function remember (id: string, entry: { state: ExecutionState, seq: number }): void {
  folded.delete(id)
  folded.set(id, entry)
  if (folded.size > FOLDED_LIMIT) folded.delete(folded.keys().next().value!)
}

/** The run's own fields: the state without the launch and the slots, which have columns of their own. */
function runFields (state: ExecutionState): Omit<ExecutionState, 'launch' | 'slots'> {
  const { launch: _launch, slots: _slots, ...rest } = state
  return rest
}

async function loadStates (trx: Kysely<any>, ids: string[]): Promise<Map<string, { state: ExecutionState, seq: number }>> {
  const out = new Map<string, { state: ExecutionState, seq: number }>()
  if (ids.length === 0) return out
  const heads = await trx.selectFrom('executions').select(['execution_id', 'state', 'launch', 'seq']).where('execution_id', 'in', ids).execute()
  const slots = await trx.selectFrom('step_runs').select(['execution_id', 'step_id', 'server', 'slot']).where('execution_id', 'in', ids).execute()
  for (const h of heads) out.set(h.execution_id, { state: { ...h.state, launch: h.launch, slots: {} }, seq: Number(h.seq) })
  for (const r of slots) {
    const state = out.get(r.execution_id)?.state
    if (state != null) state.slots[slotKey(r.step_id, r.server)] = r.slot
  }
  return out
}

function finishedAt (state: ExecutionState): string {
  const times = Object.values(state.slots).map(s => s.finished_at).filter((t): t is string => t != null).sort()
  return times[times.length - 1] ?? state.launch.launched_at
}
