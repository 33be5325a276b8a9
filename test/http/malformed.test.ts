import t, { type Test } from 'tap'
import { startTestNode } from '../helpers/node.ts'

const node = await startTestNode()
t.teardown(node.teardown)

interface Case {
  method: string
  url: string
  /** a string is sent as it is */
  body?: unknown
  contentType?: string
  token?: string | null
  /** the exact status, when it matters */
  status?: number
}

const valid = { name: 'ok-one', steps: [{ id: 'a', action: { type: 'shell', command: 'true' } }] }
const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)
const deepArray = (n: number) => '['.repeat(n) + ']'.repeat(n)
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

/** a refused request: 4xx, never 500, as problem+json with the four members */
async function refused (t: Test, c: Case): Promise<void> {
  const headers: Record<string, string> = {}
  if (c.contentType !== undefined) headers['content-type'] = c.contentType
  else if (typeof c.body === 'string') headers['content-type'] = 'application/json'
  const res = await node.request({ method: c.method, url: c.url, body: c.body, headers, token: c.token })
  const label = `${c.method} ${c.url.slice(0, 80)}${c.body !== undefined ? ` ${String(typeof c.body === 'string' ? c.body : JSON.stringify(c.body)).slice(0, 40)}` : ''}${c.contentType != null ? ` [${c.contentType}]` : ''}`
  t.ok(res.statusCode >= 400 && res.statusCode < 500, `${label} → ${res.statusCode} (4xx)`)
  if (c.status != null) t.equal(res.statusCode, c.status, `${label} → ${c.status}`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${label}: problem+json`)
  let body: any
  try { body = JSON.parse(res.body) } catch { t.fail(`${label}: body is not JSON: ${res.body.slice(0, 100)}`); return }
  t.match(body, { type: String, title: String, status: res.statusCode, detail: String }, `${label}: type, title, status, detail`)
  if (body.errors !== undefined) t.ok(Array.isArray(body.errors) && body.errors.every((e: any) => typeof e.path === 'string' && typeof e.message === 'string'), `${label}: errors are {path, message}`)
}

const logLength = async () => await node.node.store.lastSeq()
const auditLength = async () => (await node.request({ method: 'GET', url: '/api/v1.0/audit?limit=500' })).json().items.length

// something to read, so the read routes have a real target too
await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: { name: 'present', steps: [{ id: 'a', action: { type: 'shell', command: 'true' } }] } })
const { id: keyId } = (await node.request({ method: 'POST', url: '/api/v1.0/api-keys', body: { name: 'k', scopes: ['audit:read'] } })).json()
const logBefore = await logLength()
const auditBefore = await auditLength()

const WRITES: Array<{ method: string, url: string, token?: null }> = [
  { method: 'POST', url: '/api/v1.0/orchestrations' },
  { method: 'POST', url: '/api/v1.0/api-keys' },
  { method: 'PATCH', url: `/api/v1.0/api-keys/${keyId}` },
  { method: 'POST', url: '/api/v1.0/auth/token', token: null }
]

t.test('bodies that are not a JSON object', async t => {
  const bodies: Array<[string, number?]> = [
    ['{"name": "x", ', 400],
    ['hello', 400],
    ["{'name': 'x'}", 400],
    ['{"a":1}}', 400],
    ['', 400],
    ['[]', 400],
    ['[{"name":"x"}]', 400],
    ['"a string"', 400],
    ['null', 400],
    ['42', 400],
    ['-1.5e300', 400],
    ['true', 400],
    ['{}', 400],
    ['{"__proto__": {"admin": true}}', 400],
    ['{"constructor": {"prototype": {"admin": true}}}', 400],
    [deepObject(100_000), 400],
    [deepArray(200_000), 400],
    [`{"name":"deep","steps":[{"id":"a","action":{"type":"http","url":"http://x/","body":${deepObject(50_000)}}}]}`, 400],
    [`{"name":"deep","params":{"p":{"type":"object","default":${deepObject(1000)}}},"steps":[{"id":"a","action":{"type":"shell","command":"x"}}]}`, 400],
    [`{"name":"deep","params":{"p":{"type":"array","default":${deepArray(70)}}},"steps":[{"id":"a","action":{"type":"shell","command":"x"}}]}`, 400]
  ]
  for (const route of WRITES) {
    for (const [body, status] of bodies) await refused(t, { ...route, body, status })
  }
})

t.test('bodies above 1 MiB → 413', async t => {
  const huge = JSON.stringify({ ...valid, description: 'x'.repeat(1024 * 1024) })
  for (const route of WRITES) {
    await refused(t, { ...route, body: huge, status: 413 })
    await refused(t, { ...route, body: ' '.repeat(1024 * 1024 + 1), status: 413 })
  }
})

t.test('wrong content types → 415', async t => {
  const json = JSON.stringify(valid)
  for (const route of WRITES) {
    for (const contentType of ['text/plain', 'text/plain; charset=utf-8', 'application/xml', 'text/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', 'image/png', 'application/jsonx']) {
      await refused(t, { ...route, body: json, contentType, status: 415 })
    }
    await refused(t, { ...route, body: '<orchestration name="x"/>', contentType: 'application/xml', status: 415 })
    // a form-encoded body that is not JSON (curl -d name=x)
    await refused(t, { ...route, body: 'name=x&steps=y', contentType: 'application/x-www-form-urlencoded' })
  }
})

t.test('values no schema may let through', async t => {
  const nul = (patch: Record<string, unknown>) => ({ ...valid, name: 'nul', ...patch })
  await refused(t, { method: 'POST', url: '/api/v1.0/orchestrations', body: nul({ description: 'a\u0000b' }), status: 400 })
  await refused(t, { method: 'POST', url: '/api/v1.0/orchestrations', body: nul({ steps: [{ id: 'a', action: { type: 'shell', command: 'echo \u0000' } }] }), status: 400 })
  await refused(t, { method: 'POST', url: '/api/v1.0/orchestrations', body: nul({ params: { p: { type: 'string', default: { 'k\u0000': 1 } } } }), status: 400 })
  await refused(t, { method: 'POST', url: '/api/v1.0/api-keys', body: { name: 'nul\u0000', scopes: ['admin'] }, status: 400 })
  await refused(t, { method: 'POST', url: '/api/v1.0/auth/token', body: { api_key: '\u0000' }, token: null, status: 400 })
  // versions past what the read models can hold
  for (const version of [2 ** 31, 99_999_999_999, 1e300]) {
    await refused(t, { method: 'POST', url: '/api/v1.0/orchestrations', body: { ...valid, name: 'big', version }, status: 400 })
    await refused(t, { method: 'POST', url: '/api/v1.0/orchestrations', body: { ...valid, name: 'big', steps: [{ id: 'a', action: { type: 'orchestration', orchestration_id: 'present', version } }] }, status: 400 })
  }
  // schema-invalid definitions
  for (const body of [
    { ...valid, name: 'Upper' },
    { ...valid, name: '-lead' },
    { ...valid, name: 'x'.repeat(101) },
    { ...valid, version: 0 },
    { ...valid, version: 1.5 },
    { ...valid, version: '2' },
    { ...valid, steps: [] },
    { ...valid, steps: [{ id: 'a' }] },
    { ...valid, steps: [{ id: 'a', action: { type: 'teleport' } }] },
    { ...valid, steps: [{ id: 'a', action: { type: 'http', url: 'not a url' } }] },
    { ...valid, unknown_field: true }
  ]) await refused(t, { method: 'POST', url: '/api/v1.0/orchestrations', body, status: 400 })
})

t.test('bad query parameters', async t => {
  const lists = ['/api/v1.0/orchestrations', '/api/v1.0/api-keys', '/api/v1.0/audit']
  for (const url of lists) {
    for (const q of ['limit=abc', 'limit=0', 'limit=-1', 'limit=1.5', 'limit=501', 'limit=1e3', 'limit=', 'limit=1&limit=2',
      'cursor=!!!', 'cursor=%00', `cursor=${'A'.repeat(2001)}`, `cursor=${b64({ a: 1 })}`, `cursor=${b64([1])}`, `cursor=${b64(null)}`, `cursor=${b64(1e400)}`]) {
      await refused(t, { method: 'GET', url: `${url}?${q}`, status: 400 })
    }
  }
  await refused(t, { method: 'GET', url: `/api/v1.0/orchestrations?cursor=${b64(5)}`, status: 400 })
  await refused(t, { method: 'GET', url: `/api/v1.0/audit?cursor=${b64('x')}`, status: 400 })
  await refused(t, { method: 'GET', url: `/api/v1.0/audit?cursor=${b64(1e300)}`, status: 400 })
  await refused(t, { method: 'GET', url: `/api/v1.0/audit?cursor=${b64(1.5)}`, status: 400 })
  await refused(t, { method: 'GET', url: '/api/v1.0/orchestrations?archived=maybe', status: 400 })
  await refused(t, { method: 'GET', url: `/api/v1.0/orchestrations?name=${'a'.repeat(101)}`, status: 400 })
  await refused(t, { method: 'GET', url: '/api/v1.0/orchestrations?name=%00', status: 400 })
  for (const target of ['present', 'absent']) {
    for (const q of ['version=-1', 'version=0', 'version=abc', 'version=1.5', 'version=99999999999999', 'version=', 'as_of=yesterday', 'as_of=2025-13-01T00:00:00Z',
      'as_of=2025-02-30T00:00:00Z', 'as_of=2016-12-31T23:59:60Z', 'as_of=1700000000', 'as_of=%00', 'as_of=2025-01-01T00:00:00Z&version=x']) {
      await refused(t, { method: 'GET', url: `/api/v1.0/orchestrations/${target}?${q}`, status: 400 })
    }
  }
  for (const q of ['since=yesterday', 'until=2020-13-01T00:00:00Z', 'since=2016-12-31T23:59:60Z', 'until=now', 'aggregate=%00', 'actor=%00', 'type=%00',
    `aggregate=${'x'.repeat(301)}`, `type=${'x'.repeat(201)}`]) {
    await refused(t, { method: 'GET', url: `/api/v1.0/audit?${q}`, status: 400 })
  }
})

t.test('odd names in paths', async t => {
  const names = ['%00', 'a%00b', '%C3%A9t%C3%A9', 'Upper', '-dash', '.dot', '%20', 'a%20b', 'a%2Fb', '%2E%2E%2F%2E%2E%2Fetc', '%F0%9F%9A%80', 'x'.repeat(101), '%27%3B%20DROP%20TABLE%20orchestrations%3B--']
  for (const name of names) {
    await refused(t, { method: 'GET', url: `/api/v1.0/orchestrations/${name}`, status: 400 })
    await refused(t, { method: 'GET', url: `/api/v1.0/orchestrations/${name}/versions`, status: 400 })
    await refused(t, { method: 'DELETE', url: `/api/v1.0/orchestrations/${name}`, status: 400 })
  }
  // absurdly long: refused before routing
  for (const url of [`/api/v1.0/orchestrations/${'x'.repeat(5000)}`, `/api/v1.0/orchestrations/${'x'.repeat(5000)}/versions`, `/api/v1.0/api-keys/${'k'.repeat(5000)}`]) {
    await refused(t, { method: 'GET', url, status: 414 })
  }
  // a valid name that does not exist: 404, and injection attempts are just names
  await refused(t, { method: 'GET', url: '/api/v1.0/orchestrations/x.y_z-1', status: 404 })
  for (const id of ['%00', 'a%00', 'x'.repeat(201)]) {
    await refused(t, { method: 'GET', url: `/api/v1.0/api-keys/${id}`, status: 400 })
    await refused(t, { method: 'DELETE', url: `/api/v1.0/api-keys/${id}`, status: 400 })
    await refused(t, { method: 'PATCH', url: `/api/v1.0/api-keys/${id}`, body: { rate_limits: null }, status: 400 })
  }
  for (const id of ["'%20OR%201=1--", '%C3%A9', 'key-000000000000']) {
    await refused(t, { method: 'GET', url: `/api/v1.0/api-keys/${id}`, status: 404 })
    await refused(t, { method: 'DELETE', url: `/api/v1.0/api-keys/${id}`, status: 404 })
  }
  // URLs that cannot even be decoded
  for (const url of ['/api/v1.0/orchestrations/%E0%A4%A', '/api/v1.0/orchestrations/%', '/api/v1.0/api-keys/%ZZ', '/api/v1.0/orchestrations/%C0%AF']) {
    await refused(t, { method: 'GET', url, status: 400 })
  }
  await refused(t, { method: 'GET', url: '/api/v2/data-dictionary/%00', status: 400 })
  await refused(t, { method: 'GET', url: '/api/v2/data-dictionary/no-such-resource', status: 404 })
  await refused(t, { method: 'GET', url: `/api/v2/data-dictionary/${'r'.repeat(101)}`, status: 400 })
  await refused(t, { method: 'PUT', url: '/api/v1.0/orchestrations', body: valid, status: 404 })
  await refused(t, { method: 'GET', url: '/api/v1.0/nothing-here', status: 404 })
  await refused(t, { method: 'GET', url: '/api/v1.0/orchestrations', token: null, status: 401 })
})

t.test('the failed requests changed nothing', async t => {
  t.equal(await logLength(), logBefore, 'the event log did not grow')
  t.equal(await auditLength(), auditBefore, 'the audit log length is unchanged')
  const keys = (await node.request({ method: 'GET', url: '/api/v1.0/api-keys' })).json().items
  t.same(keys.map((k: any) => k.name).sort(), ['bootstrap', 'k'], 'no key was created')
  t.same(keys.find((k: any) => k.id === keyId).rate_limits, null, 'no limits were set')
  const orchestrations = (await node.request({ method: 'GET', url: '/api/v1.0/orchestrations?archived=all' })).json().items
  t.same(orchestrations.map((o: any) => o.name), ['present'], 'no orchestration was created or archived')
  t.equal(orchestrations[0].archived, false)
  // and the node still works: the read models are not stuck
  const ok = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: valid })
  t.equal(ok.statusCode, 201)
  t.equal((await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/ok-one' })).statusCode, 200)
  t.equal(await auditLength(), auditBefore + 1)
  const health = (await node.request({ method: 'GET', url: '/healthcheck', token: null })).json()
  t.equal(health.projection_lag, 0, 'projections keep up')
})
