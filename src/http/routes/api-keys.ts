import type { FastifyInstance } from 'fastify'
import { apiKeyDecider, type ApiKeyState } from '../../../domain/api-key/decider.ts'
import { apiKeySchema, tokenRequestSchema, API_KEY_READ_ONLY, rateLimitsSchema } from '../../../domain/api-key/schemas.ts'
import { fold } from '../../../domain/decider.ts'
import { handleCommand } from '../../commands.ts'
import { hashMatches, keyIdOf, newApiKey } from '../../auth/keys.ts'
import { commandContext, decodeCursor, encodeCursor, visible, type AppDeps } from '../context.ts'
import { problem } from '../problem.ts'
import { listQuerySchema } from './queries.ts'

const ref = (id: string) => ({ type: 'api_key', id })

/** `POST /api/v1.0/auth/token`: an API key in, a short-lived JWT out. No token needed. */
export function tokenRoutes (deps: AppDeps) {
  return async function (app: FastifyInstance): Promise<void> {
    app.post('/auth/token', { config: { public: true }, schema: { body: tokenRequestSchema } }, async (req) => {
      const { api_key: secret } = req.body as { api_key: string }
      // Read from the log, not a read model: a key created a millisecond ago on another node works.
      const { events } = await deps.store.load(ref(keyIdOf(secret)))
      const state = fold(apiKeyDecider, events as any)
      if (state.status !== 'active' || !hashMatches(secret, state.secret_hash)) {
        throw problem(401, 'the API key is unknown or revoked', { headers: { 'www-authenticate': 'Bearer' } })
      }
      const token = await deps.tokens.issue({ sub: state.id, scopes: state.scopes })
      return { access_token: token, token_type: 'Bearer', expires_in: deps.tokens.ttlSeconds, scope: state.scopes.join(' ') }
    })
  }
}

function publicKey (row: any): Record<string, unknown> {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    rate_limits: row.rate_limits ?? null,
    created_at: toIso(row.created_at),
    created_by: row.created_by,
    ...(row.revoked_at != null ? { revoked_at: toIso(row.revoked_at) } : {}),
    status: row.revoked_at != null ? 'revoked' : 'active'
  }
}

function toIso (v: unknown): string { return v instanceof Date ? v.toISOString() : String(v) }

/** `/api/v1.0/api-keys`: create (secret shown once), list, read, change limits, revoke. */
export function apiKeyRoutes (deps: AppDeps) {
  const keys = () => deps.db.withSchema(deps.schema).selectFrom('api_keys')
    .select(['id', 'name', 'scopes', 'rate_limits', 'created_at', 'created_by', 'revoked_at'])
  const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 200 } }, required: ['id'] }

  return async function (app: FastifyInstance): Promise<void> {
    const config = { scope: 'api-keys:manage' }

    app.post('/', { config, schema: { body: apiKeySchema } }, async (req, reply) => {
      const body = req.body as Record<string, any>
      for (const k of API_KEY_READ_ONLY) delete body[k]
      const key = newApiKey()
      const outcome = await handleCommand(deps.store, apiKeyDecider, ref(key.id), {
        type: 'CreateApiKey',
        data: { id: key.id, name: body.name, scopes: body.scopes, rate_limits: body.rate_limits ?? null, secret_hash: key.hash }
      }, commandContext(req, deps))
      await visible(deps, req, outcome.seq)
      const state = outcome.state as Extract<ApiKeyState, { id: string }>
      reply.code(201).header('location', `/api/v1.0/api-keys/${key.id}`)
      return { ...publicKey(state), api_key: key.secret }
    })

    app.get('/', { config, schema: { querystring: listQuerySchema } }, async (req) => {
      const q = req.query as { limit: number, cursor?: string }
      const after = decodeCursor<string>(q.cursor, 'string')
      let query = keys().orderBy('id').limit(q.limit + 1)
      if (after != null) query = query.where('id', '>', after)
      const rows = await query.execute()
      const page = rows.slice(0, q.limit)
      return { items: page.map(publicKey), next_cursor: rows.length > q.limit ? encodeCursor(page[page.length - 1].id) : null }
    })

    app.get('/:id', { config, schema: { params: idParams } }, async (req) => {
      const { id } = req.params as { id: string }
      const row = await keys().where('id', '=', id).executeTakeFirst()
      if (row == null) throw problem(404, `api key ${id} not found`)
      return publicKey(row)
    })

    app.patch('/:id', {
      config,
      schema: {
        params: idParams,
        body: { type: 'object', properties: { rate_limits: { anyOf: [rateLimitsSchema, { type: 'null' }] } }, required: ['rate_limits'], additionalProperties: false }
      }
    }, async (req) => {
      const { id } = req.params as { id: string }
      const { rate_limits: rateLimits } = req.body as { rate_limits: any }
      const outcome = await handleCommand(deps.store, apiKeyDecider, ref(id), {
        type: 'SetRateLimits', data: { id, rate_limits: rateLimits }
      }, commandContext(req, deps))
      await visible(deps, req, outcome.seq)
      return publicKey(outcome.state)
    })

    app.delete('/:id', { config, schema: { params: idParams } }, async (req, reply) => {
      const { id } = req.params as { id: string }
      const outcome = await handleCommand(deps.store, apiKeyDecider, ref(id), {
        type: 'RevokeApiKey', data: { id }
      }, commandContext(req, deps))
      deps.revocations.markRevoked(id)
      await visible(deps, req, outcome.seq)
      return reply.code(204).send()
    })
  }
}
