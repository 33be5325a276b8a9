import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * API key secrets look like `dmk_<id>_<random>`, so the key's aggregate can be found from the
 * secret itself. A bootstrap secret chosen by the operator can have any shape: its id is derived
 * from its hash. Only the SHA-256 of a secret is ever stored: the secrets are 256-bit random
 * values, so a slow password hash would add nothing.
 */
const KEY_SHAPE = /^dmk_(key-[0-9a-f]{12})_[A-Za-z0-9_-]{43}$/

export function newApiKey (): { id: string, secret: string, hash: string } {
  const id = 'key-' + randomBytes(6).toString('hex')
  const secret = `dmk_${id}_${randomBytes(32).toString('base64url')}`
  return { id, secret, hash: hashSecret(secret) }
}

export function hashSecret (secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

export function bootstrapKeyId (secret: string): string {
  return 'bootstrap-' + hashSecret(secret).slice(0, 12)
}

export function keyIdOf (secret: string): string {
  return KEY_SHAPE.exec(secret)?.[1] ?? bootstrapKeyId(secret)
}

export function hashMatches (secret: string, hash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex')
  const b = Buffer.from(hash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}
