import { createHash, randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { nameFilter } from '../../../domain/api-key/scopes.ts'
import { fold } from '../../../domain/decider.ts'
import { orchestrationDecider, orchestrationView } from '../../../domain/orchestration/decider.ts'
import { executionDecider } from '../../../domain/execution/launch.ts'
import { launchSchema, EXECUTION_READ_ONLY } from '../../../domain/execution/schemas.ts'
import { handleCommand } from '../../commands.ts'
import { commandContext, decodeCursor, filteredPage, principalOf, requireScope, visible, type AppDeps } from '../context.ts'
import { problem } from '../problem.ts'
import { withListQuery } from './queries.ts'

const iso = (v: unknown): string | null => v == null ? null : v instanceof Date ? v.toISOString() : String(v)
const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 100 } }, required: ['id'] }

function summary (r: any): Record<string, unknown> {
  return {
    execution_id: r.execution_id,
    orchestration_id: r.orchestration_id,
    version: r.version,
    status: r.status,
    progress: r.progress,
    undo_status: r.undo_status,
    params: r.params,
    targets: r.targets,
    parent_execution_id: r.parent_id,
    launched_at: iso(r.launched_at),
    launched_by: r.launched_by,
    finished_at: iso(r.finished_at)
  }
}

/** `POST /launch`, `/executions` (list, detail, output, cancel). */
export function executionRoutes (deps: AppDeps) {
  const q = () => deps.db.withSchema(deps.schema)
  return async function (app: FastifyInstance): Promise<void> {
    app.post('/launch', { config: { scope: 'executions:launch' }, schema: { body: launchSchema } }, async (req, reply) => {
      const body = req.body as { orchestration_id: string, version?: number, targets?: string[], params?: Record<string, unknown> }
      for (const k of EXECUTION_READ_ONLY) delete (body as any)[k]
      requireScope(req, 'executions:launch', body.orchestration_id)
      const { events } = await deps.store.load({ type: 'orchestration', id: body.orchestration_id })
      const orchestration = orchestrationView(fold(orchestrationDecider, events as any), body.version)
      if (orchestration == null) throw problem(404, `orchestration ${body.orchestration_id}${body.version != null ? ` version ${body.version}` : ''} not found`)
      const servers = (await q().selectFrom('servers').select(['name', 'groups']).execute()).map(s => ({ name: s.name as string, groups: s.groups as string[] }))
      const ctx = commandContext(req, deps)
      // with an Idempotency-Key, a retried launch is the same execution
      const key = req.headers['idempotency-key']
      const executionId = typeof key === 'string' && key !== '' ? uuidFrom(ctx.commandId) : randomUUID()
      const outcome = await handleCommand(deps.store, executionDecider, { type: 'execution', id: executionId }, {
        type: 'LaunchExecution',
        data: { execution_id: executionId, orchestration, targets: body.targets ?? [], params: body.params ?? {}, servers, parent: null }
      }, ctx)
      await visible(deps, req, outcome.seq)
      const row = await q().selectFrom('executions').selectAll().where('execution_id', '=', executionId).executeTakeFirst()
      reply.code(202).header('location', `/api/v1.0/executions/${executionId}`)
      return row != null ? summary(row) : { execution_id: executionId, status: 'pending', orchestration_id: orchestration.name, version: orchestration.version }
    })

    app.get('/executions', {
      config: { scope: 'executions:read' },
      schema: {
        querystring: withListQuery({
          status: { type: 'string', enum: ['pending', 'running', 'succeeded', 'failed', 'cancelled'] },
          orchestration_id: { type: 'string', maxLength: 100 },
          since: { type: 'string', format: 'date-time', description: 'Launched at or after' }
        })
      }
    }, async (req) => {
      const f = req.query as { limit: number, cursor?: string, status?: string, orchestration_id?: string, since?: string }
      const allowed = nameFilter(principalOf(req).scopes, 'executions:read') ?? (() => false)
      const page = await filteredPage<any, [string, string]>({
        limit: f.limit,
        after: decodeCursor<[string, string]>(f.cursor),
        keep: r => allowed(r.orchestration_id),
        keyOf: r => [iso(r.launched_at)!, r.execution_id],
        fetch: async (after, n) => {
          let query = q().selectFrom('executions').select(['execution_id', 'orchestration_id', 'version', 'status', 'progress', 'undo_status', 'params', 'targets', 'parent_id', 'launched_at', 'launched_by', 'finished_at'])
            .orderBy('launched_at', 'desc').orderBy('execution_id', 'desc').limit(n)
          if (after != null) {
            const [at, id] = after
            query = query.where(eb => eb.or([eb('launched_at', '<', new Date(at)), eb.and([eb('launched_at', '=', new Date(at)), eb('execution_id', '<', id)])]))
          }
          if (f.status != null) query = query.where('status', '=', f.status)
          if (f.orchestration_id != null) query = query.where('orchestration_id', '=', f.orchestration_id)
          if (f.since != null) query = query.where('launched_at', '>=', new Date(f.since))
          return await query.execute()
        }
      })
      return { items: page.items.map(summary), next_cursor: page.nextCursor }
    })

    const load = async (id: string, scope: string, req: any): Promise<any> => {
      const row = await q().selectFrom('executions').select(['execution_id', 'orchestration_id', 'version', 'status', 'progress', 'undo_status', 'params', 'targets', 'parent_id', 'launched_at', 'launched_by', 'finished_at'])
        .where('execution_id', '=', id).executeTakeFirst()
      if (row == null) throw problem(404, `execution ${id} not found`)
      requireScope(req, scope, row.orchestration_id)
      return row
    }

    app.get('/executions/:id', { config: { scope: 'executions:read' }, schema: { params: idParams } }, async (req) => {
      const { id } = req.params as { id: string }
      const row = await load(id, 'executions:read', req)
      const runs = await q().selectFrom('step_runs').selectAll().where('execution_id', '=', id).orderBy('position').orderBy('server').execute()
      return {
        ...summary(row),
        steps: runs.map(s => ({
          step_id: s.step_id,
          server: s.server,
          status: s.status,
          attempt: s.attempt,
          rc: s.rc,
          error: s.error,
          stdout: s.stdout,
          stderr: s.stderr,
          started_at: iso(s.started_at),
          finished_at: iso(s.finished_at),
          duration_ms: s.duration_ms,
          undo_status: s.undo_status
        }))
      }
    })

    app.get('/executions/:id/steps/:step_id/output', {
      config: { scope: 'executions:read' },
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 100 }, step_id: { type: 'string', maxLength: 100 } }, required: ['id', 'step_id'] },
        querystring: {
          type: 'object',
          properties: {
            server: { type: 'string', maxLength: 200 },
            attempt: { type: 'integer', minimum: 1, description: 'Attempt (default: the latest)' },
            kind: { type: 'string', enum: ['action', 'undo'], default: 'action' }
          }
        }
      }
    }, async (req) => {
      const { id, step_id: stepId } = req.params as { id: string, step_id: string }
      const f = req.query as { server?: string, attempt?: number, kind: string }
      await load(id, 'executions:read', req)
      let runs = q().selectFrom('step_runs').select(['server', 'attempt']).where('execution_id', '=', id).where('step_id', '=', stepId)
      if (f.server != null) runs = runs.where('server', '=', f.server)
      const found = await runs.orderBy('server').execute()
      if (found.length === 0) throw problem(404, `execution ${id} has no step ${stepId}${f.server != null ? ` on ${f.server}` : ''}`)
      const items = []
      for (const run of found) {
        const attempt = f.kind === 'undo' ? 1 : f.attempt ?? run.attempt
        const chunks = await q().selectFrom('step_outputs').select(['stream', 'data'])
          .where('execution_id', '=', id).where('step_id', '=', stepId).where('server', '=', run.server)
          .where('kind', '=', f.kind).where('attempt', '=', attempt).orderBy('seq').execute()
        items.push({
          server: run.server,
          attempt,
          kind: f.kind,
          stdout: chunks.filter(c => c.stream === 'stdout').map(c => c.data).join(''),
          stderr: chunks.filter(c => c.stream === 'stderr').map(c => c.data).join('')
        })
      }
      return { execution_id: id, step_id: stepId, items }
    })

    app.post('/executions/:id/cancel', { config: { scope: 'executions:cancel' }, schema: { params: idParams } }, async (req, reply) => {
      const { id } = req.params as { id: string }
      await load(id, 'executions:cancel', req)
      const outcome = await handleCommand(deps.store, executionDecider, { type: 'execution', id }, { type: 'CancelExecution', data: { execution_id: id } }, commandContext(req, deps))
      await visible(deps, req, outcome.seq)
      reply.code(202)
      return summary(await load(id, 'executions:cancel', req))
    })
  }
}

function uuidFrom (seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}
