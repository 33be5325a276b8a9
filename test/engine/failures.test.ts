// Retries, timeouts, expect rules, continue_on_error and stop_on_error, on the node's own agent.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startEngineCluster } from '../helpers/agents.ts'
import { waitFor } from '../helpers/wait.ts'

const c = await startEngineCluster()
t.teardown(c.teardown)
const dir = await mkdtemp(join(tmpdir(), 'dm-failures-'))
t.teardown(async () => await rm(dir, { recursive: true, force: true }))

const sh = (command: string) => ({ type: 'shell', command })
const run = async (name: string, def: Record<string, unknown>): Promise<any> => {
  await c.define({ name, ...def })
  return await c.finished(await c.launch({ orchestration_id: name, targets: ['local'] }))
}

async function auditOf (executionId: string, type: string, stepId: string): Promise<any[]> {
  const res = await c.api('GET', `/api/v1.0/audit?type=${type}&limit=500`)
  if (res.statusCode !== 200) throw new Error(`audit: ${res.statusCode} ${res.body}`)
  return res.json().items.map((e: any) => e.data)
    .filter((d: any) => d.execution_id === executionId && d.step_id === stepId && d.kind === 'action')
    .sort((a: any, b: any) => a.attempt - b.attempt)
}

t.test('retries with retry_backoff_s: attempts counted, spaced by at least the backoff', async t => {
  const counter = join(dir, 'flaky')
  const d = await run('flaky', {
    steps: [{
      id: 'flaky',
      retries: 3,
      retry_backoff_s: 0.4,
      // fails twice, then succeeds
      action: sh(`n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; echo "attempt $n"; [ $n -ge 3 ]`)
    }]
  })
  t.equal(d.status, 'succeeded')
  const [s] = d.steps
  t.match(s, { status: 'succeeded', attempt: 3, rc: 0, stdout: 'attempt 3\n' })
  for (const attempt of [1, 2, 3]) {
    const out = await c.api('GET', `/api/v1.0/executions/${d.execution_id}/steps/flaky/output?attempt=${attempt}`)
    t.equal(out.json().items[0].stdout, `attempt ${attempt}\n`, `output of attempt ${attempt}`)
  }
  const started = await waitFor(async () => { const e = await auditOf(d.execution_id, 'step_run.started', 'flaky'); return e.length === 3 ? e : undefined })
  const finished = await auditOf(d.execution_id, 'step_run.finished', 'flaky')
  t.same(finished.map(f => f.status), ['failed', 'failed', 'succeeded'])
  for (const i of [1, 2]) {
    const gap = Date.parse(started[i].started_at) - Date.parse(finished[i - 1].finished_at)
    // timers may fire a millisecond early; the backoff doubles after each failure
    t.ok(gap >= 400 * 2 ** (i - 1) - 5, `attempt ${i + 1} waited ${gap} ms after attempt ${i}`)
  }
})

t.test('retries exhausted: the step fails with the last attempt', async t => {
  const d = await run('always-fails', { steps: [{ id: 'no', retries: 2, action: sh('echo nope; exit 4') }, { id: 'after', after: ['no'], action: sh('echo x') }] })
  t.equal(d.status, 'failed')
  t.match(c.stepsOf(d, 'no')[0], { status: 'failed', attempt: 3, rc: 4, error: /exit code 4/ })
  t.match(c.stepsOf(d, 'after')[0], { status: 'skipped', attempt: 0 })
  t.equal(d.progress, 100)
})

t.test('timeout_s stops a long command and fails the step quickly', async t => {
  const began = Date.now()
  const d = await run('too-slow', { steps: [{ id: 'sleepy', timeout_s: 1, action: sh('sleep 30') }] })
  t.ok(Date.now() - began < 8_000, `ended after ${Date.now() - began} ms`)
  t.equal(d.status, 'failed')
  const [s] = d.steps
  t.equal(s.status, 'failed')
  t.match(s.error, /timed out after 1 s/)
  t.ok(s.duration_ms >= 900 && s.duration_ms < 7_000, `ran ${s.duration_ms} ms`)
})

