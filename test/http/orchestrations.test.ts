import t from 'tap'
import { startTestNode } from '../helpers/node.ts'

const node = await startTestNode()
t.teardown(node.teardown)

const example = {
  name: 'deploy-app',
  version: 1,
  description: 'Build and roll out the app',
  params: { branch: { type: 'string', default: 'main' } },
  stop_on_error: true,
  undo_on_error: true,
  steps: [
    { id: 'checkout', action: { type: 'shell', command: 'git fetch && git checkout {{params.branch}}' } },
    { id: 'build', after: ['checkout'], timeout_s: 600, retries: 2, action: { type: 'shell', command: 'make build' }, undo: { type: 'shell', command: 'make clean' } },
    { id: 'smoke', after: ['build'], target: ['web-1'], action: { type: 'http', method: 'GET', url: 'http://localhost:8080/health', expect_status: [200] }, continue_on_error: true }
  ]
}

t.test('the contract example creates version 1 and reads back', async t => {
  const res = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: example })
  t.equal(res.statusCode, 201, res.body)
  const got = await node.request({ method: 'GET', url: '/api/v1.0/orchestrations/deploy-app' })
  t.equal(got.statusCode, 200)
  t.match(got.json(), { name: 'deploy-app', version: 1, steps: example.steps, archived: false })
  const again = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: example })
  t.equal(again.statusCode, 200, 'same definition again is idempotent')
  const different = await node.request({ method: 'POST', url: '/api/v1.0/orchestrations', body: { ...example, description: 'other' } })
  t.equal(different.statusCode, 409)
  t.equal(different.headers['content-type'], 'application/problem+json; charset=utf-8')
})
