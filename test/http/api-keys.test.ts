import t from 'tap'
import { hashSecret } from '../../src/auth/keys.ts'
import { startTestNode } from '../helpers/node.ts'

const node = await startTestNode()
t.teardown(node.teardown)

const problemJson = /^application\/problem\+json/

t.test('create shows the secret once; list and read never show it or its hash', async t => {
  const res = await node.request({ method: 'POST', url: '/api/v1.0/api-keys', body: { name: 'ci', scopes: ['orchestrations:read', 'executions:launch:deploy-*'] } })
  t.equal(res.statusCode, 201, res.body)
  const created = res.json()
  t.match(created, { id: String, name: 'ci', scopes: ['orchestrations:read', 'executions:launch:deploy-*'], api_key: String, status: 'active', created_at: String })
  t.equal(res.headers.location, `/api/v1.0/api-keys/${created.id}`)
  t.notOk('secret_hash' in created, 'no hash in the creation answer')
  const secret: string = created.api_key
  t.ok(secret.length >= 40, 'a long secret')
  t.notOk(res.body.includes(hashSecret(secret)), 'the hash is not in the creation answer')

  const list = await node.request({ method: 'GET', url: '/api/v1.0/api-keys' })
  t.equal(list.statusCode, 200)
  t.ok(list.json().items.some((k: any) => k.id === created.id), 'listed')
  const one = await node.request({ method: 'GET', url: `/api/v1.0/api-keys/${created.id}` })
  t.equal(one.statusCode, 200)
  t.match(one.json(), { id: created.id, name: 'ci', scopes: created.scopes, status: 'active' })
  for (const [what, text] of [['list', list.body], ['one', one.body]]) {
    t.notOk(text.includes(secret), `${what}: no secret`)
    t.notOk(text.includes(hashSecret(secret)), `${what}: no hash`)
    t.notOk(text.includes('api_key'), `${what}: no api_key field`)
    t.notOk(text.includes('secret_hash'), `${what}: no secret_hash field`)
  }
  // the bootstrap key's secret and hash do not show either
  t.notOk(list.body.includes('test-bootstrap-secret'))
  t.notOk(list.body.includes(hashSecret('test-bootstrap-secret')))

  // the secret works once shown, and read-only fields in a body are ignored
  const token = await node.request({ method: 'POST', url: '/api/v1.0/auth/token', body: { api_key: secret }, token: null })
  t.equal(token.statusCode, 200)
  t.equal(token.json().token_type, 'Bearer')
  const ro = await node.request({ method: 'POST', url: '/api/v1.0/api-keys', body: { name: 'ro', scopes: ['audit:read'], id: 'chosen-id', api_key: 'chosen-secret' } })
  t.equal(ro.statusCode, 201)
  t.not(ro.json().id, 'chosen-id', 'the server picks the id')
  t.not(ro.json().api_key, 'chosen-secret', 'and the secret')
  t.equal((await node.request({ method: 'POST', url: '/api/v1.0/auth/token', body: { api_key: 'chosen-secret' }, token: null })).statusCode, 401)
  t.equal((await node.request({ method: 'GET', url: '/api/v1.0/api-keys/no-such-key' })).statusCode, 404)
})

t.test('list paging', async t => {
  for (let i = 0; i < 4; i++) {
    t.equal((await node.request({ method: 'POST', url: '/api/v1.0/api-keys', body: { name: `p${i}`, scopes: ['servers:read'] } })).statusCode, 201)
  }
  const all = (await node.request({ method: 'GET', url: '/api/v1.0/api-keys?limit=500' })).json().items.map((k: any) => k.id)
  const paged: string[] = []
  let cursor: string | null = null
  for (let i = 0; i < 20; i++) {
    const res = await node.request({ method: 'GET', url: `/api/v1.0/api-keys?limit=2${cursor != null ? `&cursor=${cursor}` : ''}` })
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.ok(body.items.length <= 2)
    paged.push(...body.items.map((k: any) => k.id))
    cursor = body.next_cursor
    if (cursor == null) break
  }
  t.same(paged, all, 'pages add up to the whole list, in order, without duplicates')
  t.ok(all.length >= 5)
})

