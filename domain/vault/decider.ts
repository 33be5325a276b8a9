// The vault secret aggregate (id = secret name). The caller encrypts: commands and events carry
// only ciphertext and the id of the data key that opens it, never the plaintext. The data keys live
// outside the log, so destroying them (on delete) makes every recorded ciphertext unreadable.
import { DomainError, type Decider, type DomainEvent, type Problem } from '../decider.ts'
import type { CommandMeta } from '../command.ts'
import type { EventDescription } from '../catalogue.ts'
import { VAULT_DEFAULT_SCOPE, VAULT_NAME_PATTERN, VAULT_SCOPE_PATTERN } from './schemas.ts'

/** An encrypted value: AES-256-GCM output (base64) and the id of its wrapped data key. */
export interface SealedValue {
  ciphertext: string
  iv: string
  tag: string
  key_id: string
}

export type VaultSecretState =
  | { status: 'empty' }
  | (SealedValue & {
    status: 'active'
    name: string
    scope: string
    description: string | null
    version: number
    created_at: string
    created_by: string
    updated_at: string
    updated_by: string
    /** data keys of every version ever set (all destroyed on delete) */
    key_ids: string[]
  })
  | {
    status: 'deleted'
    name: string
    /** the last version, so a secret set again under this name goes on counting */
    version: number
    deleted_at: string
    deleted_by: string
    key_ids: string[]
  }

export type SetSecret = {
  type: 'SetSecret'
  data: SealedValue & {
    name: string
    /** absent: keep the current scope (global for a new secret) */
    scope?: string
    /** absent: keep the current description; null clears it */
    description?: string | null
  }
  meta: CommandMeta
}
export type DeleteSecret = { type: 'DeleteSecret', data: { name: string }, meta: CommandMeta }
export type VaultCommand = SetSecret | DeleteSecret

export type VaultSecretSet = DomainEvent<'vault.secret_set', {
  name: string
  scope: string
  description: string | null
  key_id: string
  ciphertext: string
  iv: string
  tag: string
  version: number
  set_at: string
  set_by: string
}>
export type VaultSecretDeleted = DomainEvent<'vault.secret_deleted', {
  name: string
  /** the data key of the last version (every version's key is destroyed) */
  key_id: string
  deleted_at: string
  deleted_by: string
}>
export type VaultEvent = VaultSecretSet | VaultSecretDeleted

const NAME = new RegExp(VAULT_NAME_PATTERN)
const SCOPE = new RegExp(VAULT_SCOPE_PATTERN)

function decide (state: VaultSecretState, command: VaultCommand): VaultEvent[] {
  const { meta } = command
  switch (command.type) {
    case 'SetSecret': {
      const d = command.data
      const current = state.status === 'active' ? state : undefined
      const scope = d.scope ?? current?.scope ?? VAULT_DEFAULT_SCOPE
      const problems: Problem[] = []
      if (!NAME.test(d.name)) problems.push({ path: '/name', message: `must match ${VAULT_NAME_PATTERN}` })
      if (!SCOPE.test(scope)) problems.push({ path: '/scope', message: `must match ${VAULT_SCOPE_PATTERN}` })
      for (const k of ['ciphertext', 'iv', 'tag', 'key_id'] as const) {
        if (typeof d[k] !== 'string' || d[k] === '') problems.push({ path: `/${k}`, message: 'is required (the value must be encrypted first)' })
      }
      if (problems.length > 0) throw new DomainError('invalid', `secret ${d.name} is not valid`, problems)
      return [{
        type: 'vault.secret_set',
        data: {
          name: d.name,
          scope,
          description: d.description !== undefined ? d.description : current?.description ?? null,
          key_id: d.key_id,
          ciphertext: d.ciphertext,
          iv: d.iv,
          tag: d.tag,
          version: (state.status === 'empty' ? 0 : state.version) + 1,
          set_at: meta.now,
          set_by: meta.actor
        }
      }]
    }
    case 'DeleteSecret':
      if (state.status !== 'active') throw new DomainError('not_found', `secret ${command.data.name} not found`)
      return [{
        type: 'vault.secret_deleted',
        data: { name: state.name, key_id: state.key_id, deleted_at: meta.now, deleted_by: meta.actor }
      }]
  }
}

function evolve (state: VaultSecretState, event: VaultEvent): VaultSecretState {
  switch (event.type) {
    case 'vault.secret_set': {
      const d = event.data
      const previousKeys = state.status === 'empty' ? [] : state.key_ids
      const created = state.status === 'active' ? { created_at: state.created_at, created_by: state.created_by } : { created_at: d.set_at, created_by: d.set_by }
      return {
        status: 'active',
        name: d.name,
        scope: d.scope,
        description: d.description,
        version: d.version,
        ciphertext: d.ciphertext,
        iv: d.iv,
        tag: d.tag,
        key_id: d.key_id,
        ...created,
        updated_at: d.set_at,
        updated_by: d.set_by,
        key_ids: previousKeys.includes(d.key_id) ? previousKeys : [...previousKeys, d.key_id]
      }
    }
    case 'vault.secret_deleted':
      if (state.status !== 'active') return state
      return {
        status: 'deleted',
        name: state.name,
        version: state.version,
        deleted_at: event.data.deleted_at,
        deleted_by: event.data.deleted_by,
        key_ids: state.key_ids
      }
  }
}

export const vaultDecider: Decider<VaultSecretState, VaultCommand, VaultEvent> = {
  initialState: () => ({ status: 'empty' }),
  decide,
  evolve
}

/** The vault's event types, for the data dictionary's event catalogue (see EVENT_CATALOGUE). */
export const VAULT_EVENT_CATALOGUE: EventDescription[] = [
  {
    type: 'vault.secret_set',
    description: 'A secret was created or rotated to a new version (only its ciphertext is recorded; the data key is kept outside the log)',
    fields: ['name', 'scope', 'description', 'key_id', 'ciphertext', 'iv', 'tag', 'version', 'set_at', 'set_by']
  },
  {
    type: 'vault.secret_deleted',
    description: "A secret was deleted and the data keys of all its versions destroyed, so the log cannot reveal it again",
    fields: ['name', 'key_id', 'deleted_at', 'deleted_by']
  }
]
