import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startEngineCluster } from '../helpers/agents.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const c = await startEngineCluster()
t.teardown(c.teardown)
const dir = await mkdtemp(join(tmpdir(), 'dm-cancel-'))
t.teardown(async () => await rm(dir, { recursive: true, force: true }))

const sh = (command: string) => ({ type: 'shell', command })
const problemJson = /^application\/problem\+json/

/** Whether any process of the group still exists. */
function groupAlive (pgid: number): boolean {
  try { process.kill(-pgid, 0); return true } catch (err: any) { return err.code !== 'ESRCH' }
}

/** Starts a run whose `long` step records its process group id, and waits until it runs. */
async function launchLong (name: string, pidFile: string): Promise<{ id: string, pgid: number }> {
  const id = await c.launch({ orchestration_id: name, targets: ['local'] })
  await waitFor(async () => c.stepsOf(await c.get(id), 'long')[0].status === 'running', { what: 'long to run' })
  const pgid = await waitFor(async () => Number((await readFile(pidFile, 'utf8').catch(() => '')).trim()) || undefined, { what: 'the pid file' })
  return { id, pgid }
}

t.test('cancel a long run: the command is stopped, pending steps cancelled', async t => {
  const pidFile = join(dir, 'long.pid')
  await c.define({
    name: 'long-run',
    steps: [
      { id: 'first', action: sh('echo first') },
      { id: 'long', after: ['first'], action: sh(`echo $$ > ${pidFile}; sleep 30; echo never`) },
      { id: 'then', after: ['long'], action: sh('echo never') }
    ]
  })
  const { id, pgid } = await launchLong('long-run', pidFile)
  t.ok(groupAlive(pgid), 'the command runs')
  const running = await c.get(id)
  t.equal(running.status, 'running')
  t.ok(running.progress > 0 && running.progress < 100, `progress ${running.progress} while running`)

  const asked = Date.now()
  const res = await c.api('POST', `/api/v1.0/executions/${id}/cancel`)
  t.equal(res.statusCode, 202, res.body)
  t.equal(res.json().execution_id, id)
  const d = await c.finished(id, 8_000)
  t.ok(Date.now() - asked < 6_000, `ended ${Date.now() - asked} ms after the cancel`)
  t.equal(d.status, 'cancelled')
  t.equal(d.undo_status, null)
  t.type(d.finished_at, 'string')
  const s = (stepId: string) => c.stepsOf(d, stepId)[0]
  t.match(s('first'), { status: 'succeeded' })
  t.match(s('long'), { status: 'cancelled', finished_at: String })
  t.ok(s('long').duration_ms < 10_000, 'stopped, not run to its end')
  t.ok(['cancelled', 'skipped'].includes(s('then').status), `the pending dependent is ${s('then').status}`)
  t.equal(s('then').started_at, null, 'and never started')
  await waitFor(async () => !groupAlive(pgid), { timeoutMs: 3_000, what: 'the sleep to be gone' })
  t.notOk(groupAlive(pgid), 'the sleep process is gone')
  const out = await c.api('GET', `/api/v1.0/executions/${id}/steps/long/output`)
  t.notMatch(out.json().items[0].stdout, /never/)

  const again = await c.api('POST', `/api/v1.0/executions/${id}/cancel`)
  t.equal(again.statusCode, 409, 'cancel of a finished execution')
  t.match(again.headers['content-type'], problemJson)
  t.match(again.json(), { status: 409, detail: /finished/ })
})

t.test('cancel of a succeeded execution → 409; of an unknown one → 404', async t => {
  await c.define({ name: 'quick', steps: [{ id: 'q', action: sh('true') }] })
  const id = await c.launch({ orchestration_id: 'quick', targets: ['local'] })
  t.equal((await c.finished(id)).status, 'succeeded')
  const res = await c.api('POST', `/api/v1.0/executions/${id}/cancel`)
  t.equal(res.statusCode, 409)
  t.equal((await c.get(id)).status, 'succeeded', 'unchanged')
  const unknown = await c.api('POST', '/api/v1.0/executions/00000000-0000-4000-8000-000000000000/cancel')
  t.equal(unknown.statusCode, 404)
})

t.test('cancel runs compensation when the orchestration asks for it', async t => {
  const pidFile = join(dir, 'saga.pid')
  await c.define({
    name: 'cancel-saga',
    undo_on_error: true,
    steps: [
      { id: 'reserve', action: sh('echo reserved'), undo: sh('echo released') },
      { id: 'long', after: ['reserve'], action: sh(`echo $$ > ${pidFile}; sleep 30`), undo: sh('echo never') }
    ]
  })
  const { id, pgid } = await launchLong('cancel-saga', pidFile)
  const res = await c.api('POST', `/api/v1.0/executions/${id}/cancel`)
  t.equal(res.statusCode, 202)
  const twice = await c.api('POST', `/api/v1.0/executions/${id}/cancel`)
  t.ok([202, 409].includes(twice.statusCode), 'a repeated cancel is harmless')
  const d = await c.finished(id, 8_000)
  t.equal(d.status, 'cancelled')
  t.equal(d.undo_status, 'succeeded')
  t.match(c.stepsOf(d, 'reserve')[0], { status: 'undone', undo_status: 'succeeded' })
  t.match(c.stepsOf(d, 'long')[0], { status: 'cancelled', undo_status: null }, 'the stopped step is not compensated')
  const undoOut = await c.api('GET', `/api/v1.0/executions/${id}/steps/reserve/output?kind=undo`)
  t.equal(undoOut.json().items[0].stdout, 'released\n')
  await waitFor(async () => !groupAlive(pgid), { timeoutMs: 3_000, what: 'the sleep to be gone' })
})

t.test('cancel while a retry waits out its backoff: the waiting attempt never runs', async t => {
  const marker = join(dir, 'ran-twice')
  await c.define({
    name: 'waits',
    steps: [
      { id: 'w', retries: 1, retry_backoff_s: 2, action: sh(`[ -e ${marker}.1 ] && touch ${marker}; touch ${marker}.1; exit 1`) },
      { id: 'x', after: ['w'], action: sh('true') }
    ]
  })
  const id = await c.launch({ orchestration_id: 'waits', targets: ['local'] })
  // the first attempt fails, the second waits 2 s on the agent: cancel it meanwhile
  await waitFor(async () => c.stepsOf(await c.get(id), 'w')[0].attempt === 2, { what: 'the second attempt to be dispatched' })
  const asked = Date.now()
  const res = await c.api('POST', `/api/v1.0/executions/${id}/cancel`)
  t.equal(res.statusCode, 202)
  const d = await c.finished(id, 5_000)
  t.ok(Date.now() - asked < 1_500, `ended ${Date.now() - asked} ms after the cancel, not after the backoff`)
  t.equal(d.status, 'cancelled')
  t.match(c.stepsOf(d, 'w')[0], { status: 'cancelled', attempt: 2, error: /cancelled/ })
  t.ok(['cancelled', 'skipped'].includes(c.stepsOf(d, 'x')[0].status))
  t.equal(c.stepsOf(d, 'x')[0].started_at, null)
  t.equal(d.progress, 100)
  // once the backoff is over the agent finds the attempt taken and drops it
  await sleep(Date.parse(c.stepsOf(d, 'w')[0].finished_at) - Date.now() + 2_500)
  await t.rejects(readFile(marker), 'the second attempt never ran')
  t.match(c.stepsOf(await c.get(id), 'w')[0], { status: 'cancelled' }, 'and the record is unchanged')
})
