// The API key aggregate (id = key id). Only a hash of the secret ever reaches an event.
import { DomainError, type Decider, type DomainEvent } from '../decider.ts'
import type { CommandMeta } from '../command.ts'

export interface RateLimits {
  'requests/sec'?: number
  burst?: number
  quota?: string
}

export type ApiKeyState =
  | { status: 'empty' }
  | {
    status: 'active' | 'revoked'
    id: string
    name: string
    scopes: string[]
    rate_limits: RateLimits | null
    secret_hash: string
    created_at: string
    created_by: string
    revoked_at?: string
  }

export type CreateApiKey = {
  type: 'CreateApiKey'
  data: { id: string, name: string, scopes: string[], rate_limits?: RateLimits | null, secret_hash: string }
  meta: CommandMeta
}
export type RevokeApiKey = { type: 'RevokeApiKey', data: { id: string }, meta: CommandMeta }
/** `rate_limits: null` returns the key to the server defaults. */
export type SetRateLimits = { type: 'SetRateLimits', data: { id: string, rate_limits: RateLimits | null }, meta: CommandMeta }
export type ApiKeyCommand = CreateApiKey | RevokeApiKey | SetRateLimits

export type ApiKeyCreated = DomainEvent<'api_key.created', {
  id: string
  name: string
  scopes: string[]
  rate_limits: RateLimits | null
  secret_hash: string
  created_at: string
  created_by: string
}>
export type ApiKeyRevoked = DomainEvent<'api_key.revoked', { id: string, revoked_at: string, revoked_by: string }>
export type ApiKeyRateLimitsSet = DomainEvent<'api_key.rate_limits_set', { id: string, rate_limits: RateLimits | null }>
export type ApiKeyEvent = ApiKeyCreated | ApiKeyRevoked | ApiKeyRateLimitsSet

function decide (state: ApiKeyState, command: ApiKeyCommand): ApiKeyEvent[] {
  const { data, meta } = command
  switch (command.type) {
    case 'CreateApiKey': {
      const { id, name, scopes, rate_limits, secret_hash } = command.data
      // Same secret again is the bootstrap key being ensured at every start: nothing to do.
      if (state.status !== 'empty') {
        if (state.secret_hash === secret_hash) return []
        throw new DomainError('conflict', `api key ${id} already exists`)
      }
      return [{
        type: 'api_key.created',
        data: { id, name, scopes, rate_limits: rate_limits ?? null, secret_hash, created_at: meta.now, created_by: meta.actor }
      }]
    }
    case 'RevokeApiKey':
      if (state.status === 'empty') throw new DomainError('not_found', `api key ${data.id} not found`)
      if (state.status === 'revoked') return []
      return [{ type: 'api_key.revoked', data: { id: state.id, revoked_at: meta.now, revoked_by: meta.actor } }]
    case 'SetRateLimits':
      if (state.status === 'empty') throw new DomainError('not_found', `api key ${data.id} not found`)
      if (state.status === 'revoked') throw new DomainError('gone', `api key ${data.id} is revoked`)
      return [{ type: 'api_key.rate_limits_set', data: { id: state.id, rate_limits: command.data.rate_limits } }]
  }
}

function evolve (state: ApiKeyState, event: ApiKeyEvent): ApiKeyState {
  switch (event.type) {
    case 'api_key.created':
      return { status: 'active', ...event.data }
    case 'api_key.revoked':
      if (state.status === 'empty') return state
      return { ...state, status: 'revoked', revoked_at: event.data.revoked_at }
    case 'api_key.rate_limits_set':
      if (state.status === 'empty') return state
      return { ...state, rate_limits: event.data.rate_limits }
  }
}

export const apiKeyDecider: Decider<ApiKeyState, ApiKeyCommand, ApiKeyEvent> = {
  initialState: () => ({ status: 'empty' }),
  decide,
  evolve
}
