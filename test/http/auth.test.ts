import t, { type Test } from 'tap'
import { SignJWT, UnsecuredJWT } from 'jose'
import { pino } from 'pino'
import { loadConfig } from '../../src/config.ts'
import { startNode } from '../../src/node.ts'
import { connectNats } from '../../src/nats.ts'
import { openDatabase } from '../../src/db.ts'
import { ISSUER, AUDIENCE } from '../../src/auth/tokens.ts'
import { ADMIN_SECRET, startTestNode, type TestNode } from '../helpers/node.ts'
import { DATABASE_URL, NATS_URL, dropNamespace, freshNamespace } from '../helpers/services.ts'

const node = await startTestNode()
t.teardown(node.teardown)
const secret = new TextEncoder().encode(node.config.jwtSecret!)

const step = (id: string) => ({ id, action: { type: 'shell', command: 'true' } })
const orch = (name: string) => ({ name, steps: [step('a')] })

/** a 401 as the contract states it: challenge header and a problem document */
function assert401 (t: Test, res: Awaited<ReturnType<TestNode['request']>>, what: string): void {
  t.equal(res.statusCode, 401, `${what}: 401`)
  t.match(res.headers['www-authenticate'], /^Bearer\b/, `${what}: WWW-Authenticate: Bearer`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${what}: problem+json`)
  t.match(res.json(), { type: String, title: String, status: 401, detail: String }, `${what}: problem fields`)
}

const sign = (claims: Record<string, unknown>, opts: { key?: Uint8Array, iss?: string, aud?: string, exp?: number | string, sub?: string } = {}) => {
  const jwt = new SignJWT({ scope: 'admin', ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(opts.sub ?? 'bootstrap-whatever')
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
  return jwt.sign(opts.key ?? secret)
}

t.test('the token answer; a well-formed token is accepted', async t => {
  const res = await node.request({ method: 'POST', url: '/api/v1.0/auth/token', body: { api_key: ADMIN_SECRET }, token: null })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.type(body.access_token, 'string')
  t.equal(body.access_token.split('.').length, 3, 'a JWT')
  t.equal(body.token_type, 'Bearer')
  t.type(body.expires_in, 'number')
  t.ok(body.expires_in > 0)
  const ok = await node.request({ method: 'GET', url: '/api/v1.0/orchestrations', token: body.access_token })
  t.equal(ok.statusCode, 200, 'the token works')
  // control: a token signed with the right key and claims is accepted, so the rejections below
  // are about the one thing each changes
  const control = await sign({}, { sub: 'bootstrap-control' })
  t.equal((await node.request({ method: 'GET', url: '/api/v1.0/orchestrations', token: control })).statusCode, 200)
})

t.test('bad tokens → 401 with a Bearer challenge and problem+json', async t => {
  const url = '/api/v1.0/orchestrations'
  assert401(t, await node.request({ method: 'GET', url, token: null }), 'no token')
  assert401(t, await node.request({ method: 'GET', url, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' }, token: null }), 'basic auth')
  assert401(t, await node.request({ method: 'GET', url, headers: { authorization: 'Bearer ' }, token: null }), 'empty bearer')
  assert401(t, await node.request({ method: 'GET', url, token: 'garbage' }), 'garbage')
  assert401(t, await node.request({ method: 'GET', url, token: 'a.b.c' }), 'three garbage parts')
  assert401(t, await node.request({ method: 'GET', url, token: await sign({}, { key: new TextEncoder().encode('another-secret') }) }), 'wrong signature')
  assert401(t, await node.request({ method: 'GET', url, token: await sign({}, { exp: Math.floor(Date.now() / 1000) - 60 }) }), 'expired')
  assert401(t, await node.request({ method: 'GET', url, token: await sign({}, { iss: 'someone-else' }) }), 'wrong issuer')
  assert401(t, await node.request({ method: 'GET', url, token: await sign({}, { aud: 'other-api' }) }), 'wrong audience')
  const none = new UnsecuredJWT({ scope: 'admin' }).setSubject('bootstrap-x').setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('5m').encode()
  t.match(none, /\.$/, 'an unsigned token')
  assert401(t, await node.request({ method: 'GET', url, token: none }), 'alg none')
  // alg none with a signature part copied from a real token
  const real = await sign({})
  const [, payload, signature] = real.split('.')
  const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')
  assert401(t, await node.request({ method: 'GET', url, token: `${header}.${payload}.${signature}` }), 'alg none with a signature')
  // HS512 with the right key: the algorithm is pinned
  const hs512 = await new SignJWT({ scope: 'admin' }).setProtectedHeader({ alg: 'HS512' }).setSubject('bootstrap-x')
    .setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').sign(new TextEncoder().encode(node.config.jwtSecret!.padEnd(64, 'x')))
  assert401(t, await node.request({ method: 'GET', url, token: hs512 }), 'other algorithm')
  // the expired token's problem says it expired
  const expired = await node.request({ method: 'GET', url, token: await sign({}, { exp: Math.floor(Date.now() / 1000) - 60 }) })
  t.match(expired.json().detail, /expired/)
  // public routes need none
  t.equal((await node.request({ method: 'GET', url: '/healthcheck', token: null })).statusCode, 200)
})

t.test('wrong and revoked API keys cannot get a token', async t => {
  const tryKey = async (apiKey: string) => await node.request({ method: 'POST', url: '/api/v1.0/auth/token', body: { api_key: apiKey }, token: null })
  for (const bad of ['nope', ADMIN_SECRET + 'x', 'dmk_key-000000000000_' + 'A'.repeat(43)]) {
    const res = await tryKey(bad)
    t.equal(res.statusCode, 401, `${bad.slice(0, 20)}… → 401`)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.notOk('access_token' in res.json())
  }
  const { id, secret: keySecret } = await node.tokenWith(['orchestrations:read'])
  // a real key id with a wrong random part
  const forged = keySecret.slice(0, -4) + (keySecret.endsWith('AAAA') ? 'BBBB' : 'AAAA')
  t.equal((await tryKey(forged)).statusCode, 401, 'right id, wrong secret → 401')
  t.equal((await tryKey(keySecret)).statusCode, 200, 'the key works before revocation')
  t.equal((await node.request({ method: 'DELETE', url: `/api/v1.0/api-keys/${id}` })).statusCode, 204)
  const revoked = await tryKey(keySecret)
  t.equal(revoked.statusCode, 401, 'revoked key → 401')
  t.match(revoked.headers['content-type'], /^application\/problem\+json/)
})

t.test('a token without the scope → 403 naming it', async t => {
  const { token } = await node.tokenWith(['orchestrations:read'])
  const res = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: orch('noscope'), token })
  t.equal(res.statusCode, 403)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(res.json(), { status: 403, title: String, type: String, detail: /orchestrations:write/ })
  const keys = await node.request({ method: 'GET', url: '/api/v1.0/api-keys', token })
  t.equal(keys.statusCode, 403)
  t.match(keys.json().detail, /api-keys:manage/)
  const audit = await node.request({ method: 'GET', url: '/api/v1.0/audit', token })
  t.equal(audit.statusCode, 403)
  t.match(audit.json().detail, /audit:read/)
  // nothing was written by the refused request
  t.equal((await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/noscope' })).statusCode, 404)
  // a scope on another resource does not help
  const other = await node.tokenWith(['executions:launch'])
  const read = await node.request({ method: 'GET', url: '/api/v1.0/orchestrations', token: other.token })
  t.equal(read.statusCode, 403)
  t.match(read.json().detail, /orchestrations:read/)
})

t.test('glob-narrowed scopes', async t => {
  const writer = await node.tokenWith(['orchestrations:write:deploy-*'])
  const ok = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: orch('deploy-web'), token: writer.token })
  t.equal(ok.statusCode, 201, 'deploy-web matches deploy-*')
  const no = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: orch('build-web'), token: writer.token })
  t.equal(no.statusCode, 403, 'build-web does not')
  t.match(no.json().detail, /orchestrations:write/)
  t.equal((await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/build-web' })).statusCode, 404, 'the refused write changed nothing')
  const archive = await node.request({ method: 'DELETE', url: '/api/v1.0/orchestrations/build-web', token: writer.token })
  t.equal(archive.statusCode, 403, 'no archiving outside the glob either')
  const read = await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/deploy-web', token: writer.token })
  t.equal(read.statusCode, 403, 'write does not grant read')
  t.match(read.json().detail, /orchestrations:read/)

  // admin creates a mix of names
  for (const name of ['build-web', 'deploy-api', 'deployment', 'xdeploy-1']) {
    t.equal((await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: orch(name) })).statusCode, 201, `admin creates ${name}`)
  }
  const reader = await node.tokenWith(['orchestrations:read:deploy-*'])
  const list = await node.request({ method: 'GET', url: '/api/v1.0/orchestrations', token: reader.token })
  t.equal(list.statusCode, 200)
  t.same(list.json().items.map((i: any) => i.name), ['deploy-api', 'deploy-web'], 'lists only matching names')
  const paged = await node.request({ method: 'GET', url: '/api/v1.0/orchestrations?limit=1', token: reader.token })
  t.same(paged.json().items.map((i: any) => i.name), ['deploy-api'])
  const next = await node.request({ method: 'GET', url: `/api/v1.0/orchestrations?limit=1&cursor=${paged.json().next_cursor}`, token: reader.token })
  t.same(next.json().items.map((i: any) => i.name), ['deploy-web'], 'paging with a narrowed scope stays narrowed')
  t.equal((await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/deploy-api', token: reader.token })).statusCode, 200)
  const hidden = await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/build-web', token: reader.token })
  t.equal(hidden.statusCode, 403)
  t.match(hidden.json().detail, /orchestrations:read/)
  t.equal((await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/build-web/versions', token: reader.token })).statusCode, 403)
  t.equal((await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/deployment', token: reader.token })).statusCode, 403, 'deployment does not match deploy-*')
  const create = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: orch('deploy-new'), token: reader.token })
  t.equal(create.statusCode, 403, 'read does not grant write')
})

t.test('admin can do everything', async t => {
  const admin = await node.tokenWith(['admin'])
  const calls: Array<[string, string, unknown?]> = [
    ['POST', '/api/v1.0/orchestrations', orch('admin-made')],
    ['GET', '/api/v1.0/orchestrations'],
    ['GET', '/api/v1.0/orchestrations/admin-made'],
    ['GET', '/api/v1.0/orchestrations/admin-made/versions'],
    ['DELETE', '/api/v1.0/orchestrations/admin-made'],
    ['GET', '/api/v1.0/api-keys'],
    ['GET', `/api/v1.0/api-keys/${admin.id}`],
    ['POST', '/api/v1.0/api-keys', { name: 'made-by-admin', scopes: ['audit:read'] }],
    ['GET', '/api/v1.0/audit'],
    ['GET', '/api/v2/data-dictionary']
  ]
  for (const [method, url, body] of calls) {
    const res = await node.request({ method, url, body, token: admin.token })
    t.ok(res.statusCode >= 200 && res.statusCode < 300, `${method} ${url} → ${res.statusCode}`)
  }
})

t.test('revocation: at once on this node, within a second on another', async t => {
  const second = await startTestNode({ DM_NAMESPACE: node.namespace, DM_JWT_SECRET: node.config.jwtSecret!, DM_ROLES: 'api' })
  t.teardown(second.stop)
  const { id, token } = await node.tokenWith(['orchestrations:read'])
  t.equal((await node.request({ method: 'GET', url: '/api/v1.0/orchestrations', token })).statusCode, 200)
  t.equal((await second.request({ method: 'GET', url: '/api/v1.0/orchestrations', token })).statusCode, 200, 'the other node accepts it before')
  t.equal((await node.request({ method: 'DELETE', url: `/api/v1.0/api-keys/${id}` })).statusCode, 204)
  const revokedAt = Date.now()
  assert401(t, await node.request({ method: 'GET', url: '/api/v1.0/orchestrations', token }), 'same node right after')
  let status = 0
  while (Date.now() - revokedAt < 1000) {
    status = (await second.request({ method: 'GET', url: '/api/v1.0/orchestrations', token })).statusCode
    if (status === 401) break
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  t.equal(status, 401, `second node refuses it within a second (${Date.now() - revokedAt} ms)`)
  assert401(t, await second.request({ method: 'GET', url: '/api/v1.0/orchestrations', token }), 'second node')
  // the key is shown as revoked; other keys go on working
  const shown = await node.request({ method: 'GET', url: `/api/v1.0/api-keys/${id}` })
  t.match(shown.json(), { id, status: 'revoked', revoked_at: String })
  t.equal((await second.request({ method: 'GET', url: '/api/v1.0/orchestrations' })).statusCode, 200, 'the admin token still works')
  t.equal((await node.request({ method: 'DELETE', url: `/api/v1.0/api-keys/${id}` })).statusCode, 204, 'revoking again is idempotent')
  t.equal((await node.request({ method: 'DELETE', url: '/api/v1.0/api-keys/key-000000000000' })).statusCode, 404, 'unknown key → 404')
})

t.test('the bootstrap key is created once', async t => {
  const count = async (n: TestNode) => (await n.request({ method: 'GET', url: '/api/v1.0/api-keys?limit=500' })).json().items.length
  const lastSeq = await node.node.store.lastSeqOf(node.node.store.typeFilter('api_key'))
  const before = await count(node)
  const second = await startTestNode({ DM_NAMESPACE: node.namespace, DM_JWT_SECRET: node.config.jwtSecret!, DM_ROLES: 'api' })
  t.teardown(second.stop)
  t.equal(second.node.generatedApiKey, undefined, 'nothing generated when the bootstrap key is set')
  t.equal(await node.node.store.lastSeqOf(node.node.store.typeFilter('api_key')), lastSeq, 'no api_key event appended')
  t.equal(await count(node), before, 'key count unchanged')
  const bootstrap = (await node.request({ method: 'GET', url: '/api/v1.0/api-keys?limit=500' })).json().items.filter((k: any) => k.name === 'bootstrap')
  t.equal(bootstrap.length, 1, 'one bootstrap key')
  t.same(bootstrap[0].scopes, ['admin'])
})

t.test('with no key and no DM_BOOTSTRAP_API_KEY a key is generated and printed once', async t => {
  const namespace = freshNamespace()
  const config = loadConfig({
    DM_NAMESPACE: namespace,
    NATS_URL,
    DATABASE_URL,
    DM_ROLES: 'api,projector',
    DM_BOOTSTRAP_API_KEY: '',
    DM_JWT_SECRET: 'test-jwt-secret-' + namespace,
    DM_PORT: '0',
    DM_HOST: '127.0.0.1',
    DM_LEASE_TTL_MS: '2000'
  })
  t.equal(config.bootstrapApiKey, undefined)
  const log = pino({ level: 'silent' })
  // the key is printed on stdout, which is the TAP stream here: capture it
  const printed: string[] = []
  const write = process.stdout.write
  const start = async () => {
    process.stdout.write = ((chunk: any) => { printed.push(String(chunk)); return true }) as any
    try {
      return await startNode(config, { log, listen: false })
    } finally {
      process.stdout.write = write
    }
  }
  const first = await start()
  let restarted: Awaited<ReturnType<typeof startNode>> | undefined
  t.teardown(async () => {
    await restarted?.stop()
    await first.stop()
    await dropNamespace(namespace, await connectNats([NATS_URL], 'teardown'), await openDatabase(DATABASE_URL, namespace))
  })
  const key = first.generatedApiKey
  t.type(key, 'string')
  t.match(key, /^dmk_key-[0-9a-f]{12}_/)
  t.ok(printed.join('').includes(key!), 'the key is printed')
  for (let i = 0; i < 200 && (await first.app!.inject({ method: 'GET', url: '/healthcheck' })).statusCode !== 200; i++) {
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  const tokenRes = await first.app!.inject({ method: 'POST', url: '/api/v1.0/auth/token', payload: { api_key: key } })
  t.equal(tokenRes.statusCode, 200, tokenRes.body)
  const token = tokenRes.json().access_token
  t.equal(tokenRes.json().scope, 'admin')
  for (const [method, url, payload] of [
    ['POST', '/api/v1.0/orchestrations', orch('gen')],
    ['GET', '/api/v1.0/api-keys', undefined],
    ['GET', '/api/v1.0/audit', undefined]
  ] as const) {
    const res = await first.app!.inject({ method, url, payload, headers: { authorization: `Bearer ${token}` } })
    t.ok(res.statusCode >= 200 && res.statusCode < 300, `generated key is admin: ${method} ${url} → ${res.statusCode}`)
  }
  // a second start finds a key and generates none
  printed.length = 0
  restarted = await start()
  t.equal(restarted.generatedApiKey, undefined, 'a later start generates no key')
  t.notOk(printed.join('').includes('dmk_'), 'and prints none')
  const keys = await first.app!.inject({ method: 'GET', url: '/api/v1.0/api-keys', headers: { authorization: `Bearer ${token}` } })
  t.equal(keys.json().items.length, 1, 'still one key')
})
