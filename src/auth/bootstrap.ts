import { apiKeyDecider } from '../../domain/api-key/decider.ts'
import { handleCommand } from '../commands.ts'
import { ConcurrencyError, type EventStore } from '../event-store.ts'
import { bootstrapKeyId, hashSecret, newApiKey } from './keys.ts'

/**
 * With DM_BOOTSTRAP_API_KEY, an admin key with exactly that secret exists after start (idempotent:
 * the same secret maps to the same key id and command). Without it, and with no key at all yet, an
 * admin key is generated and returned so the caller can print it once.
 */
export async function ensureBootstrapKey (store: EventStore, secret: string | undefined): Promise<string | undefined> {
  const now = new Date().toISOString()
  if (secret != null) {
    const id = bootstrapKeyId(secret)
    try {
      await handleCommand(store, apiKeyDecider, { type: 'api_key', id }, {
        type: 'CreateApiKey', data: { id, name: 'bootstrap', scopes: ['admin'], rate_limits: null, secret_hash: hashSecret(secret) }
      }, { commandId: `bootstrap:${id}`, actor: 'system', now })
    } catch (err) {
      if (!(err instanceof ConcurrencyError)) throw err // another node created it at the same moment
    }
    return undefined
  }
  if (await store.lastSeqOf(store.typeFilter('api_key')) > 0) return undefined
  const key = newApiKey()
  await handleCommand(store, apiKeyDecider, { type: 'api_key', id: key.id }, {
    type: 'CreateApiKey', data: { id: key.id, name: 'admin (generated at first start)', scopes: ['admin'], rate_limits: null, secret_hash: key.hash }
  }, { commandId: `generated:${key.id}`, actor: 'system', now })
  return key.secret
}
