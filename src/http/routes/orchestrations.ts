import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { nameFilter, globToRegExp } from '../../../domain/api-key/scopes.ts'
import { fold } from '../../../domain/decider.ts'
import { orchestrationDecider, orchestrationView, type OrchestrationBody } from '../../../domain/orchestration/decider.ts'
import { orchestrationSchema, ORCHESTRATION_NAME_PATTERN, MAX_VERSION } from '../../../domain/orchestration/schemas.ts'
import { handleCommand } from '../../commands.ts'
import { commandContext, decodeCursor, filteredPage, principalOf, requireScope, visible, type AppDeps } from '../context.ts'
import { problem } from '../problem.ts'
import { withListQuery } from './queries.ts'

const ref = (name: string) => ({ type: 'orchestration', id: name })
const nameParams = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 100, pattern: ORCHESTRATION_NAME_PATTERN } },
  required: ['name']
}
const iso = (v: unknown): string => v instanceof Date ? v.toISOString() : String(v)

/** A version as the API shows it, from the read model's rows (same shape as orchestrationView). */
function viewOf (o: any, v: any): Record<string, unknown> {
  const d = v.definition
  return {
    name: o.name,
    version: v.version,
    description: d.description,
    params: d.params,
    stop_on_error: d.stop_on_error,
    undo_on_error: d.undo_on_error,
    steps: d.steps,
    archived: o.archived,
    created_at: iso(v.created_at),
    updated_at: o.archived_at != null ? iso(o.archived_at) : iso(v.created_at),
    created_by: v.created_by
  }
}

export function orchestrationRoutes (deps: AppDeps) {
  const q = () => deps.db.withSchema(deps.schema)

  return async function (app: FastifyInstance): Promise<void> {
    app.post('/', { config: { scope: 'orchestrations:write' }, schema: { body: orchestrationSchema } }, async (req, reply) => {
      const body = req.body as OrchestrationBody
      requireScope(req, 'orchestrations:write', body.name)
      const outcome = await handleCommand(deps.store, orchestrationDecider, ref(body.name),
        { type: 'CreateOrchestrationVersion', data: { definition: body } }, commandContext(req, deps))
      await visible(deps, req, outcome.seq)
      const created = outcome.events[0]?.data as { version: number } | undefined
      const view = orchestrationView(outcome.state, created?.version ?? body.version)
      reply.code(outcome.appended ? 201 : 200).header('location', `/api/v1.0/orchestrations/${body.name}?version=${view?.version ?? ''}`)
      return view
    })

    app.get('/', {
      config: { scope: 'orchestrations:read' },
      schema: {
        querystring: withListQuery({
          name: { type: 'string', maxLength: 100, description: 'Name or glob (deploy-*)' },
          archived: { type: 'string', enum: ['false', 'true', 'all'], default: 'false', description: 'Archived ones: hidden (false), only (true), or all' }
        })
      }
    }, async (req) => {
      const query = req.query as { limit: number, cursor?: string, name?: string, archived: string }
      const allowed = nameFilter(principalOf(req).scopes, 'orchestrations:read') ?? (() => false)
      const wanted = query.name != null ? globToRegExp(query.name) : null
      const page = await filteredPage<any, string>({
        limit: query.limit,
        after: decodeCursor<string>(query.cursor, 'string'),
        keep: r => allowed(r.name) && (wanted == null || wanted.test(r.name)),
        keyOf: r => r.name,
        fetch: async (after, n) => {
          let rows = q().selectFrom('orchestrations as o')
            .innerJoin('orchestration_versions as v', join => join.onRef('v.name', '=', 'o.name').onRef('v.version', '=', 'o.latest_version'))
            .select(['o.name', 'o.latest_version', 'o.description', 'o.archived', 'o.archived_at', 'o.updated_at', 'v.created_at', 'v.created_by',
              sql<number>`jsonb_array_length(v.definition->'steps')`.as('steps')])
            .orderBy('o.name').limit(n)
          if (after != null) rows = rows.where('o.name', '>', after)
          if (query.archived !== 'all') rows = rows.where('o.archived', '=', query.archived === 'true')
          if (query.name != null && !/[*?]/.test(query.name)) rows = rows.where('o.name', '=', query.name)
          return await rows.execute()
        }
      })
      return {
        items: page.items.map(r => ({
          name: r.name,
          version: r.latest_version,
          description: r.description,
          steps: r.steps,
          archived: r.archived,
          created_at: iso(r.created_at),
          updated_at: iso(r.updated_at),
          created_by: r.created_by
        })),
        next_cursor: page.nextCursor
      }
    })

    app.get('/:name', {
      config: { scope: 'orchestrations:read' },
      schema: {
        params: nameParams,
        querystring: {
          type: 'object',
          properties: {
            version: { type: 'integer', minimum: 1, maximum: MAX_VERSION },
            as_of: { type: 'string', format: 'date-time', description: 'State at that moment, rebuilt from the events' }
          }
        }
      }
    }, async (req) => {
      const { name } = req.params as { name: string }
      const { version, as_of: asOf } = req.query as { version?: number, as_of?: string }
      requireScope(req, 'orchestrations:read', name)
      if (asOf != null) {
        const until = Date.parse(asOf)
        const { events } = await deps.store.load(ref(name))
        const state = fold(orchestrationDecider, events.filter(e => Date.parse(e.timestamp) <= until) as any)
        const view = orchestrationView(state, version)
        if (view == null) throw problem(404, `orchestration ${name}${version != null ? ` version ${version}` : ''} did not exist at ${asOf}`)
        return view
      }
      const o = await q().selectFrom('orchestrations').selectAll().where('name', '=', name).executeTakeFirst()
      const v = o == null
        ? undefined
        : await q().selectFrom('orchestration_versions').selectAll().where('name', '=', name).where('version', '=', version ?? o.latest_version).executeTakeFirst()
      if (o == null || v == null) throw problem(404, `orchestration ${name}${version != null ? ` version ${version}` : ''} not found`)
      return viewOf(o, v)
    })

    app.get('/:name/versions', { config: { scope: 'orchestrations:read' }, schema: { params: nameParams } }, async (req) => {
      const { name } = req.params as { name: string }
      requireScope(req, 'orchestrations:read', name)
      const o = await q().selectFrom('orchestrations').selectAll().where('name', '=', name).executeTakeFirst()
      if (o == null) throw problem(404, `orchestration ${name} not found`)
      const versions = await q().selectFrom('orchestration_versions').selectAll().where('name', '=', name).orderBy('version').execute()
      return { items: versions.map(v => viewOf(o, v)), next_cursor: null }
    })

    app.delete('/:name', { config: { scope: 'orchestrations:write' }, schema: { params: nameParams } }, async (req) => {
      const { name } = req.params as { name: string }
      requireScope(req, 'orchestrations:write', name)
      const outcome = await handleCommand(deps.store, orchestrationDecider, ref(name), { type: 'ArchiveOrchestration', data: { name } }, commandContext(req, deps))
      await visible(deps, req, outcome.seq)
      return orchestrationView(outcome.state)
    })
  }
}
