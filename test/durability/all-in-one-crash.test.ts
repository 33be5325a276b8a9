// CONTRACT §5: "A run survives a restart of any process". One process with every role (API,
// projectors, engine and the agent running the step) is killed with SIGKILL during `b: sleep 2`
// and started again: the interrupted attempt is lost with the process, and the run must still end
// the right way (retried and succeeded, or failed with the lost step reported), never hang.
import t, { type Test } from 'tap'
import { chain, clusterFor, startsOf, waitForExecution, type Cluster, type NodeProcess } from '../helpers/processes.ts'

t.setTimeout(120_000)

const AGENT = 'dura-all-1'
const LOST = new RegExp(`the agent on ${AGENT} (restarted during the run|stopped sending heartbeats)`)

async function crashDuringB (t: Test, cluster: Cluster, node: NodeProcess, orchestration: string): Promise<{ id: string, done: any }> {
  const api = cluster.api(node)
  const res = await api.post('/api/v1.0/launch', { orchestration_id: orchestration, targets: [AGENT] })
  t.equal(res.status, 202, `${orchestration} launched`)
  const id: string = res.body.execution_id
  await cluster.waitForEvent(e => e.type === 'step_run.started' && (e.data as any).execution_id === id && (e.data as any).step_id === 'b', 'start of b')
  const killedAt = Date.now()
  await node.kill()
  const atKill = await cluster.executionEvents(id)
  t.notOk(atKill.some(e => e.type === 'step_run.finished' && (e.data as any).step_id === 'b'), 'killed while b was running')
  await node.start()
  const readyAt = Date.now()
  const done = await waitForExecution(cluster, () => api, id)
  t.comment(`restart to ready ${readyAt - killedAt} ms; run finished ${Date.now() - killedAt} ms after the kill`)
  return { id, done }
}

t.test('kill -9 of an all-in-one node mid-run', async t => {
  t.setTimeout(110_000)
  const cluster = clusterFor(t)
  const node = await cluster.node({ label: 'all', roles: ['api', 'projector', 'engine', 'agent'], agentName: AGENT })
  await node.start()
  const api = cluster.api(node)
  t.equal((await api.post('/api/v1.0/orchestrations', chain('all-retry', { retries: 1 }))).status, 201)
  t.equal((await api.post('/api/v1.0/orchestrations', chain('all-no-retry'))).status, 201)

  await t.test('with retries: 1 the run succeeds, b at its second attempt', async t => {
    const { id, done } = await crashDuringB(t, cluster, node, 'all-retry')
    t.equal(done.status, 'succeeded', 'the run succeeded', { logs: cluster.logs() })
    t.same(done.steps.map((s: any) => [s.step_id, s.status, s.attempt]), [['a', 'succeeded', 1], ['b', 'succeeded', 2], ['c', 'succeeded', 1]])
    const events = await cluster.executionEvents(id)
    const lost = events.filter(e => e.type === 'execution.step_lost')
    t.equal(lost.length, 1, 'the interrupted attempt was lost')
    t.match(lost[0]?.data, { step_id: 'b', attempt: 1, server: AGENT, reason: LOST })
    t.comment(`lost reason: ${String((lost[0]?.data as any)?.reason)}`)
    t.same(startsOf(events).perAttempt, { 'a#1': 1, 'b#1': 1, 'b#2': 1, 'c#1': 1 }, 'each attempt started exactly once')
    t.equal(events.filter(e => e.type === 'execution.completed').length, 1)
  })

  await t.test('without retries the run fails with the lost step reported', async t => {
    const { id, done } = await crashDuringB(t, cluster, node, 'all-no-retry')
    t.equal(done.status, 'failed', 'the run failed', { logs: cluster.logs() })
    const [a, b, c] = done.steps
    t.match(a, { step_id: 'a', status: 'succeeded' })
    t.match(b, { step_id: 'b', status: 'failed', attempt: 1, error: LOST }, 'b failed as lost, naming the agent')
    t.match(c, { step_id: 'c', status: 'skipped' })
    const events = await cluster.executionEvents(id)
    t.same(startsOf(events).perAttempt, { 'a#1': 1, 'b#1': 1 }, 'c never started, nothing started twice')
    t.equal(events.filter(e => e.type === 'execution.completed').length, 1)
  })
})
