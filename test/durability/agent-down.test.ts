// CONTRACT §5 and src/tasks.ts: tasks sent while the only agent that can run them is down wait
// for it. The agent process is killed with SIGKILL, a run is launched against it, and the agent
// is started again 2 s later: the run must then complete, each step once, and nothing may have
// been declared lost meanwhile (a task that never started is not a vanished step).
import t from 'tap'
import { chain, clusterFor, sleep, startsOf, waitForExecution } from '../helpers/processes.ts'

t.setTimeout(120_000)

const AGENT = 'dura-wait-1'

t.test('a run launched while its only agent is down completes once the agent is back', async t => {
  t.setTimeout(110_000)
  const cluster = clusterFor(t)
  const core = await cluster.node({ label: 'core', roles: ['api', 'projector', 'engine'] })
  const agent = await cluster.node({ label: 'agent', roles: ['agent'], agentName: AGENT })
  await core.start()
  await agent.start() // registers the server, so that it is a valid target
  const api = cluster.api(core)
  t.equal((await api.post('/api/v1.0/orchestrations', chain('chain-agent-down'))).status, 201)

  await agent.kill()
  const launched = await api.post('/api/v1.0/launch', { orchestration_id: 'chain-agent-down', targets: [AGENT] })
  t.equal(launched.status, 202, 'a server that is down is still a valid target')
  const id: string = launched.body.execution_id
  await cluster.waitForEvent(e => e.type === 'execution.step_dispatched' && (e.data as any).execution_id === id && (e.data as any).step_id === 'a', 'dispatch of a')

  // the agent stays down for 2 s (as long as its heartbeat timeout): the task waits, nothing fails
  await sleep(2_000)
  const waiting = await cluster.executionEvents(id)
  t.notOk(waiting.some(e => e.type === 'step_run.started'), 'nothing started while the agent was down')
  t.notOk(waiting.some(e => ['execution.step_lost', 'execution.completed', 'step_run.finished'].includes(e.type)), 'nothing failed or ended while the agent was down')
  const meanwhile = await api.get(`/api/v1.0/executions/${id}`)
  t.match(meanwhile.body, { status: 'running', steps: [{ step_id: 'a', status: 'pending' }, { step_id: 'b', status: 'pending' }, { step_id: 'c', status: 'pending' }] }, 'the run is waiting')
  const servers = await api.get('/api/v1.0/servers')
  t.match(servers.body.items.find((s: any) => s.name === AGENT), { status: 'offline' }, 'the agent shows offline')

  const startedAt = Date.now()
  await agent.start()
  const readyAt = Date.now()
  const done = await waitForExecution(cluster, () => api, id)
  t.comment(`agent start to ready ${readyAt - startedAt} ms; ready to run finished ${Date.now() - readyAt} ms`)

  t.equal(done.status, 'succeeded', 'the run succeeded', { logs: cluster.logs() })
  t.same(done.steps.map((s: any) => [s.step_id, s.status, s.attempt]), [['a', 'succeeded', 1], ['b', 'succeeded', 1], ['c', 'succeeded', 1]])
  const events = await cluster.executionEvents(id)
  t.same(startsOf(events).perAttempt, { 'a#1': 1, 'b#1': 1, 'c#1': 1 }, 'every step started exactly once')
  t.notOk(events.some(e => e.type === 'execution.step_lost'), 'nothing was declared lost')
  const aStart = events.find(e => e.type === 'step_run.started' && (e.data as any).step_id === 'a')!
  t.ok(Date.parse(aStart.timestamp) >= startedAt, 'a started only after the agent came back')
})
