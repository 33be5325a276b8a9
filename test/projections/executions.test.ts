// The executions read model keeps the folded state split: the launch once, the run's own fields,
// and each slot in its step run's row, so a batch writes only what it changed.
import t from 'tap'
import { sql } from 'kysely'
import type { RecordedEvent } from '../../domain/envelope.ts'
import type { ExecutionLaunched } from '../../domain/execution/events.ts'
import { evolveExecution, initialExecution, type ExecutionState } from '../../domain/execution/run.ts'
import { executionsProjection } from '../../projections/executions.ts'
import type { Projection } from '../../projections/projection.ts'
import { applyBatch, migrate } from '../../projections/runtime.ts'
import { openServices } from '../helpers/services.ts'

const services = await openServices()
t.teardown(services.teardown)
const { db } = services.database

const at = (s: number): string => new Date(Date.parse('2025-03-12T14:00:00.000Z') + s * 1000).toISOString()
const EX = 'ex-migrate-1'
const SERVERS = ['s1', 's2', 'web.example.com']

const launch: ExecutionLaunched = {
  execution_id: EX,
  orchestration_id: 'demo',
  version: 1,
  params: { who: 'world' },
  targets: SERVERS,
  steps: [
    { id: 'a', action: { type: 'shell', command: 'echo a' } },
    { id: 'b', after: ['a'], action: { type: 'shell', command: 'echo b' } }
  ],
  stop_on_error: true,
  undo_on_error: false,
  plan: { a: SERVERS, b: SERVERS },
  parent: null,
  launched_at: at(0),
  launched_by: 'key-1'
} as ExecutionLaunched

