import { pino } from 'pino'
import type { FastifyInstance } from 'fastify'
import { loadConfig, type Config } from '../../src/config.ts'
import { startNode, type RunningNode } from '../../src/node.ts'
import { connectNats } from '../../src/nats.ts'
import { openDatabase } from '../../src/db.ts'
import { DATABASE_URL, NATS_URL, dropNamespace, freshNamespace } from './services.ts'

export const ADMIN_SECRET = 'test-bootstrap-secret'

export interface TestNode {
  node: RunningNode
  app: FastifyInstance
  namespace: string
  config: Config
  /** a bearer token of the bootstrap admin key */
  adminToken: string
  /** creates an API key with these scopes and returns a token for it (and the key) */
  tokenWith: (scopes: string[]) => Promise<{ token: string, id: string, secret: string }>
  /** inject with the admin token unless headers say otherwise */
  request: (opts: { method: string, url: string, body?: unknown, headers?: Record<string, string>, token?: string | null }) => Promise<{ statusCode: number, headers: Record<string, any>, json: () => any, body: string }>
  stop: () => Promise<void>
  /** stop and remove everything of the namespace */
  teardown: () => Promise<void>
}

/**
 * A whole node (every role but engine/agent unless asked) in a fresh namespace against the real
 * NATS and Postgres, with the app not listening (tests use inject) unless `listen` is set.
 */
export async function startTestNode (overrides: Record<string, string> = {}, opts: { listen?: boolean } = {}): Promise<TestNode> {
  const namespace = overrides.DM_NAMESPACE ?? freshNamespace()
  const config = loadConfig({
    DM_NAMESPACE: namespace,
    NATS_URL,
    DATABASE_URL,
    DM_ROLES: 'api,projector',
    DM_BOOTSTRAP_API_KEY: ADMIN_SECRET,
    DM_JWT_SECRET: 'test-jwt-secret-' + namespace,
    DM_PORT: '0',
    DM_HOST: '127.0.0.1',
    DM_LEASE_TTL_MS: '2000',
    ...overrides
  })
  const node = await startNode(config, { log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), listen: opts.listen ?? false })
  const app = node.app!
  const request: TestNode['request'] = async ({ method, url, body, headers = {}, token }) => {
    const auth = token === null ? {} : { authorization: `Bearer ${token ?? adminToken}` }
    const res = await app.inject({
      method: method as any,
      url,
      headers: { ...auth, ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
      payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    })
    return { statusCode: res.statusCode, headers: res.headers, json: () => res.json(), body: res.body }
  }
  const exchange = async (secret: string): Promise<string> => {
    const res = await request({ method: 'POST', url: '/api/v1.0/auth/token', body: { api_key: secret }, token: null })
    if (res.statusCode !== 200) throw new Error(`token exchange failed: ${res.statusCode} ${res.body}`)
    return res.json().access_token
  }
  // the revocation feed must be live before authenticated requests are served
  for (let i = 0; i < 200 && !(await request({ method: 'GET', url: '/healthcheck', token: null })).json().status.startsWith('ok'); i++) {
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  const adminToken = await exchange(ADMIN_SECRET)
  const tokenWith: TestNode['tokenWith'] = async (scopes) => {
    const res = await request({ method: 'POST', url: '/api/v1.0/api-keys', body: { name: 'test', scopes } })
    if (res.statusCode !== 201) throw new Error(`key creation failed: ${res.statusCode} ${res.body}`)
    const { id, api_key: secret } = res.json()
    return { token: await exchange(secret), id, secret }
  }
  return {
    node,
    app,
    namespace,
    config,
    adminToken,
    tokenWith,
    request,
    stop: async () => await node.stop(),
    teardown: async () => {
      await node.stop()
      const nc = await connectNats([NATS_URL], 'teardown')
      await dropNamespace(namespace, nc, await openDatabase(DATABASE_URL, namespace))
    }
  }
}
