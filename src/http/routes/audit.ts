import type { FastifyInstance } from 'fastify'
import { decodeCursor, encodeCursor, type AppDeps } from '../context.ts'
import { withListQuery } from './queries.ts'

/** Filters of `GET /api/v1.0/audit`; also stated by the data dictionary. */
export const auditQuerySchema = withListQuery({
  aggregate: { type: 'string', maxLength: 300, description: 'Aggregate id (e.g. an orchestration name), or type/id (orchestration/deploy-app)' },
  aggregate_type: { type: 'string', maxLength: 100, description: 'Aggregate type: orchestration, api_key, …' },
  actor: { type: 'string', maxLength: 300, description: 'Who caused the events (an API key id)' },
  type: { type: 'string', maxLength: 200, description: 'Event type, e.g. orchestration.archived' },
  since: { type: 'string', format: 'date-time', description: 'Events at or after this time' },
  until: { type: 'string', format: 'date-time', description: 'Events before this time' }
})

/** An audit entry as the API returns it: every field is read-only. */
export const auditEventSchema = {
  type: 'object',
  description: 'One event of the log, in log order; secrets never appear',
  properties: {
    seq: { type: 'integer', minimum: 1, readOnly: true, description: 'Position in the log' },
    id: { type: 'string', readOnly: true, description: 'Event id' },
    type: { type: 'string', readOnly: true, description: 'Event type' },
    aggregate_type: { type: 'string', readOnly: true, description: 'Kind of thing the event is about' },
    aggregate_id: { type: 'string', readOnly: true, description: 'Id of the thing the event is about' },
    version: { type: 'integer', minimum: 1, readOnly: true, description: "The aggregate's version after the event" },
    actor: { type: 'string', readOnly: true, description: 'Who caused it', relationship: { resource: 'api-keys', field: 'id' } },
    timestamp: { type: 'string', format: 'date-time', readOnly: true, description: 'When it happened' },
    correlation_id: { type: 'string', readOnly: true, description: 'Request that caused it' },
    causation_id: { type: 'string', readOnly: true, description: 'Event that caused it, if any' },
    data: { type: 'object', readOnly: true, description: 'The event data, secrets replaced by ***' }
  }
}

export function auditRoutes (deps: AppDeps) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/', { config: { scope: 'audit:read' }, schema: { querystring: auditQuerySchema } }, async (req) => {
      const f = req.query as Record<string, any>
      let query = deps.db.withSchema(deps.schema).selectFrom('audit_events').selectAll().orderBy('seq').limit(f.limit + 1)
      const after = decodeCursor<number>(f.cursor, 'integer')
      if (after != null) query = query.where('seq', '>', Number(after))
      if (f.aggregate != null) {
        const slash = f.aggregate.indexOf('/')
        if (slash > 0) query = query.where('aggregate_type', '=', f.aggregate.slice(0, slash)).where('aggregate_id', '=', f.aggregate.slice(slash + 1))
        else query = query.where('aggregate_id', '=', f.aggregate)
      }
      if (f.aggregate_type != null) query = query.where('aggregate_type', '=', f.aggregate_type)
      if (f.actor != null) query = query.where('actor', '=', f.actor)
      if (f.type != null) query = query.where('type', '=', f.type)
      if (f.since != null) query = query.where('timestamp', '>=', new Date(f.since))
      if (f.until != null) query = query.where('timestamp', '<', new Date(f.until))
      const rows = await query.execute()
      const page = rows.slice(0, f.limit)
      return {
        items: page.map(r => ({
          seq: r.seq,
          id: r.event_id,
          type: r.type,
          aggregate_type: r.aggregate_type,
          aggregate_id: r.aggregate_id,
          version: r.version,
          actor: r.actor,
          timestamp: (r.timestamp as Date).toISOString(),
          correlation_id: r.correlation_id,
          causation_id: r.causation_id,
          data: r.data
        })),
        next_cursor: rows.length > f.limit ? encodeCursor(page[page.length - 1].seq) : null
      }
    })
  }
}
