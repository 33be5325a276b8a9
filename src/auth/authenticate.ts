import type { FastifyReply, FastifyRequest } from 'fastify'
import { nameFilter } from '../../domain/api-key/scopes.ts'
import type { AppDeps } from '../http/context.ts'
import { problem, sendProblem } from '../http/problem.ts'

const CHALLENGE = { 'www-authenticate': 'Bearer' }

/**
 * Every route but the public ones: 503 while a dependency is down, 401 without a valid, unrevoked
 * token, 403 when the token lacks the route's scope in every form. Name-narrowed scopes
 * (`orchestrations:write:deploy-*`) are checked again by the handler once the name is known.
 */
export function authenticate (deps: AppDeps) {
  return async function onRequest (req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const config = req.routeOptions.config
    if (config?.public === true) return
    if (!deps.health.ok || !deps.revocations.ready) {
      const which = !deps.health.nats ? 'NATS JetStream' : !deps.health.postgres ? 'Postgres' : 'the API key feed'
      return sendProblem(reply, problem(503, `${which} is unreachable; retry shortly`, { headers: { 'retry-after': '2' } }))
    }
    const header = req.headers.authorization
    const query = req.query as Record<string, unknown> | undefined
    const token = typeof header === 'string' && /^bearer /i.test(header)
      ? header.slice(7).trim()
      : typeof query?.access_token === 'string' ? query.access_token : undefined
    if (token == null || token === '') {
      return sendProblem(reply, problem(401, 'send Authorization: Bearer <token>; get a token at POST /api/v1.0/auth/token with your API key', { headers: CHALLENGE }))
    }
    const claims = await deps.tokens.verify(token)
    if ('error' in claims) return sendProblem(reply, problem(401, claims.error, { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }))
    if (deps.revocations.isRevoked(claims.sub)) {
      return sendProblem(reply, problem(401, 'the API key of this token has been revoked', { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }))
    }
    req.principal = { keyId: claims.sub, scopes: claims.scopes }
    const scope = config?.scope
    if (scope != null && nameFilter(claims.scopes, scope) == null) {
      return sendProblem(reply, problem(403, `this needs the scope ${scope}`, { missing_scope: scope }))
    }
  }
}
