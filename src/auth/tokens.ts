import { SignJWT, jwtVerify, errors as joseErrors } from 'jose'

export const ISSUER = 'dimensigon'
export const AUDIENCE = 'dimensigon-api'
const ALG = 'HS256'

export interface TokenClaims {
  /** the API key id */
  sub: string
  scopes: string[]
}

/** Stateless JWTs; issuer, audience, expiry and algorithm are pinned on both sides. */
export class Tokens {
  private readonly key: Uint8Array
  constructor (secret: string, readonly ttlSeconds: number) {
    this.key = new TextEncoder().encode(secret)
  }

  async issue (claims: TokenClaims): Promise<string> {
    return await new SignJWT({ scope: claims.scopes.join(' ') })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key)
  }

  /** Returns the claims, or a reason the token is not acceptable. */
  async verify (token: string): Promise<TokenClaims | { error: string }> {
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, audience: AUDIENCE, algorithms: [ALG] })
      if (typeof payload.sub !== 'string' || typeof payload.scope !== 'string') return { error: 'the token lacks its subject or scope' }
      return { sub: payload.sub, scopes: payload.scope.split(' ').filter(Boolean) }
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { error: 'the token has expired; exchange your API key for a new one at POST /api/v1.0/auth/token' }
      return { error: 'the token is not valid' }
    }
  }
}
