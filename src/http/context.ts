import { createHash, randomUUID } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { grants } from '../../domain/api-key/scopes.ts'
import type { Config } from '../config.ts'
import type { EventStore } from '../event-store.ts'
import type { CommandContext } from '../commands.ts'
import type { Tokens } from '../auth/tokens.ts'
import type { Revocations } from '../auth/revocations.ts'
import type { ProjectionWatcher } from '../read-your-writes.ts'
import type { Health } from '../health.ts'
import type { Heartbeats } from '../heartbeats.ts'
import type { Vault } from '../vault/crypto.ts'
import { problem } from './problem.ts'

/** Everything the HTTP layer needs; built by the node (or a test) and handed to buildApp. */
export interface AppDeps {
  config: Config
  store: EventStore
  db: Kysely<any>
  schema: string
  tokens: Tokens
  revocations: Revocations
  watcher: ProjectionWatcher
  health: Health
  heartbeats?: Heartbeats
  vault?: Vault
  clock?: () => Date
  logger?: any
}

export interface Principal {
  keyId: string
  scopes: string[]
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal
  }
  interface FastifyContextConfig {
    /** no token needed */
    public?: boolean
    /** `resource:action` the route needs at least in some form (name globs are checked later) */
    scope?: string
  }
}

export function principalOf (req: FastifyRequest): Principal {
  if (req.principal == null) throw problem(401, 'authentication required', { headers: { 'www-authenticate': 'Bearer' } })
  return req.principal
}

/** 403 unless the caller may do `scope` on the resource called `name`. */
export function requireScope (req: FastifyRequest, scope: string, name?: string): void {
  const { scopes } = principalOf(req)
  if (!grants(scopes, scope, name)) {
    throw problem(403, name == null ? `this needs the scope ${scope}` : `this needs the scope ${scope} for ${name}`, { missing_scope: scope })
  }
}

/**
 * A command's identity: with an Idempotency-Key header, retries of the same request by the same
 * caller are the same command (JetStream drops the duplicate); without one each request is new.
 */
export function commandContext (req: FastifyRequest, deps: AppDeps): CommandContext {
  const actor = principalOf(req).keyId
  const key = req.headers['idempotency-key']
  const commandId = typeof key === 'string' && key !== ''
    ? createHash('sha256').update(`${actor}\n${req.method} ${req.routeOptions.url}\n${key}`).digest('base64url')
    : randomUUID()
  return { commandId, actor, now: (deps.clock?.() ?? new Date()).toISOString(), correlationId: req.id }
}

/** Opaque pagination cursors: the sort key of the last item, base64url JSON. */
export function encodeCursor (value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

export function decodeCursor<T> (cursor: string | undefined, kind?: 'string' | 'integer'): T | undefined {
  if (cursor == null || cursor === '') return undefined
  const invalid = () => problem(400, 'cursor is not valid: pass back the next_cursor of a previous page', { errors: [{ path: '/query/cursor', message: 'is not a cursor this API issued' }] })
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw invalid()
  }
  // a well-formed cursor of the wrong kind would reach the database as a bad value
  if (kind === 'string' && typeof value !== 'string') throw invalid()
  if (kind === 'integer' && !Number.isSafeInteger(value)) throw invalid()
  return value as T
}

/** Waits for the read models to reflect `seq`; a write answered 2xx is then visible to its writer. */
export async function visible (deps: AppDeps, req: FastifyRequest, seq: number): Promise<void> {
  if (seq <= 0) return
  if (!await deps.watcher.waitFor(seq)) {
    req.log.warn({ seq }, 'read models lag behind this write (is a projector running?); answering anyway, the write is durable')
  }
}

const SCAN = 200

/**
 * One page of a list whose rows are partly filtered in code (name-narrowed scopes, name globs):
 * reads the sorted rows `SCAN` at a time after the cursor key until the page is full. `fetch`
 * returns the next rows after a key (all from the start when undefined), in the list's order.
 */
export async function filteredPage<R, K> (opts: {
  limit: number
  after: K | undefined
  fetch: (after: K | undefined, n: number) => Promise<R[]>
  keep: (row: R) => boolean
  keyOf: (row: R) => K
}): Promise<{ items: R[], nextCursor: string | null }> {
  const items: R[] = []
  let after = opts.after
  for (;;) {
    const batch = await opts.fetch(after, SCAN)
    for (const row of batch) {
      if (!opts.keep(row)) continue
      if (items.length === opts.limit) return { items, nextCursor: encodeCursor(opts.keyOf(items[items.length - 1])) }
      items.push(row)
    }
    if (batch.length < SCAN) return { items, nextCursor: null }
    after = opts.keyOf(batch[batch.length - 1])
  }
}
