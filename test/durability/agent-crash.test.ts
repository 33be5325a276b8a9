// CONTRACT §5: "a step whose agent vanished fails after a heartbeat timeout (and is retried if it
// has retries left)". The agent process is killed with SIGKILL during `b: sleep 2`; the engine
// (another process) must fail that attempt as lost, retry it on the restarted agent when the step
// has retries, and otherwise fail the run naming the agent.
import t, { type Test } from 'tap'
import { chain, clusterFor, startsOf, waitForExecution } from '../helpers/processes.ts'

t.setTimeout(120_000)

const AGENT = 'dura-agent-1'
const LOST = new RegExp(`the agent on ${AGENT} (restarted during the run|stopped sending heartbeats)`)

t.test('kill -9 of the agent mid-step', async t => {
  t.setTimeout(110_000)
  const cluster = clusterFor(t)
  const core = await cluster.node({ label: 'core', roles: ['api', 'projector', 'engine'] })
  const agent = await cluster.node({ label: 'agent', roles: ['agent'], agentName: AGENT })
  await core.start()
  await agent.start()
  const api = cluster.api(core)
  t.equal((await api.post('/api/v1.0/orchestrations', chain('chain-retry', { retries: 1 }))).status, 201)
  t.equal((await api.post('/api/v1.0/orchestrations', chain('chain-no-retry'))).status, 201)

  const launch = async (t: Test, name: string): Promise<string> => {
    const res = await api.post('/api/v1.0/launch', { orchestration_id: name, targets: [AGENT] })
    t.equal(res.status, 202, `${name} launched`)
    return res.body.execution_id
  }
  const startOfB = (id: string) => async () => await cluster.waitForEvent(e => e.type === 'step_run.started' && (e.data as any).execution_id === id && (e.data as any).step_id === 'b', 'start of b')

  const killedDuringB = async (t: Test, id: string): Promise<void> => {
    const events = await cluster.executionEvents(id)
    t.notOk(events.some(e => e.type === 'step_run.finished' && (e.data as any).step_id === 'b'), 'killed while b was running')
  }

  await t.test('with retries: 1 the lost attempt is retried on the restarted agent and the run succeeds', async t => {
    const id = await launch(t, 'chain-retry')
    const started = await startOfB(id)()
    const killedAt = Date.now()
    await agent.kill()
    await killedDuringB(t, id)
    await agent.start() // same DM_AGENT_NAME, a new instance
    const restartedAt = Date.now()
    const done = await waitForExecution(cluster, () => api, id)
    t.comment(`agent restart took ${restartedAt - killedAt} ms; run finished ${Date.now() - killedAt} ms after the kill`)

    t.equal(done.status, 'succeeded', 'the run succeeded', { logs: cluster.logs() })
    const b = done.steps.find((s: any) => s.step_id === 'b')
    t.match(b, { status: 'succeeded', attempt: 2 }, 'b succeeded at its second attempt')
    t.same(done.steps.map((s: any) => s.status), ['succeeded', 'succeeded', 'succeeded'])

    const events = await cluster.executionEvents(id)
    const lost = events.filter(e => e.type === 'execution.step_lost')
    t.equal(lost.length, 1, 'one attempt was lost')
    t.match(lost[0]?.data, { step_id: 'b', server: AGENT, attempt: 1, kind: 'action' }, 'the interrupted attempt of b')
    t.match((lost[0]?.data as any)?.reason, LOST, 'lost because the agent restarted or went silent')
    t.comment(`lost reason: ${String((lost[0]?.data as any)?.reason)}`)
    t.ok(lost[0] != null && lost[0].seq > started.seq)
    const { perStep, perAttempt } = startsOf(events)
    t.same(perAttempt, { 'a#1': 1, 'b#1': 1, 'b#2': 1, 'c#1': 1 }, 'each attempt started exactly once')
    t.same(perStep, { a: 1, b: 2, c: 1 })
    const bStarts = events.filter(e => e.type === 'step_run.started' && (e.data as any).step_id === 'b')
    t.not((bStarts[0]?.data as any)?.instance, (bStarts[1]?.data as any)?.instance, 'attempt 2 ran on the new agent instance')
    t.equal(events.filter(e => e.type === 'execution.completed').length, 1)
  })

  await t.test('without retries the run fails with the lost step naming the agent', async t => {
    const id = await launch(t, 'chain-no-retry')
    await startOfB(id)()
    const killedAt = Date.now()
    await agent.kill()
    await killedDuringB(t, id)
    // the agent stays down: the engine notices the silence after the heartbeat timeout
    const done = await waitForExecution(cluster, () => api, id, 20_000)
    const failedAfter = Date.now() - killedAt
    t.comment(`run failed ${failedAfter} ms after the kill (heartbeat timeout 2000 ms)`)
    t.ok(failedAfter < 10_000, 'the loss is noticed soon after the heartbeat timeout')

    t.equal(done.status, 'failed', 'the run failed', { logs: cluster.logs() })
    const [a, b, c] = done.steps
    t.match(a, { step_id: 'a', status: 'succeeded' })
    t.match(b, { step_id: 'b', server: AGENT, status: 'failed', attempt: 1 }, 'b failed')
    t.match(b.error, new RegExp(`the agent on ${AGENT} stopped sending heartbeats`), 'its error names the agent')
    t.match(c, { step_id: 'c', status: 'skipped' }, 'c never ran')

    // the agent coming back later runs nothing of the finished run
    await agent.start()
    const events = await cluster.executionEvents(id)
    t.same(startsOf(events).perAttempt, { 'a#1': 1, 'b#1': 1 }, 'a and b started once, c never')
    t.equal(events.filter(e => e.type === 'execution.step_lost').length, 1)
    t.notOk(events.some(e => e.type === 'execution.step_dispatched' && (e.data as any).step_id === 'c'), 'c was never dispatched')
  })
})
