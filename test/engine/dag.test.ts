import t from 'tap'
import { startEngineCluster } from '../helpers/agents.ts'

const c = await startEngineCluster({
  extra: [{ name: 'web-1', groups: ['prod-servers'] }, { name: 'web-2', groups: ['prod-servers'] }]
})
t.teardown(c.teardown)

const sh = (command: string) => ({ type: 'shell', command })
const problemJson = /^application\/problem\+json/

await c.define({
  name: 'dag-params',
  params: {
    greeting: { type: 'string', default: 'hello' },
    count: { type: 'integer', required: true }
  },
  steps: [
    { id: 'a', action: sh('echo "a says {{params.greeting}}"') },
    // a long step at the first level: a step-by-level engine would hold b, d behind it
    { id: 'slow', action: sh('sleep 2; echo slow done') },
    { id: 'b', after: ['a'], action: sh('echo "b count={{params.count}}"') },
    { id: 'd', after: ['b'], action: sh('echo d') },
    { id: 'join', after: ['slow', 'd'], action: sh('echo join') }
  ]
})

t.test('a DAG with params runs on every server of the group, in true DAG order', async t => {
  const id = await c.launch({ orchestration_id: 'dag-params', targets: ['prod-servers'], params: { greeting: 'bonjour', count: 3 } })
  const d = await c.finished(id)
  t.equal(d.status, 'succeeded', JSON.stringify(d.steps.filter((s: any) => s.status !== 'succeeded')))
  t.equal(d.progress, 100)
  t.equal(d.undo_status, null)
  t.same(d.params, { greeting: 'bonjour', count: 3 })
  t.same(d.targets, ['prod-servers'])
  t.equal(d.steps.length, 10, 'five steps on two servers')
  for (const stepId of ['a', 'slow', 'b', 'd', 'join']) {
    const runs = c.stepsOf(d, stepId)
    t.same(runs.map((s: any) => s.server), ['web-1', 'web-2'], `${stepId} on both servers`)
    for (const r of runs) {
      t.match(r, { status: 'succeeded', attempt: 1, rc: 0, started_at: String, finished_at: String, duration_ms: Number }, `${stepId} on ${r.server}`)
    }
  }
  t.notOk(d.steps.some((s: any) => s.server === c.localAgent), 'nothing ran outside the group')

  // params filled in: detail tails and the output route
  for (const r of c.stepsOf(d, 'a')) t.equal(r.stdout, 'a says bonjour\n')
  for (const r of c.stepsOf(d, 'b')) t.equal(r.stdout, 'b count=3\n')
  const out = await c.api('GET', `/api/v1.0/executions/${id}/steps/b/output?server=web-2`)
  t.equal(out.statusCode, 200)
  t.match(out.json(), { execution_id: id, step_id: 'b', items: [{ server: 'web-2', attempt: 1, kind: 'action', stdout: 'b count=3\n', stderr: '' }] })
  t.equal(out.json().items.length, 1, 'only the server asked for')
  const both = await c.api('GET', `/api/v1.0/executions/${id}/steps/a/output`)
  t.same(both.json().items.map((i: any) => [i.server, i.stdout]), [['web-1', 'a says bonjour\n'], ['web-2', 'a says bonjour\n']])
  const missing = await c.api('GET', `/api/v1.0/executions/${id}/steps/nope/output`)
  t.equal(missing.statusCode, 404)

  // a step starts only once all it comes after succeeded, on every server
  const steps = d.steps as any[]
  const lastFinish = (ids: string[]) => Math.max(...steps.filter(s => ids.includes(s.step_id)).map(s => Date.parse(s.finished_at)))
  const afterOf: Record<string, string[]> = { b: ['a'], d: ['b'], join: ['slow', 'd'] }
  for (const [stepId, deps] of Object.entries(afterOf)) {
    for (const r of c.stepsOf(d, stepId)) t.ok(Date.parse(r.started_at) >= lastFinish(deps), `${stepId} on ${r.server} started after ${deps.join(', ')} finished`)
  }
  // not level by level: d (third level) started while slow (first level) still ran
  const slowEnd = Math.min(...c.stepsOf(d, 'slow').map((s: any) => Date.parse(s.finished_at)))
  for (const r of c.stepsOf(d, 'd')) t.ok(Date.parse(r.started_at) < slowEnd, `d on ${r.server} did not wait for slow`)
})

t.test('defaults fill params left out', async t => {
  await c.define({
    name: 'greet',
    params: { greeting: { type: 'string', default: 'hello' }, who: { type: 'string', enum: ['world', 'you'] } },
    steps: [{ id: 'say', action: sh('echo "{{params.greeting}} {{params.who}}"') }, { id: 'again', after: ['say'], action: sh('echo again') }]
  })
  const id = await c.launch({ orchestration_id: 'greet', targets: ['web-1'], params: { who: 'world' } })
  const d = await c.finished(id)
  t.equal(d.status, 'succeeded')
  t.same(d.params, { greeting: 'hello', who: 'world' })
  t.equal(c.stepsOf(d, 'say')[0].stdout, 'hello world\n')
  t.same(d.steps.map((s: any) => s.server), ['web-1', 'web-1'], 'a server name as target')
  const notInEnum = await c.api('POST', '/api/v1.0/launch', { orchestration_id: 'greet', targets: ['web-1'], params: { who: 'them' } })
  t.ok([400, 422].includes(notInEnum.statusCode), 'a value outside the enum')
  t.match(notInEnum.json().errors, [{ path: '/params/who', message: /one of/ }])
})

