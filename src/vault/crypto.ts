import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import type { NatsConnection } from '@nats-io/transport-node'
import { Kvm, type KV } from '@nats-io/kv'
import type { SealedValue } from '../../domain/vault/decider.ts'

const ALG = 'aes-256-gcm'
const IV_BYTES = 12
/** Key ids are KV keys: letters, digits, `_` and `-` only, so one can never be a wildcard. */
const KEY_ID = /^[A-Za-z0-9_-]{16,64}$/

export type VaultErrorCode = 'key_destroyed' | 'master_key_mismatch' | 'tampered' | 'malformed'

/** A value the vault cannot open; the message never contains key material or plaintext. */
export class VaultError extends Error {
  constructor (readonly code: VaultErrorCode, message: string) {
    super(message)
    this.name = 'VaultError'
  }
}

/**
 * The master key from DM_VAULT_KEY (or the key file): 32 bytes as 64 hex digits or as base64 /
 * base64url. Anything else is refused, since a short key would silently weaken every secret.
 */
export function parseMasterKey (key: string | Uint8Array): Buffer {
  if (typeof key !== 'string') {
    if (key.length !== 32) throw new Error(`the vault master key must be 32 bytes, got ${key.length}`)
    return Buffer.from(key)
  }
  const text = key.trim()
  const bytes = /^[0-9a-fA-F]{64}$/.test(text)
    ? Buffer.from(text, 'hex')
    : /^[A-Za-z0-9+/_-]{43}={0,1}$/.test(text) ? Buffer.from(text, 'base64') : null
  if (bytes == null || bytes.length !== 32) {
    throw new Error('DM_VAULT_KEY must be 32 random bytes, written as 64 hex digits or 44 base64 characters (e.g. `openssl rand -base64 32`)')
  }
  return bytes
}

/** The wrapped data key as kept in the KV bucket. */
interface WrappedKey {
  v: 1
  alg: 'A256GCM'
  /** fingerprint of the master key that wrapped it (not secret: a hash of a random 256-bit key) */
  kid: string
  iv: string
  tag: string
  wrapped: string
}

// Associated data binds each ciphertext and each wrapped key to its key id: swapping the key ids
// of two records makes both fail to open instead of mixing them up.
const dataAad = (keyId: string): Buffer => Buffer.from(`dimensigon-vault/data/${keyId}`)
const keyAad = (keyId: string): Buffer => Buffer.from(`dimensigon-vault/key/${keyId}`)

function seal (key: Buffer, plaintext: Buffer, aad: Buffer): { iv: Buffer, ciphertext: Buffer, tag: Buffer } {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv(ALG, key, iv)
  cipher.setAAD(aad)
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return { iv, ciphertext, tag: cipher.getAuthTag() }
}

function open (key: Buffer, parts: { iv: Buffer, ciphertext: Buffer, tag: Buffer }, aad: Buffer): Buffer {
  if (parts.iv.length !== IV_BYTES || parts.tag.length !== 16) throw new Error('bad iv or tag length')
  const decipher = createDecipheriv(ALG, key, parts.iv)
  decipher.setAAD(aad)
  decipher.setAuthTag(parts.tag)
  return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()])
}

/**
 * Envelope encryption (AES-256-GCM): every secret version gets a fresh random data key that
 * encrypts its value; the data key, wrapped with the master key, is kept in the KV bucket
 * `<ns>_vault_keys` under a random key id, outside the event log. The log only ever holds
 * ciphertext, so purging a data key (crypto-shredding) makes that version unrecoverable even to
 * someone holding the whole log and the master key.
 */
export class Vault {
  private constructor (
    private readonly kv: KV,
    private readonly master: Buffer,
    /** fingerprint of the master key, recorded with each wrapped key */
    readonly masterKeyId: string
  ) {}

  static async open (nc: NatsConnection, namespace: string, masterKey: string | Uint8Array, replicas = 1): Promise<Vault> {
    const master = parseMasterKey(masterKey)
    const kvm = new Kvm(nc)
    // history 1: a purge leaves nothing of the key behind
    const kv = await kvm.create(`${namespace}_vault_keys`, { history: 1, replicas })
    const fingerprint = createHash('sha256').update('dimensigon-vault-master-key\n').update(master).digest('hex').slice(0, 16)
    return new Vault(kv, master, fingerprint)
  }

  /** Encrypts `value` under a new data key, which it stores (wrapped) before returning. */
  async encrypt (value: string): Promise<SealedValue> {
    const keyId = randomBytes(16).toString('hex')
    const dataKey = randomBytes(32)
    try {
      const data = seal(dataKey, Buffer.from(value, 'utf8'), dataAad(keyId))
      const wrap = seal(this.master, dataKey, keyAad(keyId))
      const record: WrappedKey = {
        v: 1,
        alg: 'A256GCM',
        kid: this.masterKeyId,
        iv: wrap.iv.toString('base64'),
        tag: wrap.tag.toString('base64'),
        wrapped: wrap.ciphertext.toString('base64')
      }
      await this.kv.create(keyId, JSON.stringify(record))
      return { ciphertext: data.ciphertext.toString('base64'), iv: data.iv.toString('base64'), tag: data.tag.toString('base64'), key_id: keyId }
    } finally {
      dataKey.fill(0)
    }
  }

  /** The plaintext; VaultError when the data key is gone, the master key differs or anything was altered. */
  async decrypt (sealed: SealedValue): Promise<string> {
    const keyId = sealed.key_id
    if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) throw new VaultError('malformed', 'the key id of this ciphertext is not valid')
    const entry = await this.kv.get(keyId)
    if (entry == null || entry.operation !== 'PUT' || entry.length === 0) {
      throw new VaultError('key_destroyed', `the data key ${keyId} no longer exists (the secret was deleted): the value cannot be recovered`)
    }
    let record: WrappedKey
    try {
      record = entry.json<WrappedKey>()
    } catch {
      throw new VaultError('malformed', `the data key ${keyId} is not readable`)
    }
    if (record.kid !== this.masterKeyId) {
      throw new VaultError('master_key_mismatch', `the data key ${keyId} was wrapped with another master key: give every node the same DM_VAULT_KEY`)
    }
    let dataKey: Buffer
    try {
      dataKey = open(this.master, { iv: b64(record.iv), tag: b64(record.tag), ciphertext: b64(record.wrapped) }, keyAad(keyId))
    } catch {
      throw new VaultError('tampered', `the data key ${keyId} failed its integrity check`)
    }
    try {
      return open(dataKey, { iv: b64(sealed.iv), tag: b64(sealed.tag), ciphertext: b64(sealed.ciphertext) }, dataAad(keyId)).toString('utf8')
    } catch {
      throw new VaultError('tampered', `the ciphertext of data key ${keyId} failed its integrity check`)
    } finally {
      dataKey.fill(0)
    }
  }

  /** Crypto-shredding: purges the data key and its history. Idempotent. */
  async destroyKey (keyId: string): Promise<void> {
    // never hand a wildcard or an odd token to purge: it would purge other keys
    if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) throw new VaultError('malformed', 'the key id is not valid')
    await this.kv.purge(keyId)
  }

  /** Whether a data key is still stored (tests and diagnostics). */
  async hasKey (keyId: string): Promise<boolean> {
    if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) return false
    const entry = await this.kv.get(keyId)
    return entry != null && entry.operation === 'PUT' && entry.length > 0
  }
}

function b64 (s: unknown): Buffer {
  if (typeof s !== 'string') throw new Error('not base64 text')
  return Buffer.from(s, 'base64')
}
