import t from 'tap'
import { connectNats } from '../../src/nats.ts'
import { TaskBus } from '../../src/tasks.ts'
import { NATS_URL } from '../helpers/services.ts'
import { startAgent, startEngineCluster } from '../helpers/agents.ts'
import { waitFor } from '../helpers/wait.ts'

const c = await startEngineCluster({
  extra: [{ name: 'web-1', groups: ['prod-servers'] }, { name: 'web-2', groups: ['prod-servers', 'eu'] }]
})
t.teardown(c.teardown)

const servers = async (): Promise<any[]> => {
  const res = await c.api('GET', '/api/v1.0/servers')
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
  return res.json().items
}

t.test('lists the local agent and the extra agents online with groups and last_seen', async t => {
  const before = Date.now()
  const items = await servers()
  t.same(items.map(s => s.name), ['local-1', 'web-1', 'web-2'], 'sorted by name')
  for (const s of items) {
    t.equal(s.status, 'online', `${s.name} online`)
    t.type(s.last_seen, 'string')
    t.ok(Math.abs(Date.parse(s.last_seen) - before) < 5_000, `${s.name} seen recently`)
  }
  t.same(items.find(s => s.name === 'local-1').groups, ['local'])
  t.same(items.find(s => s.name === 'web-1').groups, ['prod-servers'])
  t.same(items.find(s => s.name === 'web-2').groups, ['prod-servers', 'eu'])

  // last_seen moves on while the agent beats
  const first = items.find(s => s.name === 'web-1').last_seen
  await waitFor(async () => (await servers()).find(s => s.name === 'web-1').last_seen > first, { timeoutMs: 3_000, what: 'a newer heartbeat' })
})

t.test('an agent that stops is offline after the heartbeat timeout; its running step fails', async t => {
  await c.define({ name: 'on-web-1', steps: [{ id: 'wait', action: { type: 'shell', command: 'sleep 30' } }] })
  const id = await c.launch({ orchestration_id: 'on-web-1', targets: ['web-1'] })
  await waitFor(async () => (await c.get(id)).steps[0].status === 'running', { what: 'the step to run on web-1' })
  await c.agents[0].stop()
  const stoppedAt = Date.now()
  const offline = await waitFor(async () => {
    const s = (await servers()).find(s => s.name === 'web-1')
    return s.status === 'offline' ? s : undefined
  }, { timeoutMs: 6_000, what: 'web-1 offline' })
  t.ok(Date.now() - stoppedAt >= 1_000, 'not before the timeout (1.5 s)')
  t.type(offline.last_seen, 'string', 'last_seen stays')
  t.ok(Date.parse(offline.last_seen) <= stoppedAt + 300, 'last_seen is the last beat')
  const rest = await servers()
  t.equal(rest.find(s => s.name === 'web-1').status, 'offline', 'still listed, offline')
  t.equal(rest.find(s => s.name === 'web-2').status, 'online', 'the others stay online')
  t.equal(rest.find(s => s.name === 'local-1').status, 'online')

  const d = await c.finished(id, 8_000)
  t.equal(d.status, 'failed', 'the run does not wait for the agent forever')
  t.match(d.steps[0], { server: 'web-1', status: 'failed', error: String })
  t.comment(`step error: ${d.steps[0].error}`)
})

t.test('an agent stopped right after it started stops (no hang)', async t => {
  const blink = await startAgent(c.node.namespace, 'blink', ['short-lived'])
  let timer: NodeJS.Timeout | undefined
  const stopped = await Promise.race([
    blink.stop().then(() => true),
    new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), 10_000) })
  ])
  clearTimeout(timer)
  t.ok(stopped, 'stop() returned')
})

t.test('an agent named by its host name with dots (the default name) comes online and runs steps', async t => {
  // host names are often fully qualified: the name is a KV key and a consumer name too
  const fqdn = await startAgent(c.node.namespace, 'db-1.eu.example.com', ['fqdn'])
  t.teardown(fqdn.stop)
  const me = await waitFor(async () => (await servers()).find(s => s.name === 'db-1.eu.example.com' && s.status === 'online'), { timeoutMs: 6_000, what: 'db-1.eu.example.com online' })
  t.same(me.groups, ['fqdn'])
  await c.define({ name: 'on-fqdn', steps: [{ id: 'hello', action: { type: 'shell', command: 'echo hi from $(hostname) >/dev/null; echo ran' } }] })
  const id = await c.launch({ orchestration_id: 'on-fqdn', targets: ['db-1.eu.example.com'] })
  const d = await c.finished(id)
  t.equal(d.status, 'succeeded')
  t.match(d.steps[0], { server: 'db-1.eu.example.com', status: 'succeeded', stdout: 'ran\n' })
})

t.test('a task its previous instance received but never started runs as soon as the agent is back', async t => {
  // the agent exists (its consumer too), then is down
  const first = await startAgent(c.node.namespace, 'reclaim-1', ['reclaim'])
  await first.stop()
  await c.define({ name: 'on-reclaim', steps: [{ id: 'one', action: { type: 'shell', command: 'echo picked up' } }] })
  const id = await c.launch({ orchestration_id: 'on-reclaim', targets: ['reclaim-1'] })
  // an instance receives the task and dies before recording that it started it
  const nc = await connectNats([NATS_URL], 'test-reclaim')
  t.teardown(async () => { await nc.drain() })
  const bus = await TaskBus.open(nc, c.node.namespace)
  const consumer = await bus.consumerFor('reclaim-1')
  const taken = await waitFor(async () => {
    const batch = await consumer.fetch({ max_messages: 1, expires: 1_000 })
    for await (const m of batch) return m // received, never acknowledged
    return undefined
  }, { timeoutMs: 10_000, what: 'the task to be sent' })
  t.equal(taken.json<any>().execution_id, id)
  // back: the task runs now, not after the consumer's ack wait (60 s)
  const since = Date.now()
  const again = await startAgent(c.node.namespace, 'reclaim-1', ['reclaim'])
  t.teardown(again.stop)
  const d = await c.finished(id, 20_000)
  t.equal(d.status, 'succeeded')
  t.equal(d.steps[0].stdout, 'picked up\n')
  t.ok(Date.now() - since < 20_000, `ran ${Date.now() - since} ms after the agent came back`)
})
