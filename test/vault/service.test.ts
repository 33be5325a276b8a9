import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { Kvm } from '@nats-io/kv'
import { DomainError } from '../../domain/decider.ts'
import { vaultDecider } from '../../domain/vault/decider.ts'
import { handleCommand } from '../../src/commands.ts'
import { ConcurrencyError } from '../../src/event-store.ts'
import { Vault } from '../../src/vault/crypto.ts'
import { deleteSecret, loadSecret, readSecret, setSecret, shredDeletedSecrets, vaultRef } from '../../src/vault/service.ts'
import { openServices } from '../helpers/services.ts'

const services = await openServices()
t.teardown(services.teardown)
const { nc, store, namespace } = services
const vault = await Vault.open(nc, namespace, randomBytes(32))
const bucket = await new Kvm(nc).open(`${namespace}_vault_keys`)
const ctx = (commandId: string = randomUUID()) => ({ commandId, actor: 'tester', now: new Date().toISOString() })

/** key ids of the data keys still stored */
const liveKeys = async (): Promise<string[]> => {
  const out: string[] = []
  for await (const k of await bucket.keys()) if (await vault.hasKey(k)) out.push(k)
  return out.sort()
}
const keyIdsOf = async (name: string): Promise<string[]> => {
  const s = await loadSecret(store, name)
  return s.status === 'empty' ? [] : s.key_ids
}

t.test('a retried command (same id) appends nothing and leaves no stray data key', async t => {
  const c = ctx()
  const first = await setSecret(store, vault, { name: 'retried', value: 'one' }, c)
  t.equal(first.outcome.appended, true)
  const again = await setSecret(store, vault, { name: 'retried', value: 'two' }, c)
  t.equal(again.outcome.appended, false)
  t.match(again.secret, { name: 'retried', version: 1 })
  t.equal((await readSecret(store, vault, 'retried'))?.value, 'one', 'the first value stands')
  t.same(await keyIdsOf('retried'), (await liveKeys()).filter(k => k === (first.outcome.state as any).key_id))
  t.equal((await liveKeys()).length, 1, 'the retry\'s key was destroyed')
})

t.test('a refused or conflicting set destroys its data key', async t => {
  const before = await liveKeys()
  await t.rejects(setSecret(store, vault, { name: 'bad name', value: 'v' }, ctx()), DomainError)
  t.same(await liveKeys(), before, 'refused by the domain')
  const results = await Promise.allSettled(Array.from({ length: 6 }, async (_, i) => await setSecret(store, vault, { name: 'raced', value: `v${i}` }, ctx())))
  const won = results.filter(r => r.status === 'fulfilled').length
  const lost = results.filter(r => r.status === 'rejected')
  t.ok(won >= 1)
  t.ok(lost.every(r => (r as PromiseRejectedResult).reason instanceof ConcurrencyError), 'losers get a ConcurrencyError (409)')
  t.equal((await liveKeys()).length, before.length + won, 'only the appended versions keep a key')
  t.equal((await keyIdsOf('raced')).length, won)
})

t.test('deleting again finishes a shredding a crash interrupted', async t => {
  await setSecret(store, vault, { name: 'crashy', value: 'v1' }, ctx())
  await setSecret(store, vault, { name: 'crashy', value: 'v2' }, ctx())
  const keys = await keyIdsOf('crashy')
  // the deletion is in the log, but the node died before purging
  await handleCommand(store, vaultDecider, vaultRef('crashy'), { type: 'DeleteSecret', data: { name: 'crashy' } }, ctx())
  for (const k of keys) t.ok(await vault.hasKey(k), 'keys still there after the "crash"')
  await t.rejects(deleteSecret(store, vault, 'crashy', ctx()), { name: 'DomainError', message: /not found/ })
  for (const k of keys) t.notOk(await vault.hasKey(k), 'purged by the retry')
  t.equal(await readSecret(store, vault, 'crashy'), null)
  await t.rejects(deleteSecret(store, vault, 'never-was', ctx()), { name: 'DomainError', message: /not found/ })
})

t.test('shredDeletedSecrets purges the keys of every deleted secret, also of names set again', async t => {
  await setSecret(store, vault, { name: 'swept', value: 'old' }, ctx())
  const oldKeys = await keyIdsOf('swept')
  await handleCommand(store, vaultDecider, vaultRef('swept'), { type: 'DeleteSecret', data: { name: 'swept' } }, ctx())
  await setSecret(store, vault, { name: 'swept', value: 'new' }, ctx())
  const newKey = (await keyIdsOf('swept')).filter(k => !oldKeys.includes(k))
  await setSecret(store, vault, { name: 'kept', value: 'kept' }, ctx())
  const purged = await shredDeletedSecrets(store, vault)
  t.ok(purged >= oldKeys.length)
  for (const k of oldKeys) t.notOk(await vault.hasKey(k), 'the deleted life is shredded')
  for (const k of newKey) t.ok(await vault.hasKey(k), 'the new life is not')
  t.equal((await readSecret(store, vault, 'swept'))?.value, 'new')
  t.equal((await readSecret(store, vault, 'kept'))?.value, 'kept')
  t.equal(await shredDeletedSecrets(store, vault), purged, 'idempotent')
})

t.test('nothing to sweep in an empty vault', async t => {
  const empty = await openServices()
  t.teardown(empty.teardown)
  t.equal(await shredDeletedSecrets(empty.store, await Vault.open(empty.nc, empty.namespace, randomBytes(32))), 0)
})
