import t from 'tap'
import { startEngineCluster } from '../helpers/agents.ts'
import { waitFor } from '../helpers/wait.ts'

const c = await startEngineCluster({
  extra: [{ name: 'web-1', groups: ['prod-servers'] }, { name: 'web-2', groups: ['prod-servers'] }]
})
t.teardown(c.teardown)

const sh = (command: string) => ({ type: 'shell', command })

const saga = (name: string, undoOnError: boolean) => ({
  name,
  undo_on_error: undoOnError,
  steps: [
    { id: 's1', action: sh('echo do1'), undo: sh('echo undo1') },
    { id: 's2', after: ['s1'], action: sh('echo do2'), undo: sh('echo undo2') },
    { id: 'plain', after: ['s1'], action: sh('echo no undo') },
    { id: 's3', after: ['s2'], action: sh('echo do3'), undo: sh('echo undo3') },
    { id: 'boom', after: ['s3', 'plain'], action: sh('echo failing >&2; exit 7'), undo: sh('echo never') },
    { id: 'later', after: ['boom'], action: sh('echo never'), undo: sh('echo never') }
  ]
})

/** The undo attempts' started/finished events of one execution, from the audit log. */
async function undoEvents (executionId: string, type: string): Promise<any[]> {
  const res = await c.api('GET', `/api/v1.0/audit?type=${type}&limit=500`)
  if (res.statusCode !== 200) throw new Error(`audit: ${res.statusCode} ${res.body}`)
  return res.json().items.map((e: any) => e.data).filter((d: any) => d.execution_id === executionId && d.kind === 'undo')
}

t.test('a failing step with undo_on_error: completed steps are undone in reverse order', async t => {
  await c.define(saga('saga', true))
  const id = await c.launch({ orchestration_id: 'saga', targets: ['prod-servers'] })
  const d = await c.finished(id)
  t.equal(d.status, 'failed')
  t.equal(d.undo_status, 'succeeded')
  t.equal(d.progress, 100)
  for (const stepId of ['s1', 's2', 's3']) {
    for (const r of c.stepsOf(d, stepId)) t.match(r, { status: 'undone', undo_status: 'succeeded', rc: 0 }, `${stepId} on ${r.server} undone`)
  }
  for (const r of c.stepsOf(d, 'plain')) t.match(r, { status: 'succeeded', undo_status: null }, 'a step without undo stays succeeded')
  for (const r of c.stepsOf(d, 'boom')) t.match(r, { status: 'failed', rc: 7, undo_status: null, stderr: 'failing\n', error: /exit code 7/ }, 'the failed step itself is not undone')
  for (const r of c.stepsOf(d, 'later')) t.match(r, { status: 'skipped', started_at: null, undo_status: null }, 'a step after the failure never ran')

  // undo output is kept apart from the action's
  const undoOut = await c.api('GET', `/api/v1.0/executions/${id}/steps/s2/output?server=web-1&kind=undo`)
  t.match(undoOut.json().items, [{ server: 'web-1', kind: 'undo', stdout: 'undo2\n' }])
  const actionOut = await c.api('GET', `/api/v1.0/executions/${id}/steps/s2/output?server=web-1`)
  t.match(actionOut.json().items, [{ server: 'web-1', kind: 'action', stdout: 'do2\n' }])

  // reverse order of completion, one at a time: every undo of s3 before s2's, s2's before s1's
  const started = await waitFor(async () => { const e = await undoEvents(id, 'step_run.started'); return e.length === 6 ? e : undefined }, { what: 'six undo starts in the audit log' })
  const finished = await undoEvents(id, 'step_run.finished')
  t.equal(finished.length, 6)
  t.notOk(started.some(e => ['boom', 'later', 'plain'].includes(e.step_id)), 'only succeeded steps with an undo are undone')
  const byStart = [...started].sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at) || 0)
  t.same(byStart.map(e => e.step_id), ['s3', 's3', 's2', 's2', 's1', 's1'], 'reverse order of the DAG')
  const end = (e: any) => Date.parse(finished.find(f => f.step_id === e.step_id && f.server === e.server).finished_at)
  for (let i = 1; i < byStart.length; i++) {
    t.ok(Date.parse(byStart[i].started_at) >= end(byStart[i - 1]), `undo ${byStart[i].step_id}@${byStart[i].server} starts after the previous undo ended`)
  }
  const boomEnd = Math.max(...c.stepsOf(d, 'boom').map((r: any) => Date.parse(r.finished_at)))
  t.ok(Date.parse(byStart[0].started_at) >= boomEnd, 'compensation starts after the failure')
})

t.test('without undo_on_error nothing is undone', async t => {
  await c.define(saga('saga-no-undo', false))
  const d = await c.finished(await c.launch({ orchestration_id: 'saga-no-undo', targets: ['web-1'] }))
  t.equal(d.status, 'failed')
  t.equal(d.undo_status, null)
  t.same(d.steps.map((s: any) => [s.step_id, s.status]), [['s1', 'succeeded'], ['s2', 'succeeded'], ['plain', 'succeeded'], ['s3', 'succeeded'], ['boom', 'failed'], ['later', 'skipped']])
})

t.test('a failing undo: undo_status failed, the step keeps its status', async t => {
  await c.define({
    name: 'bad-undo',
    undo_on_error: true,
    steps: [
      { id: 'first', action: sh('echo ok'), undo: sh('echo ok') },
      { id: 'second', after: ['first'], action: sh('echo ok'), undo: sh('exit 3') },
      { id: 'boom', after: ['second'], action: sh('exit 1') }
    ]
  })
  const d = await c.finished(await c.launch({ orchestration_id: 'bad-undo', targets: ['web-2'] }))
  t.equal(d.status, 'failed')
  t.equal(d.undo_status, 'failed')
  t.match(c.stepsOf(d, 'second')[0], { status: 'succeeded', undo_status: 'failed' })
  t.match(c.stepsOf(d, 'first')[0], { status: 'undone', undo_status: 'succeeded' }, 'compensation goes on past a failed undo')
})
