import type { FastifyInstance } from 'fastify'
import { globToRegExp, nameFilter } from '../../../domain/api-key/scopes.ts'
import { vaultSecretSchema, VAULT_NAME_MAX_LENGTH, VAULT_NAME_PATTERN, VAULT_SECRET_READ_ONLY } from '../../../domain/vault/schemas.ts'
import type { Vault } from '../../vault/crypto.ts'
import { deleteSecret, readSecret, setSecret } from '../../vault/service.ts'
import { commandContext, decodeCursor, filteredPage, principalOf, requireScope, visible, type AppDeps } from '../context.ts'
import { problem } from '../problem.ts'
import { withListQuery } from './queries.ts'

const nameParams = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: VAULT_NAME_MAX_LENGTH, pattern: VAULT_NAME_PATTERN } },
  required: ['name']
}
const iso = (v: unknown): string => v instanceof Date ? v.toISOString() : String(v)
// answers that carry a value must not be kept by any cache on the way
const NO_STORE = 'no-store'

function metadataOf (row: any): Record<string, unknown> {
  return {
    name: row.name,
    scope: row.scope,
    description: row.description ?? null,
    version: row.version,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    created_by: row.created_by
  }
}

/**
 * `/api/v1.0/vault` (CONTRACT §7): set (create or rotate), list names and metadata, read one
 * value, delete. A value goes in with POST and comes out only with GET /:name; the log and the
 * read model only ever see ciphertext and metadata. Name globs of the scopes apply to secret names.
 */
export function vaultRoutes (deps: AppDeps & { vault: Vault }) {
  const secrets = () => deps.db.withSchema(deps.schema).selectFrom('vault_secrets')
    .select(['name', 'scope', 'description', 'version', 'created_at', 'updated_at', 'created_by'])
    .where('deleted', '=', false)

  return async function (app: FastifyInstance): Promise<void> {
    app.post('/', { config: { scope: 'vault:write' }, schema: { body: vaultSecretSchema } }, async (req, reply) => {
      const body = req.body as Record<string, any>
      for (const k of VAULT_SECRET_READ_ONLY) delete body[k]
      requireScope(req, 'vault:write', body.name)
      const { outcome, secret } = await setSecret(deps.store, deps.vault, {
        name: body.name,
        value: body.value,
        ...(body.scope !== undefined ? { scope: body.scope } : {}),
        ...(body.description !== undefined ? { description: body.description } : {})
      }, commandContext(req, deps))
      await visible(deps, req, outcome.seq)
      reply.code(201).header('location', `/api/v1.0/vault/${encodeURIComponent(secret.name)}`)
      return secret
    })

    app.get('/', {
      config: { scope: 'vault:read' },
      schema: {
        querystring: withListQuery({
          name: { type: 'string', maxLength: VAULT_NAME_MAX_LENGTH, description: 'Name or glob (db_*)' },
          scope: { type: 'string', maxLength: 200, description: 'Only secrets of this scope (global, orchestration:<name>)' }
        })
      }
    }, async (req) => {
      const query = req.query as { limit: number, cursor?: string, name?: string, scope?: string }
      const allowed = nameFilter(principalOf(req).scopes, 'vault:read') ?? (() => false)
      const wanted = query.name != null ? globToRegExp(query.name) : null
      const page = await filteredPage<any, string>({
        limit: query.limit,
        after: decodeCursor<string>(query.cursor, 'string'),
        keep: r => allowed(r.name) && (wanted == null || wanted.test(r.name)),
        keyOf: r => r.name,
        fetch: async (after, n) => {
          let rows = secrets().orderBy('name').limit(n)
          if (after != null) rows = rows.where('name', '>', after)
          if (query.scope != null) rows = rows.where('scope', '=', query.scope)
          if (query.name != null && !/[*?]/.test(query.name)) rows = rows.where('name', '=', query.name)
          return await rows.execute()
        }
      })
      return { items: page.items.map(metadataOf), next_cursor: page.nextCursor }
    })

    app.get('/:name', { config: { scope: 'vault:read' }, schema: { params: nameParams } }, async (req, reply) => {
      const { name } = req.params as { name: string }
      requireScope(req, 'vault:read', name)
      // from the log, not the read model: the value is never in Postgres, and a secret set a
      // moment ago on another node reads back at once
      const secret = await readSecret(deps.store, deps.vault, name)
      if (secret == null) throw problem(404, `secret ${name} not found`)
      reply.header('cache-control', NO_STORE)
      return secret
    })

    app.delete('/:name', { config: { scope: 'vault:write' }, schema: { params: nameParams } }, async (req, reply) => {
      const { name } = req.params as { name: string }
      requireScope(req, 'vault:write', name)
      const outcome = await deleteSecret(deps.store, deps.vault, name, commandContext(req, deps))
      await visible(deps, req, outcome.seq)
      return reply.code(204).send()
    })
  }
}
