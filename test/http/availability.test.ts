// CONTRACT §1 and §3: while NATS or Postgres is unreachable the API answers 503 with Retry-After
// (problem+json, never a 500, never a hang) and /healthcheck says which one is down; when the
// dependency is back the same node recovers on its own, without a restart, and loses nothing.
import t, { type Test } from 'tap'
import { startTestNode, type TestNode } from '../helpers/node.ts'
import { startNatsServer } from '../helpers/nats-server.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { DATABASE_URL } from '../helpers/services.ts'

/** No request may take longer than this, dependency down or not. */
const HANG_LIMIT_MS = 10_000

type Answer = Awaited<ReturnType<TestNode['request']>>
type Req = Parameters<TestNode['request']>[0]

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

const definition = (name: string) => ({ name, steps: [{ id: 'a', action: { type: 'shell', command: 'true' } }] })

/** Sends a request and fails the test (instead of hanging) when it takes longer than HANG_LIMIT_MS. */
async function send (t: Test, node: TestNode, req: Req): Promise<Answer> {
  const started = Date.now()
  let timer: NodeJS.Timeout | undefined
  const answer = await Promise.race([
    node.request(req),
    new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${req.method} ${req.url} hung for ${HANG_LIMIT_MS} ms`)), HANG_LIMIT_MS) })
  ]).finally(() => clearTimeout(timer))
  const ms = Date.now() - started
  if (answer.statusCode >= 500 && answer.statusCode !== 503) t.fail(`${req.method} ${req.url} answered ${answer.statusCode}: ${answer.body.slice(0, 300)}`)
  if (ms > HANG_LIMIT_MS) t.fail(`${req.method} ${req.url} took ${ms} ms`)
  if (ms > 1_000) t.comment(`${req.method} ${req.url} took ${ms} ms (${answer.statusCode})`)
  return answer
}

/** Repeats `req` until `accept` holds for its answer, for at most `timeoutMs`; returns that answer. */
async function until (t: Test, node: TestNode, req: Req, accept: (a: Answer) => boolean, timeoutMs: number): Promise<{ answer: Answer, ms: number, seen: number[] }> {
  const started = Date.now()
  const seen: number[] = []
  for (;;) {
    const answer = await send(t, node, req)
    seen.push(answer.statusCode)
    if (accept(answer)) return { answer, ms: Date.now() - started, seen: [...new Set(seen)] }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`${req.method} ${req.url}: condition not met within ${timeoutMs} ms; last ${answer.statusCode} ${answer.body.slice(0, 300)}`)
    }
    await sleep(100)
  }
}

function assert503 (t: Test, a: Answer, what: string, dependency: RegExp): void {
  t.equal(a.statusCode, 503, `${what}: 503`)
  t.match(a.headers['retry-after'], /^\d+$/, `${what}: Retry-After in seconds`)
  t.match(a.headers['content-type'], /^application\/problem\+json/, `${what}: problem+json`)
  const body = a.json()
  t.match(body, { type: String, title: String, status: 503, detail: dependency }, `${what}: problem names the dependency`)
}

const list = { method: 'GET', url: '/api/v1.0/orchestrations' }
const health = { method: 'GET', url: '/healthcheck', token: null }

t.test('NATS stopped: 503 with Retry-After; started again: the node recovers without a restart', { timeout: 180_000 }, async t => {
  const nats = await startNatsServer()
  let node: TestNode | undefined
  // registered before the node starts, so a failed start leaves no server behind
  t.teardown(async () => {
    if (!nats.running) await nats.start().catch(() => {})
    await node?.teardown().catch(err => { console.error('teardown', err) })
    await nats.dispose()
  })
  node = await startTestNode({ NATS_URL: nats.url })

  const created = await send(t, node, { method: 'POST', url: '/api/v1.0/orchestrations', body: definition('before-outage') })
  t.equal(created.statusCode, 201, 'an orchestration is created while all is well')

  // a graceful stop first, then a crash: both are outages the node must ride out
  for (const how of ['stop', 'kill'] as const) {
    const stopping = Date.now()
    await nats[how]()
    t.comment(`nats-server ${how}: ${Date.now() - stopping} ms`)

    const down = await until(t, node, list, a => a.statusCode === 503, 5_000)
    t.ok(down.seen.every(s => s === 200 || s === 503), `while NATS goes away the list answers 200 or 503 only (${down.seen.join(', ')})`)
    t.comment(`503 after ${down.ms} ms`)
    assert503(t, down.answer, `${how}: GET list`, /NATS/)
    assert503(t, await send(t, node, { method: 'POST', url: '/api/v1.0/orchestrations', body: definition(`during-${how}`) }), `${how}: POST create`, /NATS/)
    assert503(t, await send(t, node, { method: 'GET', url: '/api/v1.0/orchestrations/before-outage' }), `${how}: GET one`, /NATS/)
    assert503(t, await send(t, node, { method: 'POST', url: '/api/v1.0/auth/token', body: { api_key: 'whatever' }, token: null }), `${how}: POST token`, /NATS/)

    const h = await send(t, node, health)
    t.equal(h.statusCode, 503, 'healthcheck: 503')
    t.match(h.headers['retry-after'], /^\d+$/)
    t.match(h.json(), { status: 'unavailable', nats: 'down', postgres: 'up' }, 'healthcheck says NATS is down')

    // same port and store dir, same node process
    const starting = Date.now()
    await nats.start()
    t.comment(`nats-server start: ${Date.now() - starting} ms`)
    const up = await until(t, node, list, a => a.statusCode === 200, 15_000)
    t.ok(up.seen.every(s => s === 200 || s === 503), `while NATS comes back the list answers 503 or 200 only (${up.seen.join(', ')})`)
    t.comment(`recovered ${up.ms} ms after the restart`)

    const earlier = await send(t, node, { method: 'GET', url: '/api/v1.0/orchestrations/before-outage' })
    t.equal(earlier.statusCode, 200, 'the orchestration from before the outage is still there')
    t.match(earlier.json(), { name: 'before-outage', version: 1 })
    t.equal((await send(t, node, { method: 'GET', url: `/api/v1.0/orchestrations/during-${how}` })).statusCode, 404, 'the refused write changed nothing')

    const writeStarted = Date.now()
    const after = await send(t, node, { method: 'POST', url: '/api/v1.0/orchestrations', body: definition(`after-${how}`) })
    t.equal(after.statusCode, 201, 'a new write works after recovery')
    t.comment(`the first write after recovery took ${Date.now() - writeStarted} ms`)
    // The projectors lost their leases in the outage and come back on their own; their restart
    // (migration check under a database-wide lock shared with every other test process) can take
    // longer than the write waits for its read model, so this first write is given time to show.
    const read = await until(t, node, { method: 'GET', url: `/api/v1.0/orchestrations/after-${how}` }, a => a.statusCode === 200, 10_000)
    if (read.seen.includes(404)) t.comment(`the first write after recovery showed after another ${read.ms} ms`)
    // once the read models are live again, read-your-writes holds strictly
    const again = await send(t, node, { method: 'POST', url: '/api/v1.0/orchestrations', body: definition(`again-${how}`) })
    t.equal(again.statusCode, 201, 'another write')
    t.equal((await send(t, node, { method: 'GET', url: `/api/v1.0/orchestrations/again-${how}` })).statusCode, 200, 'is read back at once')
    const names = (await send(t, node, list)).json().items.map((o: any) => o.name)
    t.ok(['before-outage', `after-${how}`, `again-${how}`].every(n => names.includes(n)), 'the list has them all')

    const healthy = await until(t, node, health, a => a.statusCode === 200, 10_000)
    t.match(healthy.answer.json(), { status: /^ok/, nats: 'up', postgres: 'up' }, 'healthcheck is ok again')
    const token = await send(t, node, { method: 'POST', url: '/api/v1.0/auth/token', body: { api_key: 'test-bootstrap-secret' }, token: null })
    t.equal(token.statusCode, 200, 'tokens are issued again')
  }
})

t.test('Postgres cut: 503 with Retry-After; restored: the node recovers without a restart', { timeout: 180_000 }, async t => {
  const pg = new URL(DATABASE_URL)
  const proxy = await startTcpProxy({ host: pg.hostname || '127.0.0.1', port: Number(pg.port || 5432) })
  const viaProxy = new URL(DATABASE_URL)
  viaProxy.hostname = '127.0.0.1'
  viaProxy.port = String(proxy.port)
  let node: TestNode | undefined
  t.teardown(async () => {
    await proxy.restore()
    await node?.teardown().catch(err => { console.error('teardown', err) })
    await proxy.close()
  })
  node = await startTestNode({ DATABASE_URL: viaProxy.toString() })
  t.ok(proxy.accepted > 0, 'the node reaches Postgres through the proxy')

  const created = await send(t, node, { method: 'POST', url: '/api/v1.0/orchestrations', body: definition('before-cut') })
  t.equal(created.statusCode, 201, 'an orchestration is created while all is well')

  await proxy.cut()
  // a write sent at the very moment Postgres goes away: it may be accepted (its events are in the
  // log; the read model catches up later) or refused with 503, but nothing else
  const racing = await send(t, node, { method: 'POST', url: '/api/v1.0/orchestrations', body: definition('at-cut') })
  t.ok([201, 503].includes(racing.statusCode), `a write at the moment of the cut: 201 or 503 (${racing.statusCode})`)
  if (racing.statusCode === 503) assert503(t, racing, 'write at the cut', /Postgres|retry/i)

  const down = await until(t, node, list, a => a.statusCode === 503, 5_000)
  t.ok(down.seen.every(s => s === 200 || s === 503), `while Postgres goes away the list answers 200 or 503 only (${down.seen.join(', ')})`)
  assert503(t, down.answer, 'GET list', /Postgres/)
  assert503(t, await send(t, node, { method: 'GET', url: '/api/v1.0/orchestrations/before-cut' }), 'GET one', /Postgres/)
  const during = await send(t, node, { method: 'POST', url: '/api/v1.0/orchestrations', body: definition('during-cut') })
  t.ok([201, 503].includes(during.statusCode), `a write while Postgres is down: 201 or 503 (${during.statusCode})`)
  if (during.statusCode === 503) assert503(t, during, 'POST create', /Postgres/)

  const h = await send(t, node, health)
  t.equal(h.statusCode, 503, 'healthcheck: 503')
  t.match(h.headers['retry-after'], /^\d+$/)
  t.match(h.json(), { status: 'unavailable', postgres: 'down', nats: 'up' }, 'healthcheck says Postgres is down')

  await proxy.restore()
  const up = await until(t, node, list, a => a.statusCode === 200, 15_000)
  t.ok(up.seen.every(s => s === 200 || s === 503), `while Postgres comes back the list answers 503 or 200 only (${up.seen.join(', ')})`)
  t.comment(`recovered ${up.ms} ms after the restore`)

  t.equal((await send(t, node, { method: 'GET', url: '/api/v1.0/orchestrations/before-cut' })).statusCode, 200, 'the orchestration from before the cut is still there')
  for (const [name, answer] of [['at-cut', racing], ['during-cut', during]] as const) {
    const url = `/api/v1.0/orchestrations/${name}`
    if (answer.statusCode === 201) {
      // accepted while the read model was unreachable: it shows up once the projector catches up
      const seen = await until(t, node, { method: 'GET', url }, a => a.statusCode === 200, 10_000)
      t.match(seen.answer.json(), { name, version: 1 }, `${name}: the write accepted during the outage became visible`)
    } else {
      t.equal((await send(t, node, { method: 'GET', url })).statusCode, 404, `${name}: the refused write changed nothing`)
    }
  }

  const after = await send(t, node, { method: 'POST', url: '/api/v1.0/orchestrations', body: definition('after-cut') })
  t.equal(after.statusCode, 201, 'a new write works after recovery')
  t.equal((await send(t, node, { method: 'GET', url: '/api/v1.0/orchestrations/after-cut' })).statusCode, 200, 'and is read back at once')

  const healthy = await until(t, node, health, a => a.statusCode === 200 && a.json().projection_lag === 0, 10_000)
  t.match(healthy.answer.json(), { status: /^ok/, nats: 'up', postgres: 'up', projection_lag: 0 }, 'healthcheck is ok again and the read models caught up')
})
