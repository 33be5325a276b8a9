// CONTRACT §5: "A run survives a restart of any process: the engine resumes from the event log".
// The API+projector+engine process is killed with SIGKILL in the middle of a run while the agent
// (a separate process) keeps working; the step that ends while the engine is down must be taken
// into account when it comes back, and no step may run twice.
import t from 'tap'
import { chain, clusterFor, sleep, startsOf, waitForExecution } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

t.setTimeout(120_000)

t.test('kill -9 of the api+projector+engine node mid-run: the run resumes and every step runs once', async t => {
  t.setTimeout(110_000)
  const cluster = clusterFor(t)
  const core = await cluster.node({ label: 'core', roles: ['api', 'projector', 'engine'] })
  const agent = await cluster.node({ label: 'agent', roles: ['agent'], agentName: 'dura-engine-1' })
  await core.start()
  await agent.start()
  const api = cluster.api(core)

  t.equal((await api.post('/api/v1.0/orchestrations', chain('chain-engine-crash'))).status, 201, 'orchestration created')
  const launched = await api.post('/api/v1.0/launch', { orchestration_id: 'chain-engine-crash', targets: ['dura-engine-1'] })
  t.equal(launched.status, 202, 'launched')
  const id: string = launched.body.execution_id
  const mine = (type: string, step: string) => (e: any) => e.type === type && e.data.execution_id === id && e.data.step_id === step

  // b (sleep 2) is running on the agent: kill the engine's process
  await cluster.waitForEvent(mine('step_run.started', 'b'), 'start of b')
  const killedAt = Date.now()
  await core.kill()

  // the agent finishes b while no engine is there: its result is in the log, nothing reacts to it
  const bFinished = await cluster.waitForEvent(mine('step_run.finished', 'b'), 'end of b (engine down)')
  t.equal((bFinished.data as any).status, 'succeeded', 'b ended while the engine was down')
  t.ok(Date.parse((bFinished.data as any).finished_at) > killedAt, 'b ended after the kill')
  t.notOk(core.running, 'the engine was down when b ended')
  const beforeRestart = (await cluster.events()).filter(e => (e.data as any)?.execution_id === id)
  t.notOk(beforeRestart.some(e => e.type === 'execution.step_dispatched' && (e.data as any).step_id === 'c'), 'nothing dispatched c while the engine was down')
  const lastSeqBeforeRestart = Math.max(...beforeRestart.map(e => e.seq))

  const restartAt = Date.now()
  await core.start()
  const readyAt = Date.now()
  const done = await waitForExecution(cluster, () => cluster.api(core), id)
  const doneAt = Date.now()
  t.comment(`engine down ${restartAt - killedAt} ms; restart to ready ${readyAt - restartAt} ms; ready to run finished ${doneAt - readyAt} ms`)

  t.equal(done.status, 'succeeded', 'the run succeeded', { logs: cluster.logs() })
  t.equal(done.progress, 100)
  t.same(done.steps.map((s: any) => [s.step_id, s.status, s.attempt]), [['a', 'succeeded', 1], ['b', 'succeeded', 1], ['c', 'succeeded', 1]], 'every step succeeded at its first attempt')
  t.match(done.steps.find((s: any) => s.step_id === 'c').stdout, /done/)

  const events = await cluster.executionEvents(id)
  const { perStep, perAttempt } = startsOf(events)
  t.same(perStep, { a: 1, b: 1, c: 1 }, 'every step started exactly once')
  t.same(perAttempt, { 'a#1': 1, 'b#1': 1, 'c#1': 1 })
  t.equal(events.filter(e => e.type === 'step_run.finished').length, 3, 'every step finished exactly once')
  t.equal(events.filter(e => e.type === 'execution.step_dispatched').length, 3, 'no step was dispatched twice')
  t.equal(events.filter(e => e.type === 'execution.completed').length, 1, 'completed once')
  t.notOk(events.some(e => e.type === 'execution.step_lost'), 'nothing was declared lost')
  const cDispatched = events.find(e => e.type === 'execution.step_dispatched' && (e.data as any).step_id === 'c')!
  t.ok(bFinished.seq <= lastSeqBeforeRestart && cDispatched.seq > lastSeqBeforeRestart, 'the result that arrived while the engine was down was applied after the restart')

  // the same, as the audit trail shows it
  const audit = await api.get('/api/v1.0/audit?type=step_run.started&limit=500')
  t.equal(audit.status, 200)
  t.equal(audit.body.items.filter((e: any) => e.data.execution_id === id).length, 3, 'audit: three step_run.started events')

  // the first restart read from at most the launch of the run it had to finish
  const launchSeq = events.find(e => e.type === 'execution.launched')!.seq
  const replayedFrom = (log: string): number => Number(/engine: replaying the log from seq (\d+)/.exec(log)?.[1] ?? NaN)
  const firstFrom = replayedFrom(core.logSinceStart())
  t.ok(firstFrom <= launchSeq, `after the crash it read from seq ${firstFrom}, not after the launch of the unfinished run (${launchSeq})`)

  // with nothing left to finish, the next start skips the history: from past the ended run
  await sleep(2_500) // the engine saves where to start at most once a second
  await core.kill()
  await core.start()
  const secondFrom = await waitFor(async () => { const n = replayedFrom(core.logSinceStart()); return Number.isNaN(n) ? undefined : n }, { timeoutMs: 15_000, what: 'the engine to start reading' })
  t.ok(secondFrom > Math.max(...events.map(e => e.seq)), `with nothing in flight it read from seq ${secondFrom}, past the ended run`)
  const again = await api.post('/api/v1.0/launch', { orchestration_id: 'chain-engine-crash', targets: ['dura-engine-1'] })
  t.equal(again.status, 202)
  const second = await waitForExecution(cluster, () => cluster.api(core), again.body.execution_id)
  t.equal(second.status, 'succeeded', 'and runs launched after that start run as before', { logs: cluster.logs() })
})
