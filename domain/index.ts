// The domain's public surface for src/, projections/ and the data dictionary.
export * from './decider.ts'
export * from './envelope.ts'
export * from './command.ts'
export * from './canonical.ts'
export * from './keywords.ts'
export * from './orchestration/schemas.ts'
export * from './orchestration/dag.ts'
export * from './orchestration/decider.ts'
export * from './api-key/scopes.ts'
export * from './api-key/schemas.ts'
export * from './api-key/decider.ts'
export * from './vault/schemas.ts'
export * from './vault/decider.ts'
export * from './catalogue.ts'

import type { EventDescription } from './catalogue.ts'
import { EXECUTION_EVENT_CATALOGUE } from './execution/catalogue.ts'
import { VAULT_EVENT_CATALOGUE } from './vault/decider.ts'

/** Events of definitions and API keys. */
export const DEFINITION_EVENT_CATALOGUE: EventDescription[] = [
  {
    type: 'orchestration.version_created',
    description: 'A new immutable version of an orchestration was created',
    fields: ['name', 'version', 'definition', 'created_at', 'created_by']
  },
  {
    type: 'orchestration.archived',
    description: 'An orchestration was archived: no new launches or versions, history kept',
    fields: ['name', 'archived_at', 'archived_by']
  },
  {
    type: 'api_key.created',
    description: 'An API key was created (only a hash of its secret is recorded)',
    fields: ['id', 'name', 'scopes', 'rate_limits', 'secret_hash', 'created_at', 'created_by']
  },
  {
    type: 'api_key.revoked',
    description: 'An API key was revoked and stops working on every node',
    fields: ['id', 'revoked_at', 'revoked_by']
  },
  {
    type: 'api_key.rate_limits_set',
    description: "An API key's rate limits were changed (null: server defaults)",
    fields: ['id', 'rate_limits']
  }
]

/** Every event type in the log, for the data dictionary's event catalogue. */
export const EVENT_CATALOGUE: EventDescription[] = [...DEFINITION_EVENT_CATALOGUE, ...EXECUTION_EVENT_CATALOGUE, ...VAULT_EVENT_CATALOGUE]
