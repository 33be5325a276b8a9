import type { Msg, NatsConnection } from '@nats-io/transport-node'
import { VAULT_NAME_MAX_LENGTH, VAULT_NAME_PATTERN } from '../../domain/vault/schemas.ts'
import type { EventStore } from '../event-store.ts'
import type { Vault } from './crypto.ts'
import { readSecret, type SecretWithValue } from './service.ts'

// Agents get the secrets a step needs by a core-NATS request/reply, answered by the API nodes:
// values travel only in that reply (over the NATS connection), never in a persisted message.

export const vaultResolveSubject = (namespace: string): string => `${namespace}.vault.resolve`

export interface ResolveRequest {
  /** the execution asking; the run it belongs to decides what it may read */
  execution_id: string
  names: string[]
  /**
   * the orchestration of the execution, when known: secrets scoped `orchestration:<other>` are
   * then refused. (Checking that the execution runs it is up to `authorize`.)
   */
  orchestration?: string
}

export type ResolveReply = { values: Record<string, string> } | { error: string }

export interface ResolutionOptions {
  /**
   * Further checks before values are handed out (e.g. that the execution is running): return an
   * error message to refuse, or null. Any execution id is accepted without it.
   */
  authorize?: (request: ResolveRequest, secrets: SecretWithValue[]) => Promise<string | null> | string | null
  log?: (msg: string) => void
}

/** At most this many secrets per request. */
export const MAX_RESOLVE_NAMES = 256
const NAME = new RegExp(VAULT_NAME_PATTERN)

function parseRequest (msg: Msg): ResolveRequest | string {
  let body: any
  try {
    body = msg.json()
  } catch {
    return 'the request is not JSON'
  }
  if (body == null || typeof body !== 'object' || Array.isArray(body)) return 'the request must be an object {execution_id, names}'
  if (typeof body.execution_id !== 'string' || body.execution_id === '') return 'execution_id is required'
  if (!Array.isArray(body.names)) return 'names must be an array of secret names'
  if (body.names.length > MAX_RESOLVE_NAMES) return `at most ${MAX_RESOLVE_NAMES} names per request`
  const bad = body.names.filter((n: unknown) => typeof n !== 'string' || n.length > VAULT_NAME_MAX_LENGTH || !NAME.test(n))
  if (bad.length > 0) return `not valid secret names: ${bad.map((n: unknown) => JSON.stringify(n)).join(', ')}`
  if (body.orchestration !== undefined && typeof body.orchestration !== 'string') return 'orchestration must be a string'
  return { execution_id: body.execution_id, names: [...new Set<string>(body.names)], ...(body.orchestration !== undefined ? { orchestration: body.orchestration } : {}) }
}

async function resolve (store: EventStore, vault: Vault, req: ResolveRequest, opts: ResolutionOptions): Promise<ResolveReply> {
  const found = await Promise.all(req.names.map(async name => await readSecret(store, vault, name)))
  const unknown = req.names.filter((_, i) => found[i] == null)
  if (unknown.length > 0) return { error: `unknown secrets: ${unknown.join(', ')}` }
  const secrets = found as SecretWithValue[]
  if (req.orchestration !== undefined) {
    const outside = secrets.filter(s => s.scope !== 'global' && s.scope !== `orchestration:${req.orchestration}`)
    if (outside.length > 0) return { error: `secrets not available to orchestration ${req.orchestration}: ${outside.map(s => `${s.name} (${s.scope})`).join(', ')}` }
  }
  const refused = await opts.authorize?.(req, secrets)
  if (refused != null) return { error: refused }
  return { values: Object.fromEntries(secrets.map(s => [s.name, s.value])) }
}

/**
 * Answers `<ns>.vault.resolve` requests `{execution_id, names}` with `{values}` or `{error}`
 * (unknown names are named in the error). A queue group spreads requests over the API nodes.
 * Await `ready` before relying on it from another connection.
 */
export function serveVaultResolution (
  nc: NatsConnection, namespace: string, store: EventStore, vault: Vault, opts: ResolutionOptions = {}
): { close: () => Promise<void>, ready: Promise<void> } {
  const reply = (msg: Msg, answer: ResolveReply): void => { msg.respond(JSON.stringify(answer)) }
  const sub = nc.subscribe(vaultResolveSubject(namespace), {
    queue: `${namespace}.vault.resolvers`,
    callback: (err, msg) => {
      if (err != null) { opts.log?.(`vault resolution subscription: ${err.message}`); return }
      const req = parseRequest(msg)
      if (typeof req === 'string') { reply(msg, { error: req }); return }
      resolve(store, vault, req, opts).then(answer => reply(msg, answer), (e: any) => {
        // the message names a key id at most, never a value
        opts.log?.(`vault resolution for execution ${req.execution_id} failed: ${e?.message ?? e}`)
        reply(msg, { error: `the secrets could not be read: ${e?.name === 'VaultError' ? String(e.message) : 'internal error'}` })
      })
    }
  })
  return {
    close: async () => { if (!sub.isClosed()) await sub.drain().catch(() => {}) },
    // resolves once the server knows the subscription: requests from other connections reach it
    ready: nc.flush()
  }
}

/** Raised to an agent whose secrets could not be resolved; the message names them, never values. */
export class VaultResolutionError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'VaultResolutionError'
  }
}

/** The agent's side: the values of `names` for this execution, or a VaultResolutionError. */
export async function resolveSecrets (
  nc: NatsConnection, namespace: string, request: ResolveRequest, timeoutMs = 5_000
): Promise<Record<string, string>> {
  if (request.names.length === 0) return {}
  let msg: Msg
  try {
    msg = await nc.request(vaultResolveSubject(namespace), JSON.stringify(request), { timeout: timeoutMs })
  } catch (err: any) {
    if (/no responders/i.test(String(err?.message)) || err?.name === 'NoRespondersError') {
      throw new VaultResolutionError('no vault resolver is running (no API node is connected to NATS)')
    }
    throw err
  }
  const answer = msg.json<ResolveReply>()
  if ('error' in answer) throw new VaultResolutionError(answer.error)
  return answer.values
}
