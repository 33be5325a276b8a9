import t from 'tap'
import { spec } from '../helpers/spec.ts'
import { fold } from '../../domain/decider.ts'
import { vaultDecider as decider, VAULT_EVENT_CATALOGUE, type VaultCommand, type VaultEvent } from '../../domain/vault/decider.ts'

const m1 = { now: '2025-03-12T14:00:00.000Z', actor: 'key-1' }
const m2 = { now: '2025-03-12T15:00:00.000Z', actor: 'key-2' }
const m3 = { now: '2025-03-12T16:00:00.000Z', actor: 'key-3' }
const sealed = (n: number) => ({ ciphertext: `c${n}`, iv: `i${n}`, tag: `t${n}`, key_id: `k${n}` })

const set = (n: number, meta = m1, extra: { scope?: string, description?: string | null, name?: string } = {}): VaultCommand =>
  ({ type: 'SetSecret', data: { name: extra.name ?? 'api_key', ...extra, ...sealed(n) }, meta })
const del = (name = 'api_key', meta = m2): VaultCommand => ({ type: 'DeleteSecret', data: { name }, meta })

const setEvent = (n: number, version: number, meta = m1, scope = 'global', description: string | null = null): VaultEvent => ({
  type: 'vault.secret_set',
  data: { name: 'api_key', scope, description, key_id: `k${n}`, ciphertext: `c${n}`, iv: `i${n}`, tag: `t${n}`, version, set_at: meta.now, set_by: meta.actor }
})
const deletedEvent = (keyId: string, meta = m2): VaultEvent =>
  ({ type: 'vault.secret_deleted', data: { name: 'api_key', key_id: keyId, deleted_at: meta.now, deleted_by: meta.actor } })

t.test('set creates version 1 in the global scope', t => {
  spec(decider, t).given([]).when(set(1)).then([setEvent(1, 1)])
  spec(decider, t).given([]).when(set(1, m1, { scope: 'orchestration:deploy-app', description: 'd' }))
    .then([setEvent(1, 1, m1, 'orchestration:deploy-app', 'd')])
  t.end()
})

t.test('setting an existing name rotates it: a new version, scope and description kept unless given', t => {
  const v1 = setEvent(1, 1, m1, 'orchestration:x', 'about')
  spec(decider, t).given([v1]).when(set(2, m2)).then([setEvent(2, 2, m2, 'orchestration:x', 'about')])
  spec(decider, t).given([v1]).when(set(2, m2, { scope: 'global', description: null })).then([setEvent(2, 2, m2, 'global', null)])
  const state = fold(decider, [v1, setEvent(2, 2, m2, 'orchestration:x', 'about')])
  t.match(state, { status: 'active', version: 2, key_id: 'k2', ciphertext: 'c2', created_at: m1.now, created_by: m1.actor, updated_at: m2.now, updated_by: m2.actor, key_ids: ['k1', 'k2'] })
  t.end()
})

t.test('delete; deleting an unknown or deleted secret is not_found', t => {
  spec(decider, t).given([setEvent(1, 1), setEvent(2, 2)]).when(del()).then([deletedEvent('k2')])
  spec(decider, t).given([]).when(del('nope')).thenThrows('not_found', /nope/)
  spec(decider, t).given([setEvent(1, 1), deletedEvent('k1')]).when(del()).thenThrows('not_found', /api_key/)
  const state = fold(decider, [setEvent(1, 1), setEvent(2, 2), deletedEvent('k2')])
  t.same(state, { status: 'deleted', name: 'api_key', version: 2, deleted_at: m2.now, deleted_by: m2.actor, key_ids: ['k1', 'k2'] })
  t.end()
})

t.test('a secret set again after deletion goes on counting and starts a new life', t => {
  const history = [setEvent(1, 1), deletedEvent('k1')]
  spec(decider, t).given(history).when(set(2, m3)).then([setEvent(2, 2, m3)])
  const state = fold(decider, [...history, setEvent(2, 2, m3)])
  t.match(state, { status: 'active', version: 2, created_at: m3.now, created_by: m3.actor, key_ids: ['k1', 'k2'] })
  t.end()
})

t.test('the domain refuses what cannot be right, whoever sends it', t => {
  spec(decider, t).given([]).when(set(1, m1, { name: '1bad name' })).thenThrows('invalid', /not valid/)
  spec(decider, t).given([]).when(set(1, m1, { scope: 'team:x' })).thenThrows('invalid')
  spec(decider, t).given([]).when({ type: 'SetSecret', data: { name: 'a', ciphertext: '', iv: 'i', tag: 't', key_id: 'k' }, meta: m1 }).thenThrows('invalid')
  t.end()
})

t.test('events never carry a value, and the catalogue describes them field for field', t => {
  const emitted = [
    ...decider.decide(decider.initialState(), set(1)),
    ...decider.decide(fold(decider, [setEvent(1, 1)]), del())
  ]
  t.same(VAULT_EVENT_CATALOGUE.map(e => e.type).sort(), emitted.map(e => e.type).sort())
  for (const e of emitted) {
    const entry = VAULT_EVENT_CATALOGUE.find(c => c.type === e.type)
    t.same(entry?.fields, Object.keys(e.data), e.type)
    t.notOk('value' in (e.data as object), `${e.type} has no value field`)
    t.type(entry?.description, 'string')
  }
  t.end()
})