t.test('PATCH rate_limits', async t => {
  const { id } = (await node.request({ method: 'POST', url: '/api/v1.0/api-keys', body: { name: 'limited', scopes: ['orchestrations:read'], rate_limits: { 'requests/sec': 5 } } })).json()
  t.same((await node.request({ method: 'GET', url: `/api/v1.0/api-keys/${id}` })).json().rate_limits, { 'requests/sec': 5 })
  const limits = { 'requests/sec': 100, burst: 500, quota: '10k/day' }
  const res = await node.request({ method: 'PATCH', url: `/api/v1.0/api-keys/${id}`, body: { rate_limits: limits } })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json().rate_limits, limits)
  t.same((await node.request({ method: 'GET', url: `/api/v1.0/api-keys/${id}` })).json().rate_limits, limits, 'read back')
  const listed = (await node.request({ method: 'GET', url: '/api/v1.0/api-keys?limit=500' })).json().items.find((k: any) => k.id === id)
  t.same(listed.rate_limits, limits, 'listed with the new limits')
  const reset = await node.request({ method: 'PATCH', url: `/api/v1.0/api-keys/${id}`, body: { rate_limits: null } })
  t.equal(reset.statusCode, 200)
  t.equal((await node.request({ method: 'GET', url: `/api/v1.0/api-keys/${id}` })).json().rate_limits, null, 'null returns to the defaults')

  for (const [body, path] of [
    [{ rate_limits: { 'requests/sec': 0 } }, '/rate_limits/requests~1sec'],
    [{ rate_limits: { burst: 1.5 } }, '/rate_limits/burst'],
    [{ rate_limits: { quota: 'lots' } }, '/rate_limits/quota'],
    [{ rate_limits: { speed: 1 } }, '/rate_limits/speed'],
    [{}, '/rate_limits']
  ] as const) {
    const bad = await node.request({ method: 'PATCH', url: `/api/v1.0/api-keys/${id}`, body })
    t.equal(bad.statusCode, 400, `${JSON.stringify(body)} → 400`)
    t.match(bad.headers['content-type'], problemJson)
    t.ok(bad.json().errors.some((e: any) => e.path === path), `errors name ${path}: ${JSON.stringify(bad.json().errors)}`)
  }
  t.equal((await node.request({ method: 'PATCH', url: '/api/v1.0/api-keys/no-such-key', body: { rate_limits: null } })).statusCode, 404)
  // a revoked key's limits cannot change
  t.equal((await node.request({ method: 'DELETE', url: `/api/v1.0/api-keys/${id}` })).statusCode, 204)
  const gone = await node.request({ method: 'PATCH', url: `/api/v1.0/api-keys/${id}`, body: { rate_limits: null } })
  t.equal(gone.statusCode, 409)
  t.match(gone.headers['content-type'], problemJson)
})

t.test('invalid scopes and bodies → 400 with errors paths', async t => {
  const count = async () => (await node.request({ method: 'GET', url: '/api/v1.0/api-keys?limit=500' })).json().items.length
  const before = await count()
  const cases: Array<[unknown, string]> = [
    [{ name: 'x', scopes: ['foo:bar'] }, '/scopes/0'],
    [{ name: 'x', scopes: ['orchestrations:read', 'executions:launch:bad glob!'] }, '/scopes/1'],
    [{ name: 'x', scopes: ['admin:everything'] }, '/scopes/0'],
    [{ name: 'x', scopes: ['orchestrations'] }, '/scopes/0'],
    [{ name: 'x', scopes: [] }, '/scopes'],
    [{ name: 'x', scopes: ['admin', 'admin'] }, '/scopes'],
    [{ name: 'x', scopes: 'admin' }, '/scopes'],
    [{ name: 'x' }, '/scopes'],
    [{ scopes: ['admin'] }, '/name'],
    [{ name: '', scopes: ['admin'] }, '/name'],
    [{ name: 'x'.repeat(101), scopes: ['admin'] }, '/name'],
    [{ name: 'x', scopes: ['admin'], extra: 1 }, '/extra']
  ]
  for (const [body, path] of cases) {
    const res = await node.request({ method: 'POST', url: '/api/v1.0/api-keys', body })
    t.equal(res.statusCode, 400, `${JSON.stringify(body).slice(0, 80)} → 400`)
    t.match(res.headers['content-type'], problemJson)
    const problem = res.json()
    t.match(problem, { type: String, title: String, status: 400, detail: String, errors: Array })
    t.ok(problem.errors.some((e: any) => e.path === path && typeof e.message === 'string'), `errors has ${path}: ${JSON.stringify(problem.errors)}`)
  }
  t.equal(await count(), before, 'no key was created')
})

t.test('api-keys:manage is needed', async t => {
  const { token } = await node.tokenWith(['orchestrations:write'])
  for (const [method, url, body] of [
    ['GET', '/api/v1.0/api-keys', undefined],
    ['POST', '/api/v1.0/api-keys', { name: 'escalate', scopes: ['admin'] }],
    ['GET', '/api/v1.0/api-keys/x', undefined],
    ['PATCH', '/api/v1.0/api-keys/x', { rate_limits: null }],
    ['DELETE', '/api/v1.0/api-keys/x', undefined]
  ] as const) {
    const res = await node.request({ method, url, body, token })
    t.equal(res.statusCode, 403, `${method} ${url}`)
    t.match(res.json().detail, /api-keys:manage/)
  }
  const manager = await node.tokenWith(['api-keys:manage'])
  t.equal((await node.request({ method: 'GET', url: '/api/v1.0/api-keys', token: manager.token })).statusCode, 200)
})
