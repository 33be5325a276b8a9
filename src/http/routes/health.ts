import type { FastifyInstance } from 'fastify'
import type { AppDeps } from '../context.ts'

/** `GET /healthcheck`: 200 once the node can serve, 503 while a dependency is down; no auth. */
export function healthRoutes (deps: AppDeps) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/healthcheck', { config: { public: true } }, async (_req, reply) => {
      let lastSeq: number | null = null
      if (deps.health.nats) lastSeq = await deps.store.lastSeq().catch(() => null)
      const postgres = await deps.health.probePostgres()
      const position = postgres ? await deps.watcher.refresh().catch(() => null) : null
      // authenticated routes answer 503 until the revocation feed has caught up: so does this
      const ok = deps.health.nats && lastSeq != null && postgres && deps.revocations.ready
      if (!ok) reply.code(503).header('retry-after', '2')
      return {
        status: ok ? 'ok' : 'unavailable',
        nats: deps.health.nats && lastSeq != null ? 'up' : 'down',
        postgres: postgres ? 'up' : 'down',
        namespace: deps.config.namespace,
        roles: deps.config.roles,
        log_position: lastSeq,
        projection_position: position,
        projection_lag: lastSeq != null && position != null ? Math.max(0, lastSeq - position) : null
      }
    })
  }
}