t.test('expect rules', async t => {
  const d = await run('expectations', {
    stop_on_error: false,
    steps: [
      { id: 'rc3', expect: { rc: 3 }, action: sh('echo three; exit 3') },
      { id: 'rc3-unexpected', action: sh('exit 3') },
      { id: 'rc0-when-3-expected', expect: { rc: 3 }, action: sh('true') },
      { id: 'stdout-ok', expect: { stdout: '^ver(sion)? \\d+\\.\\d+$' }, action: sh('echo starting; echo version 2.9') },
      { id: 'stdout-mismatch', expect: { stdout: '^ready$' }, action: sh('echo not yet') },
      { id: 'stderr-ok', expect: { stderr: 'warn' }, action: sh('echo "a warning" >&2') }
    ]
  })
  t.equal(d.status, 'failed')
  const s = (id: string) => c.stepsOf(d, id)[0]
  t.match(s('rc3'), { status: 'succeeded', rc: 3, error: null, stdout: 'three\n' }, 'exit 3 succeeds when rc 3 is expected')
  t.match(s('rc3-unexpected'), { status: 'failed', rc: 3, error: /exit code 3, expected 0/ })
  t.match(s('rc0-when-3-expected'), { status: 'failed', rc: 0, error: /expected 3/ })
  t.match(s('stdout-ok'), { status: 'succeeded', rc: 0 })
  t.match(s('stdout-mismatch'), { status: 'failed', rc: 0, error: /stdout does not match/, stdout: 'not yet\n' })
  t.match(s('stderr-ok'), { status: 'succeeded', stderr: 'a warning\n' })
})

t.test('continue_on_error: the failure does not stop the run, dependents run', async t => {
  const d = await run('keep-going', {
    steps: [
      { id: 'optional', continue_on_error: true, action: sh('exit 2') },
      { id: 'next', after: ['optional'], action: sh('echo next') }
    ]
  })
  t.equal(d.status, 'succeeded')
  t.match(c.stepsOf(d, 'optional')[0], { status: 'failed', rc: 2 })
  t.match(c.stepsOf(d, 'next')[0], { status: 'succeeded', stdout: 'next\n' })
  t.ok(Date.parse(c.stepsOf(d, 'next')[0].started_at) >= Date.parse(c.stepsOf(d, 'optional')[0].finished_at))
})

const branches = [
  { id: 'bad', action: sh('exit 1') },
  { id: 'after-bad', after: ['bad'], action: sh('echo never') },
  { id: 'branch', action: sh('sleep 0.8; echo branch') },
  { id: 'after-branch', after: ['branch'], action: sh('echo after branch') }
]

t.test('stop_on_error false: an independent branch finishes', async t => {
  const d = await run('branches-go-on', { stop_on_error: false, steps: branches })
  t.equal(d.status, 'failed')
  const s = (id: string) => c.stepsOf(d, id)[0]
  t.match(s('bad'), { status: 'failed', rc: 1 })
  t.match(s('after-bad'), { status: 'skipped', started_at: null })
  t.match(s('branch'), { status: 'succeeded', stdout: 'branch\n' })
  t.match(s('after-branch'), { status: 'succeeded', stdout: 'after branch\n' }, 'started after the failure')
  t.ok(Date.parse(s('after-branch').started_at) > Date.parse(s('bad').finished_at))
  t.equal(d.progress, 100)
})

t.test('stop_on_error true (default): nothing new starts after a failure', async t => {
  const d = await run('branches-stop', { steps: branches })
  t.equal(d.status, 'failed')
  const s = (id: string) => c.stepsOf(d, id)[0]
  t.match(s('bad'), { status: 'failed' })
  t.match(s('branch'), { status: 'succeeded' }, 'what already ran finishes')
  t.match(s('after-branch'), { status: 'skipped', started_at: null }, 'its dependent does not start')
  t.match(s('after-bad'), { status: 'skipped' })
  t.equal(d.progress, 100)
})
