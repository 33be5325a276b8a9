import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { startEngineCluster } from '../helpers/agents.ts'
import { freePort } from '../helpers/nats-server.ts'

const c = await startEngineCluster()
t.teardown(c.teardown)

// a tiny target service
const received: Array<{ method: string, url: string, headers: IncomingMessage['headers'], body: string }> = []
const server = createServer((req, res) => {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', chunk => { body += chunk })
  req.on('end', () => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
    if (req.url === '/health') { res.writeHead(200, { 'content-type': 'text/plain' }).end('all good'); return }
    if (req.url === '/teapot') { res.writeHead(418).end('short and stout'); return }
    if (req.url === '/slow') { setTimeout(() => res.writeHead(200).end('late'), 5_000).unref(); return }
    if (req.url?.startsWith('/deploy/')) { res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: true })); return }
    res.writeHead(404).end('nope')
  })
})
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
t.teardown(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const closedPort = await freePort()

const http = (path: string, extra: Record<string, unknown> = {}) => ({ type: 'http', method: 'GET', url: `${base}${path}`, ...extra })

await c.define({
  name: 'http-checks',
  stop_on_error: false,
  params: { app: { type: 'string', default: 'shop' } },
  steps: [
    { id: 'health', action: http('/health') },
    { id: 'teapot-expected', action: http('/teapot', { expect_status: [418] }) },
    { id: 'teapot-unexpected', action: http('/teapot') },
    { id: 'health-wrong-expect', action: http('/health', { expect_status: [201, 202] }) },
    {
      id: 'deploy',
      action: http('/deploy/{{params.app}}', {
        method: 'POST',
        headers: { 'x-token': 'abc', 'x-app': '{{params.app}}' },
        body: { app: '{{params.app}}', replicas: 3 },
        expect_status: [201]
      })
    },
    { id: 'slow', timeout_s: 1, action: http('/slow') },
    { id: 'refused', action: { type: 'http', url: `http://127.0.0.1:${closedPort}/` } }
  ]
})

t.test('http actions: expect_status honoured, params filled, failures explained', async t => {
  const began = Date.now()
  const d = await c.finished(await c.launch({ orchestration_id: 'http-checks', targets: ['local'], params: { app: 'cart' } }))
  t.equal(d.status, 'failed', 'some checks fail on purpose')
  t.ok(Date.now() - began < 6_000, 'the slow request did not hold the run')
  const s = (id: string) => c.stepsOf(d, id)[0]
  t.match(s('health'), { status: 'succeeded', rc: 200, error: null, stdout: /^HTTP 200 OK\nall good/ })
  t.match(s('teapot-expected'), { status: 'succeeded', rc: 418 }, 'a non-2xx status that is expected succeeds')
  t.match(s('teapot-unexpected'), { status: 'failed', rc: 418, error: /418.*2xx/ }, 'default: 2xx expected')
  t.match(s('health-wrong-expect'), { status: 'failed', rc: 200, error: /HTTP 200, expected 201 or 202/ })
  t.match(s('deploy'), { status: 'succeeded', rc: 201, stdout: /"accepted":true/ })
  t.match(s('slow'), { status: 'failed', rc: null, error: /timed out after 1 s/ })
  t.ok(s('slow').duration_ms < 4_000, 'stopped at the timeout')
  t.match(s('refused'), { status: 'failed', rc: null, error: /request failed/ })

  const deploy = received.find(r => r.url === '/deploy/cart')
  t.ok(deploy, 'the url was filled with the param')
  t.equal(deploy?.method, 'POST')
  t.equal(deploy?.headers['x-token'], 'abc')
  t.equal(deploy?.headers['x-app'], 'cart', 'headers are filled too')
  t.match(deploy?.headers['content-type'], /^application\/json/, 'an object body is sent as JSON')
  t.same(JSON.parse(deploy?.body ?? '{}'), { app: 'cart', replicas: 3 })
  t.equal(received.filter(r => r.url === '/health').length, 2, 'each step requested once')

  const out = await c.api('GET', `/api/v1.0/executions/${d.execution_id}/steps/teapot-expected/output`)
  t.match(out.json().items[0].stdout, /^HTTP 418 .*\nshort and stout$/)
})

t.test('urls: placeholders admitted (filled at run time), anything else must be a URI', async t => {
  const bad = await c.api('POST', '/api/v1.0/orchestrations', { name: 'bad-url', steps: [{ id: 'x', action: { type: 'http', url: 'not a url' } }] })
  t.equal(bad.statusCode, 400)
  t.match(bad.json().errors, [{ path: '/steps/0/action/url' }])
  const badTemplate = await c.api('POST', '/api/v1.0/orchestrations', { name: 'bad-url', steps: [{ id: 'x', action: { type: 'http', url: 'no scheme {{params.x}}' } }] })
  t.equal(badTemplate.statusCode, 400, 'a placeholder does not excuse a malformed url')
  await c.define({
    name: 'url-from-params',
    params: { base: { type: 'string', required: true } },
    steps: [{ id: 'call', action: { type: 'http', url: '{{params.base}}/health' } }]
  })
  const d = await c.finished(await c.launch({ orchestration_id: 'url-from-params', targets: ['local'], params: { base } }))
  t.equal(d.status, 'succeeded')
  t.match(d.steps[0], { rc: 200, stdout: /all good/ })
})
