import type { FastifyInstance } from 'fastify'
import type { AppDeps } from '../context.ts'

/** `GET /api/v1.0/servers`: registered agents, online while their heartbeats keep coming. */
export function serverRoutes (deps: AppDeps) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/', { config: { scope: 'servers:read' } }, async () => {
      const rows = await deps.db.withSchema(deps.schema).selectFrom('servers').selectAll().orderBy('name').execute()
      return {
        items: rows.map(r => {
          const beat = deps.heartbeats?.last(r.name)
          const online = deps.heartbeats?.isAlive(r.name, r.instance) ?? false
          return {
            name: r.name,
            groups: r.groups,
            status: online ? 'online' : 'offline',
            last_seen: beat != null ? new Date(beat.at).toISOString() : null,
            hostname: r.hostname,
            registered_at: (r.registered_at as Date).toISOString(),
            started_at: (r.started_at as Date).toISOString()
          }
        }),
        next_cursor: null
      }
    })
  }
}
