import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { Kvm } from '@nats-io/kv'
import { Vault, VaultError, parseMasterKey } from '../../src/vault/crypto.ts'
import { openServices } from '../helpers/services.ts'

const services = await openServices()
t.teardown(services.teardown)
const { nc, namespace } = services
const master = randomBytes(32)
const vault = await Vault.open(nc, namespace, master.toString('base64'))
const bucket = await new Kvm(nc).open(`${namespace}_vault_keys`)

const refused = async (t: Test, p: Promise<unknown>, code: string, what: string): Promise<void> => {
  try {
    await p
    t.fail(`${what}: expected VaultError ${code}`)
  } catch (err) {
    t.type(err, VaultError, what)
    t.equal((err as VaultError).code, code, what)
  }
}

const flip = (b64: string, at = 0): string => {
  const b = Buffer.from(b64, 'base64')
  b[at % b.length] ^= 0x01
  return b.toString('base64')
}

t.test('round trip, for short, unicode and maximal values', async t => {
  for (const value of ['s3cr3t', 'pässwörd ✓ 🔑', 'x'.repeat(65536)]) {
    const sealed = await vault.encrypt(value)
    t.notOk(sealed.ciphertext.includes(Buffer.from(value).toString('base64')), 'ciphertext is not an encoding of the value')
    t.equal(await vault.decrypt(sealed), value)
  }
})

t.test('every encryption has its own data key, iv and ciphertext', async t => {
  const a = await vault.encrypt('same')
  const b = await vault.encrypt('same')
  t.not(a.key_id, b.key_id)
  t.not(a.iv, b.iv)
  t.not(a.ciphertext, b.ciphertext)
  t.match(a.key_id, /^[0-9a-f]{32}$/)
  // the KV holds a wrapped key, not the data key in clear, and nothing of the value
  const entry = await bucket.get(a.key_id)
  const record = entry!.json<Record<string, string>>()
  t.same(Object.keys(record).sort(), ['alg', 'iv', 'kid', 'tag', 'v', 'wrapped'])
  t.equal(Buffer.from(record.wrapped, 'base64').length, 32)
})

t.test('tampering with anything is detected', async t => {
  const sealed = await vault.encrypt('do not touch')
  const other = await vault.encrypt('other value')
  await refused(t, vault.decrypt({ ...sealed, ciphertext: flip(sealed.ciphertext) }), 'tampered', 'ciphertext')
  await refused(t, vault.decrypt({ ...sealed, tag: flip(sealed.tag) }), 'tampered', 'tag')
  await refused(t, vault.decrypt({ ...sealed, iv: flip(sealed.iv) }), 'tampered', 'iv')
  await refused(t, vault.decrypt({ ...sealed, tag: '' }), 'tampered', 'missing tag')
  await refused(t, vault.decrypt({ ...sealed, key_id: other.key_id }), 'tampered', 'another key id')
  await refused(t, vault.decrypt({ ...sealed, key_id: 'a.*' }), 'malformed', 'a wildcard key id')
  await refused(t, vault.decrypt({ ...sealed, key_id: randomBytes(16).toString('hex') }), 'key_destroyed', 'an unknown key id')

  // the wrapped key itself, altered in the bucket
  const record = (await bucket.get(sealed.key_id))!.json<Record<string, string>>()
  await bucket.put(sealed.key_id, JSON.stringify({ ...record, wrapped: flip(record.wrapped, 5) }))
  await refused(t, vault.decrypt(sealed), 'tampered', 'wrapped key')
  await bucket.put(sealed.key_id, 'not json')
  await refused(t, vault.decrypt(sealed), 'malformed', 'unreadable wrapped key')
  t.equal(await vault.decrypt(other), 'other value', 'the others still open')
})

t.test('another node with the same master key opens it; another master key does not', async t => {
  const sealed = await vault.encrypt('shared')
  const sameKeyAsHex = await Vault.open(nc, namespace, master.toString('hex'))
  t.equal(await sameKeyAsHex.decrypt(sealed), 'shared')
  const stranger = await Vault.open(nc, namespace, randomBytes(32))
  await refused(t, stranger.decrypt(sealed), 'master_key_mismatch', 'another master key')
})

t.test('destroying a data key makes its ciphertext unrecoverable and leaves no history', async t => {
  const sealed = await vault.encrypt('shred me')
  t.ok(await vault.hasKey(sealed.key_id))
  await vault.destroyKey(sealed.key_id)
  await vault.destroyKey(sealed.key_id) // idempotent
  t.notOk(await vault.hasKey(sealed.key_id))
  await refused(t, vault.decrypt(sealed), 'key_destroyed', 'after destroy')
  await refused(t, (await Vault.open(nc, namespace, master)).decrypt(sealed), 'key_destroyed', 'even for a fresh vault with the master key')
  const history = await bucket.history({ key: sealed.key_id })
  const left: Array<{ operation: string, length: number }> = []
  for await (const e of history) {
    left.push({ operation: e.operation, length: e.length })
    if (e.delta === 0) break
  }
  t.same(left, [{ operation: 'PURGE', length: 0 }], 'only the purge marker remains')
  await refused(t, vault.destroyKey('>'), 'malformed', 'a wildcard is never purged')
  await refused(t, vault.destroyKey('*'), 'malformed', 'a wildcard is never purged')
  t.notOk(await vault.hasKey('nope'))
})

t.test('master keys: 32 bytes as hex, base64 or base64url, nothing else', t => {
  const k = randomBytes(32)
  t.same(parseMasterKey(k.toString('hex')), k)
  t.same(parseMasterKey(k.toString('base64')), k)
  t.same(parseMasterKey(k.toString('base64url') + '\n'), k)
  t.same(parseMasterKey(new Uint8Array(k)), k)
  t.throws(() => parseMasterKey(randomBytes(16).toString('hex')), /32/)
  t.throws(() => parseMasterKey(randomBytes(31).toString('base64')), /32/)
  t.throws(() => parseMasterKey('correct horse battery staple'), /DM_VAULT_KEY/)
  t.throws(() => parseMasterKey(randomBytes(16)), /32 bytes/)
  t.end()
})
