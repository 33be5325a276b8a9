import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startTestNode } from '../helpers/node.ts'

const run = promisify(execFile)
const node = await startTestNode({}, { listen: true })
t.teardown(node.teardown)
const base = node.node.url!
const FORM = 'application/x-www-form-urlencoded'

/** the product page's orchestration with its `"steps": [...]` filled in */
const definition = (name: string) => `{
"name": "${name}",
"version": 1,
"steps": [{"id": "build", "action": {"type": "shell", "command": "make build"}}]
}`

t.test('create orchestration as curl -d sends it (form-encoded JSON)', async t => {
  const res = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: definition('deploy-app'), headers: { 'content-type': FORM } })
  t.equal(res.statusCode, 201, res.body)
  t.match(res.json(), { name: 'deploy-app', version: 1, steps: [{ id: 'build', action: { type: 'shell', command: 'make build' } }] })
  const again = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: definition('deploy-app'), headers: { 'content-type': FORM } })
  t.equal(again.statusCode, 200, 'pasting it twice is idempotent')
  const charset = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: definition('deploy-app-2'), headers: { 'content-type': `${FORM}; charset=utf-8` } })
  t.equal(charset.statusCode, 201, 'with a charset parameter too')
  const read = await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/deploy-app' })
  t.match(read.json(), { name: 'deploy-app', version: 1 })
  // the form route validates like the JSON one
  const invalid = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: '{"name": "Bad Name", "steps": []}', headers: { 'content-type': FORM } })
  t.equal(invalid.statusCode, 400)
  t.match(invalid.headers['content-type'], /^application\/problem\+json/)
  t.ok(invalid.json().errors.some((e: any) => e.path === '/name'))
  const noToken = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: definition('deploy-x'), headers: { 'content-type': FORM }, token: null })
  t.equal(noToken.statusCode, 401, 'the token is still needed')
})

t.test('the data dictionary of orchestrations', async t => {
  for (const prefix of ['/api/v2', '/api/v2.0']) {
    const res = await node.request({ method: 'GET', url: `${prefix}/data-dictionary/orchestrations` })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^application\/json/)
    const d = res.json()
    t.match(d.name, { type: 'string', required: true, maxLength: 100, pattern: '^[a-z0-9][a-z0-9._-]*$' }, `${prefix}: name`)
    t.match(d.version, { type: 'integer', minimum: 1 }, `${prefix}: version`)
    t.notOk(d.version.required, 'version is optional')
    t.match(d.steps, { type: 'array', required: true, items: { type: 'object', properties: { id: { type: 'string', required: true }, action: { required: true } } } }, `${prefix}: steps`)
  }
  const index = await node.request({ method: 'GET', url: '/api/v2/data-dictionary' })
  t.equal(index.statusCode, 200)
  t.ok(index.json().resources.some((r: any) => r.name === 'orchestrations' && r.href === '/api/v2/data-dictionary/orchestrations'), 'the index lists it')
  // what the dictionary states is enforced
  const tooLong = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: { name: 'x'.repeat(101), steps: [{ id: 'a', action: { type: 'shell', command: 'x' } }] } })
  t.equal(tooLong.statusCode, 400)
  t.ok(tooLong.json().errors.some((e: any) => e.path === '/name'))
  const zero = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: { name: 'zero', version: 0, steps: [{ id: 'a', action: { type: 'shell', command: 'x' } }] } })
  t.equal(zero.statusCode, 400)
  t.ok(zero.json().errors.some((e: any) => e.path === '/version'))
})

t.test('the curl commands, pasted into a shell, against a listening node', async t => {
  t.match(base, /^http:\/\/127\.0\.0\.1:\d+$/)
  // verbatim from the product page but for host, scheme and the filled-in steps; -s -v to see what curl sent
  const create = `curl -s -v -w '\\n%{http_code}' -X POST ${base}/api/v1.0/orchestrations \\
-H "Authorization: Bearer $JWT" \\
-d '${definition('from-curl')}'`
  const out = await run('bash', ['-c', create], { env: { ...process.env, JWT: node.adminToken } })
  t.match(out.stderr, /> Content-Type: application\/x-www-form-urlencoded/i, 'curl sent it form-encoded')
  const [body, status] = [out.stdout.slice(0, out.stdout.lastIndexOf('\n')), out.stdout.slice(out.stdout.lastIndexOf('\n') + 1)]
  t.equal(status, '201', body)
  t.match(JSON.parse(body), { name: 'from-curl', version: 1, steps: [{ id: 'build' }] })
  const again = await run('bash', ['-c', create], { env: { ...process.env, JWT: node.adminToken } })
  t.match(again.stdout, /\n200$/, 'the same paste again → 200')
  t.match((await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/from-curl' })).json(), { version: 1 })

  const dictionary = `curl -s -w '\\n%{http_code}' ${base}/api/v2/data-dictionary/orchestrations -H "Authorization: Bearer $JWT"`
  const dict = await run('bash', ['-c', dictionary], { env: { ...process.env, JWT: node.adminToken } })
  t.match(dict.stdout, /\n200$/)
  const d = JSON.parse(dict.stdout.slice(0, dict.stdout.lastIndexOf('\n')))
  t.match(d, {
    name: { type: 'string', required: true, maxLength: 100 },
    version: { type: 'integer', minimum: 1 },
    steps: { type: 'array', items: { type: 'object' } }
  })
  const noToken = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${base}/api/v1.0/orchestrations`])
  t.equal(noToken.stdout, '401', 'without a token: 401')
})