t.test('launch validation', async t => {
  const wrongType = await c.api('POST', '/api/v1.0/launch', { orchestration_id: 'dag-params', targets: ['prod-servers'], params: { count: 'three' } })
  t.ok([400, 422].includes(wrongType.statusCode), `wrong param type: ${wrongType.statusCode}`)
  t.match(wrongType.headers['content-type'], problemJson)
  t.match(wrongType.json(), { status: wrongType.statusCode, errors: [{ path: '/params/count', message: /integer/ }] })

  const missing = await c.api('POST', '/api/v1.0/launch', { orchestration_id: 'dag-params', targets: ['prod-servers'] })
  t.ok([400, 422].includes(missing.statusCode), 'required param missing')
  t.match(missing.json().errors, [{ path: '/params/count', message: /required/ }])

  const unknownParam = await c.api('POST', '/api/v1.0/launch', { orchestration_id: 'dag-params', targets: ['prod-servers'], params: { count: 1, colour: 'red' } })
  t.ok([400, 422].includes(unknownParam.statusCode), 'undeclared param')
  t.match(unknownParam.json().errors, [{ path: '/params/colour' }])

  const badBody = await c.api('POST', '/api/v1.0/launch', { orchestration_id: 'dag-params', targets: 'prod-servers' })
  t.equal(badBody.statusCode, 400, 'schema-invalid body')
  t.match(badBody.headers['content-type'], problemJson)

  const unknown = await c.api('POST', '/api/v1.0/launch', { orchestration_id: 'no-such-thing', targets: ['prod-servers'] })
  t.equal(unknown.statusCode, 404)
  t.match(unknown.headers['content-type'], problemJson)
  t.match(unknown.json().detail, /no-such-thing/)

  const noTarget = await c.api('POST', '/api/v1.0/launch', { orchestration_id: 'dag-params', params: { count: 1 } })
  t.equal(noTarget.statusCode, 422)
  t.match(noTarget.headers['content-type'], problemJson)
  t.match(noTarget.json().detail, /step a\b/, 'names the step')
  t.ok(noTarget.json().errors.some((e: any) => /\ba\b/.test(e.message)), 'an error entry names the step')

  const nobody = await c.api('POST', '/api/v1.0/launch', { orchestration_id: 'dag-params', targets: ['no-such-group'], params: { count: 1 } })
  t.equal(nobody.statusCode, 422, 'a target no server answers to')
  t.match(nobody.json().detail, /no-such-group/)

  const list = await c.api('GET', '/api/v1.0/executions?orchestration_id=dag-params&limit=100')
  t.equal(list.json().items.length, 1, 'refused launches created nothing')
})

t.test('target all runs on every registered server', async t => {
  await c.define({ name: 'everywhere', steps: [{ id: 'hi', action: sh('echo hi') }] })
  const id = await c.launch({ orchestration_id: 'everywhere', targets: ['all'] })
  const d = await c.finished(id)
  t.equal(d.status, 'succeeded')
  t.same(d.steps.map((s: any) => s.server), ['local-1', 'web-1', 'web-2'])
  t.ok(d.steps.every((s: any) => s.status === 'succeeded' && s.stdout === 'hi\n'))
})

t.test('a step target overrides the launch targets', async t => {
  await c.define({
    name: 'step-target',
    steps: [
      { id: 'everywhere', action: sh('echo x') },
      { id: 'only-local', target: ['local'], action: sh('echo y') }
    ]
  })
  const d = await c.finished(await c.launch({ orchestration_id: 'step-target', targets: ['prod-servers'] }))
  t.equal(d.status, 'succeeded')
  t.same(c.stepsOf(d, 'everywhere').map((s: any) => s.server), ['web-1', 'web-2'])
  t.same(c.stepsOf(d, 'only-local').map((s: any) => s.server), ['local-1'])
})

t.test('Idempotency-Key: the same launch twice is one execution', async t => {
  await c.define({ name: 'idem', steps: [{ id: 'one', action: sh('echo once') }] })
  const body = { orchestration_id: 'idem', targets: ['web-1'] }
  const first = await c.api('POST', '/api/v1.0/launch', body, { 'idempotency-key': 'launch-42' })
  t.equal(first.statusCode, 202)
  t.match(first.json(), { execution_id: String, orchestration_id: 'idem' })
  const second = await c.api('POST', '/api/v1.0/launch', body, { 'idempotency-key': 'launch-42' })
  t.equal(second.statusCode, 202)
  t.equal(second.json().execution_id, first.json().execution_id, 'same execution id')
  const d = await c.finished(first.json().execution_id)
  t.equal(d.status, 'succeeded')
  t.equal(c.stepsOf(d, 'one')[0].attempt, 1, 'ran once')
  const third = await c.api('POST', '/api/v1.0/launch', body, { 'idempotency-key': 'launch-42' })
  t.equal(third.json().execution_id, first.json().execution_id, 'still the same after it finished')
  const other = await c.api('POST', '/api/v1.0/launch', body, { 'idempotency-key': 'launch-43' })
  t.not(other.json().execution_id, first.json().execution_id, 'another key is another execution')
  await c.finished(other.json().execution_id)
  const list = await c.api('GET', '/api/v1.0/executions?orchestration_id=idem')
  t.same(list.json().items.map((i: any) => i.execution_id).sort(), [first.json().execution_id, other.json().execution_id].sort(), 'exactly two executions')
  const out = await c.api('GET', `/api/v1.0/executions/${first.json().execution_id}/steps/one/output`)
  t.equal(out.json().items[0].stdout, 'once\n', 'the command ran once')
})
