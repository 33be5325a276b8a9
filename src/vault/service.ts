import { DomainError, fold } from '../../domain/decider.ts'
import { vaultDecider, type VaultEvent, type VaultSecretState } from '../../domain/vault/decider.ts'
import { handleCommand, type CommandContext, type CommandOutcome } from '../commands.ts'
import { ConcurrencyError, type EventStore } from '../event-store.ts'
import type { Vault } from './crypto.ts'

export const VAULT_AGGREGATE = 'vault'
export const vaultRef = (name: string) => ({ type: VAULT_AGGREGATE, id: name })

export type ActiveSecret = Extract<VaultSecretState, { status: 'active' }>

/** What the API shows of a secret: everything but its value (and never its ciphertext). */
export interface SecretMetadata {
  name: string
  scope: string
  description: string | null
  version: number
  created_at: string
  updated_at: string
  created_by: string
}

export interface SecretWithValue extends SecretMetadata {
  value: string
}

export function secretMetadata (s: ActiveSecret): SecretMetadata {
  return {
    name: s.name,
    scope: s.scope,
    description: s.description,
    version: s.version,
    created_at: s.created_at,
    updated_at: s.updated_at,
    created_by: s.created_by
  }
}

/** The secret's current state from the log (not a read model: a write a millisecond ago counts). */
export async function loadSecret (store: EventStore, name: string): Promise<VaultSecretState> {
  const { events } = await store.load(vaultRef(name))
  return fold(vaultDecider, events as unknown as VaultEvent[])
}

export interface SetSecretInput {
  name: string
  value: string
  /** absent: keep the current scope (global for a new secret) */
  scope?: string
  /** absent: keep the current description */
  description?: string | null
}

/**
 * Creates the secret or rotates it to a new version: encrypts here (the domain and the log only
 * see ciphertext), then appends. A data key whose event was certainly not appended is destroyed
 * again; one whose fate is unknown (a lost ack) is kept, since its event may be in the log.
 */
export async function setSecret (store: EventStore, vault: Vault, input: SetSecretInput, ctx: CommandContext):
Promise<{ outcome: CommandOutcome<VaultSecretState>, secret: SecretMetadata }> {
  const sealed = await vault.encrypt(input.value)
  let outcome: CommandOutcome<VaultSecretState>
  try {
    outcome = await handleCommand(store, vaultDecider, vaultRef(input.name), {
      type: 'SetSecret',
      data: {
        name: input.name,
        ...(input.scope !== undefined ? { scope: input.scope } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...sealed
      }
    }, ctx)
  } catch (err) {
    if (err instanceof DomainError || err instanceof ConcurrencyError) await vault.destroyKey(sealed.key_id).catch(() => {})
    throw err
  }
  if (!outcome.appended) {
    // a retry of a command already in the log (same Idempotency-Key): the log keeps the first
    // value and its key, this new key opens nothing
    await vault.destroyKey(sealed.key_id).catch(() => {})
    outcome = { ...outcome, state: await loadSecret(store, input.name) }
  }
  if (outcome.state.status !== 'active') throw new DomainError('conflict', `secret ${input.name} was deleted concurrently`)
  return { outcome, secret: secretMetadata(outcome.state) }
}

/**
 * Deletes the secret, then purges the data keys of all its versions, so neither the log nor a
 * backup of it can give the value back. Deleting a deleted secret is not_found, but purges its
 * keys again first, finishing a shredding that an earlier crash interrupted.
 */
export async function deleteSecret (store: EventStore, vault: Vault, name: string, ctx: CommandContext): Promise<CommandOutcome<VaultSecretState>> {
  let outcome: CommandOutcome<VaultSecretState>
  try {
    outcome = await handleCommand(store, vaultDecider, vaultRef(name), { type: 'DeleteSecret', data: { name } }, ctx)
  } catch (err) {
    if (err instanceof DomainError && err.kind === 'not_found') {
      const state = await loadSecret(store, name)
      if (state.status === 'deleted') await shred(vault, state.key_ids)
    }
    throw err
  }
  const state = outcome.appended ? outcome.state : await loadSecret(store, name)
  if (state.status === 'deleted') await shred(vault, state.key_ids)
  return { ...outcome, state }
}

async function shred (vault: Vault, keyIds: string[]): Promise<void> {
  await Promise.all(keyIds.map(async k => await vault.destroyKey(k)))
}

/** The latest value of a live secret, decrypted; null when there is no such secret (or it was deleted). */
export async function readSecret (store: EventStore, vault: Vault, name: string): Promise<SecretWithValue | null> {
  const state = await loadSecret(store, name)
  if (state.status !== 'active') return null
  const value = await vault.decrypt({ ciphertext: state.ciphertext, iv: state.iv, tag: state.tag, key_id: state.key_id })
  return { ...secretMetadata(state), value }
}

/**
 * Purges the data keys of every deleted secret: a safety net for a node that crashed between
 * appending a deletion and purging its keys. Reads the vault's part of the log; idempotent.
 * Returns how many keys it purged (already purged ones included).
 */
export async function shredDeletedSecrets (store: EventStore, vault: Vault): Promise<number> {
  const filter = store.typeFilter(VAULT_AGGREGATE)
  const last = await store.lastSeqOf(filter)
  if (last === 0) return 0
  const states = new Map<string, VaultSecretState>()
  const doomed = new Set<string>()
  for await (const batch of store.readBatches({ fromSeq: 1, toSeq: last, subject: filter, maxBatch: 500 })) {
    for (const e of batch) {
      const before = states.get(e.aggregate_id) ?? vaultDecider.initialState()
      const after = vaultDecider.evolve(before, e as unknown as VaultEvent)
      // every key of a secret at the moment it was deleted, even if the name was set again later
      if (e.type === 'vault.secret_deleted' && after.status === 'deleted') for (const k of after.key_ids) doomed.add(k)
      states.set(e.aggregate_id, after)
    }
  }
  await shred(vault, [...doomed])
  return doomed.size
}