let seq = 0
const versions = new Map<string, number>()
function rec (aggregateType: string, aggregateId: string, type: string, data: any): RecordedEvent {
  seq++
  const version = (versions.get(aggregateId) ?? 0) + 1
  versions.set(aggregateId, version)
  return {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`, type, schema_version: 1, aggregate_type: aggregateType, aggregate_id: aggregateId,
    version, timestamp: at(seq), actor: 'engine', correlation_id: `c-${seq}`, causation_id: null, command_id: `cmd-${seq}`, data, seq
  }
}
const ref = (step: string, server: string) => ({ execution_id: EX, step_id: step, server, attempt: 1, kind: 'action' as const })
const runId = (step: string, server: string): string => `${EX}/action/${step}/${server}/1`

/** a launch, then step a on every server: dispatched, started, finished */
const first: RecordedEvent[] = [rec('execution', EX, 'execution.launched', launch)]
for (const server of SERVERS) first.push(rec('execution', EX, 'execution.step_dispatched', { ...ref('a', server), not_before: null, dispatched_at: at(seq) }))
for (const server of SERVERS) {
  first.push(rec('step_run', runId('a', server), 'step_run.started', { ...ref('a', server), instance: `i-${server}`, started_at: at(seq) }))
  first.push(rec('step_run', runId('a', server), 'step_run.finished', { ...ref('a', server), status: 'succeeded', rc: 0, error: null, stdout_tail: `a on ${server} "quoted"\n`, stderr_tail: '', started_at: at(1), finished_at: at(2), duration_ms: 1000 }))
}
/** then b on one server */
const second: RecordedEvent[] = [
  rec('execution', EX, 'execution.step_dispatched', { ...ref('b', 's1'), not_before: null, dispatched_at: at(seq) }),
  rec('step_run', runId('b', 's1'), 'step_run.started', { ...ref('b', 's1'), instance: 'i-s1', started_at: at(seq) })
]

const fold = (events: RecordedEvent[]): ExecutionState =>
  events.slice(1).reduce((s, e) => evolveExecution(s, e as any), initialExecution(events[0].data as ExecutionLaunched))

async function schemaWith (name: string, projection: Projection): Promise<string> {
  const s = `${services.namespace}__${name}`
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(s)}`.execute(db)
  await migrate(db, s, projection)
  return s
}

async function rows (s: string): Promise<{ executions: any[], step_runs: any[] }> {
  const executions = (await sql<any>`SELECT * FROM ${sql.id(s, 'executions')} ORDER BY execution_id`.execute(db)).rows
  const stepRuns = (await sql<any>`SELECT * FROM ${sql.id(s, 'step_runs')} ORDER BY execution_id, step_id, server`.execute(db)).rows
  return { executions, step_runs: stepRuns }
}

t.test('a batch writes only the step runs it changed, and the rows hold the folded state', async t => {
  const s = await schemaWith('split', executionsProjection)
  await applyBatch(db, s, executionsProjection, first)
  // mark every step run row, then apply a batch that concerns b on s1 only
  await sql`UPDATE ${sql.id(s, 'step_runs')} SET error = 'untouched'`.execute(db)
  await applyBatch(db, s, executionsProjection, second)
  const { executions, step_runs: runs } = await rows(s)
  t.same(runs.filter(r => r.error !== 'untouched').map(r => `${r.step_id}@${r.server}`), ['b@s1'], 'only b@s1 was written')
  const state = fold([...first, ...second])
  t.same(executions[0].launch, JSON.parse(JSON.stringify(state.launch)), 'the launch, once')
  t.same(executions[0].state, { cancelRequested: false, completed: false, status: 'running', undoStatus: null, successes: 3 }, "the run's own fields")
  for (const r of runs) t.same(r.slot, JSON.parse(JSON.stringify(state.slots[`${r.step_id}\u001f${r.server}`])), `slot ${r.step_id}@${r.server}`)
  t.equal(executions[0].progress, 50)
})

t.test('rows written before the split are split by the migration exactly as the projection writes them now', async t => {
  // the read model as the first version left it: the whole state in one document
  const firstVersion: Projection = { ...executionsProjection, migrations: { '001_executions': executionsProjection.migrations['001_executions'] } }
  const old = await schemaWith('old', firstVersion)
  const now = await schemaWith('now', executionsProjection)
  await applyBatch(db, now, executionsProjection, first)
  const written = await rows(now)
  const state = fold(first)
  const e = written.executions[0]
  await sql`INSERT INTO ${sql.id(old, 'executions')} (execution_id, orchestration_id, version, status, progress, undo_status, params, targets, parent_id, launched_at, launched_by, finished_at, state, seq)
    VALUES (${e.execution_id}, ${e.orchestration_id}, ${e.version}, ${e.status}, ${e.progress}, ${e.undo_status}, ${JSON.stringify(e.params)}, ${JSON.stringify(e.targets)}, ${e.parent_id}, ${e.launched_at}, ${e.launched_by}, ${e.finished_at}, ${JSON.stringify(state)}, ${e.seq})`.execute(db)
  for (const r of written.step_runs) {
    await sql`INSERT INTO ${sql.id(old, 'step_runs')} (execution_id, step_id, server, position, status, attempt, rc, error, stdout, stderr, started_at, finished_at, duration_ms, undo_status)
      VALUES (${r.execution_id}, ${r.step_id}, ${r.server}, ${r.position}, ${r.status}, ${r.attempt}, ${r.rc}, ${r.error}, ${r.stdout}, ${r.stderr}, ${r.started_at}, ${r.finished_at}, ${r.duration_ms}, ${r.undo_status})`.execute(db)
  }
  await sql`INSERT INTO ${sql.id(old, 'checkpoints')} (projection, seq) VALUES ('executions', ${seq - second.length})`.execute(db)

  await migrate(db, old, executionsProjection)
  t.same(await rows(old), written, 'the migrated rows equal what the projection writes')

  // and the projector goes on from them (read from the rows: what this process folded last is
  // newer than them once the other schema has moved on)
  await applyBatch(db, now, executionsProjection, second)
  await applyBatch(db, old, executionsProjection, second)
  t.same(await rows(old), await rows(now), 'the next batch lands the same on both')
})
