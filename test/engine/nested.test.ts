import t from 'tap'
import { startEngineCluster } from '../helpers/agents.ts'
import { waitFor } from '../helpers/wait.ts'

const c = await startEngineCluster()
t.teardown(c.teardown)

const sh = (command: string) => ({ type: 'shell', command })
const nested = (orchestrationId: string, params?: Record<string, unknown>, version?: number) =>
  ({ type: 'orchestration', orchestration_id: orchestrationId, ...(version != null ? { version } : {}), ...(params != null ? { params } : {}) })

await c.define({
  name: 'child',
  params: { what: { type: 'string', required: true }, fail: { type: 'boolean', default: false } },
  steps: [
    { id: 'work', action: sh('echo "child does {{params.what}}"') },
    { id: 'maybe-fail', after: ['work'], action: sh('[ "{{params.fail}}" = "false" ]') }
  ]
})
await c.define({
  name: 'slow-child',
  steps: [{ id: 'wait', action: sh('sleep 30') }]
})

const children = async (parentId: string): Promise<any[]> => {
  const res = await c.api('GET', '/api/v1.0/executions?limit=100')
  return res.json().items.filter((i: any) => i.parent_execution_id === parentId)
}

t.test('an orchestration step runs a child execution and succeeds with it', async t => {
  await c.define({
    name: 'parent-ok',
    params: { thing: { type: 'string', default: 'laundry' } },
    steps: [
      { id: 'before', action: sh('echo before') },
      { id: 'sub', after: ['before'], action: nested('child', { what: '{{params.thing}}' }) },
      { id: 'after', after: ['sub'], action: sh('echo after') }
    ]
  })
  const id = await c.launch({ orchestration_id: 'parent-ok', targets: ['local'], params: { thing: 'dishes' } })
  const d = await c.finished(id)
  t.equal(d.status, 'succeeded')
  t.equal(d.parent_execution_id, null)
  const sub = c.stepsOf(d, 'sub')[0]
  t.match(sub, { status: 'succeeded', server: 'local-1', started_at: String, finished_at: String })
  t.ok(Date.parse(c.stepsOf(d, 'after')[0].started_at) >= Date.parse(sub.finished_at), 'the next step waits for the child')

  const kids = await children(id)
  t.equal(kids.length, 1, 'one child execution')
  const child = kids[0]
  t.match(child, { orchestration_id: 'child', parent_execution_id: id, status: 'succeeded', progress: 100 })
  t.match(sub.stdout, child.execution_id, 'the parent step names its child')
  const detail = await c.get(child.execution_id)
  t.equal(detail.parent_execution_id, id)
  t.same(detail.targets, ['local-1'], 'the child runs on the server of the parent step')
  t.same(detail.params, { what: 'dishes', fail: false }, "the parent's params are filled into the child's")
  t.equal(c.stepsOf(detail, 'work')[0].stdout, 'child does dishes\n')
  t.ok(Date.parse(c.stepsOf(detail, 'work')[0].started_at) >= Date.parse(sub.started_at), 'the child ran inside the step')
  t.ok(Date.parse(detail.finished_at) <= Date.parse(sub.finished_at))

  const listed = await c.api('GET', '/api/v1.0/executions?orchestration_id=child')
  t.ok(listed.json().items.some((i: any) => i.execution_id === child.execution_id && i.parent_execution_id === id), 'listed by orchestration')
})

t.test("a failing child fails the parent's step and the parent", async t => {
  await c.define({
    name: 'parent-fails',
    steps: [
      { id: 'sub', action: nested('child', { what: 'nothing', fail: true }) },
      { id: 'after', after: ['sub'], action: sh('echo never') }
    ]
  })
  const id = await c.launch({ orchestration_id: 'parent-fails', targets: ['local'] })
  const d = await c.finished(id)
  t.equal(d.status, 'failed')
  const sub = c.stepsOf(d, 'sub')[0]
  t.equal(sub.status, 'failed')
  const [child] = await children(id)
  t.match(child, { orchestration_id: 'child', status: 'failed' })
  t.match(sub.error, child.execution_id, 'the error names the failed child')
  t.match(c.stepsOf(d, 'after')[0], { status: 'skipped' })
})

t.test("a child that cannot start fails the parent's step", async t => {
  await c.define({
    name: 'parent-bad-child',
    steps: [
      { id: 'missing', action: nested('no-such-orchestration') },
      { id: 'invalid', action: nested('child', { what: 1 }) },
      { id: 'undefined-param', action: nested('child', { what: '{{params.nope}}' }) }
    ],
    stop_on_error: false
  })
  const d = await c.finished(await c.launch({ orchestration_id: 'parent-bad-child', targets: ['local'] }))
  t.equal(d.status, 'failed')
  t.match(c.stepsOf(d, 'missing')[0], { status: 'failed', error: /no-such-orchestration/ })
  t.match(c.stepsOf(d, 'invalid')[0], { status: 'failed', error: /params\/what/ })
  t.match(c.stepsOf(d, 'undefined-param')[0], { status: 'failed', error: /params\.nope/ })
  t.same(await children(d.execution_id), [], 'no child execution was created')
})

t.test('cancelling the parent cancels the child', async t => {
  await c.define({ name: 'parent-slow', steps: [{ id: 'sub', action: nested('slow-child') }] })
  const id = await c.launch({ orchestration_id: 'parent-slow', targets: ['local'] })
  const child = await waitFor(async () => {
    const [k] = await children(id)
    if (k == null) return undefined
    const detail = await c.get(k.execution_id)
    return detail.steps[0].status === 'running' ? detail : undefined
  }, { what: 'the child to run' })
  t.equal((await c.api('POST', `/api/v1.0/executions/${id}/cancel`)).statusCode, 202)
  const d = await c.finished(id, 8_000)
  t.equal(d.status, 'cancelled')
  t.equal(c.stepsOf(d, 'sub')[0].status, 'cancelled')
  const childDone = await c.finished(child.execution_id, 3_000)
  t.equal(childDone.status, 'cancelled')
  t.equal(childDone.steps[0].status, 'cancelled')
})
