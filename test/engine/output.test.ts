import t from 'tap'
import { startEngineCluster } from '../helpers/agents.ts'

// as a node started from its environment has them (set before the agent starts any command)
process.env.DM_VAULT_KEY = 'vault-key-canary-0123456789'
process.env.DM_JWT_SECRET = 'jwt-secret-canary-0123456789'
process.env.DM_OUTPUT_TEST_CANARY = 'plain-setting-is-passed'

const c = await startEngineCluster()
t.teardown(c.teardown)

const LINES = 20_000
const PAD = 'x'.repeat(64)
// ~1.5 MiB: numbered lines, some with multi-byte characters early on (split across reads)
const script = `awk 'BEGIN { for (i = 0; i < ${LINES}; i++) printf "line %06d %s%s\\n", i, (i < 5000 ? "déjà-vu " : ""), "${PAD}" }'`
const expected = Array.from({ length: LINES }, (_, i) => `line ${String(i).padStart(6, '0')} ${i < 5000 ? 'déjà-vu ' : ''}${PAD}\n`).join('')

t.test('a step printing ~1.5 MiB: the output route returns it exactly, the detail tail is bounded', async t => {
  t.ok(Buffer.byteLength(expected) > 1.5 * 1024 * 1024, `prints ${Buffer.byteLength(expected)} bytes`)
  await c.define({
    name: 'chatty',
    steps: [
      { id: 'big', action: { type: 'shell', command: `${script}; echo done >&2` } },
      { id: 'small', after: ['big'], action: { type: 'shell', command: 'echo small' } }
    ]
  })
  const id = await c.launch({ orchestration_id: 'chatty', targets: ['local'] })
  const d = await c.finished(id, 30_000)
  t.equal(d.status, 'succeeded')
  t.equal(d.progress, 100)
  const [big] = c.stepsOf(d, 'big')
  t.equal(big.status, 'succeeded')
  t.ok(big.stdout.length > 0 && Buffer.byteLength(big.stdout) <= 4096, `detail tail is ${Buffer.byteLength(big.stdout)} bytes`)
  t.ok(expected.endsWith(big.stdout), 'the tail is the end of the output')
  t.equal(big.stderr, 'done\n')

  const res = await c.api('GET', `/api/v1.0/executions/${id}/steps/big/output?server=local-1`)
  t.equal(res.statusCode, 200)
  const [item] = res.json().items
  t.ok(Buffer.byteLength(item.stdout) >= 1024 * 1024, `output route returns ${Buffer.byteLength(item.stdout)} bytes`)
  t.ok(expected.startsWith(item.stdout), 'exactly as printed, in order')
  t.equal(item.stdout.length, expected.length, 'all of it')
  t.equal(item.stderr, 'done\n')

  // the detail stays small whatever the output
  const detail = await c.api('GET', `/api/v1.0/executions/${id}`)
  t.ok(detail.body.length < 32 * 1024, `detail answer is ${detail.body.length} bytes`)
})

t.test("step commands inherit the node's environment but not its keys", async t => {
  await c.define({ name: 'print-env', steps: [{ id: 'env', action: { type: 'shell', command: 'env' } }] })
  const id = await c.launch({ orchestration_id: 'print-env', targets: ['local'] })
  const d = await c.finished(id)
  t.equal(d.status, 'succeeded')
  const res = await c.api('GET', `/api/v1.0/executions/${id}/steps/env/output`)
  t.equal(res.statusCode, 200, res.body.slice(0, 300))
  t.match(res.body, 'DM_OUTPUT_TEST_CANARY=plain-setting-is-passed', 'the environment is passed on')
  t.notMatch(res.body, 'vault-key-canary', 'no vault master key')
  t.notMatch(res.body, 'jwt-secret-canary', 'no token signing key')
  t.notMatch(res.body, /DM_VAULT_KEY|DM_JWT_SECRET/)
})

t.test('NUL bytes in output are recorded as U+FFFD, and every read model goes on', async t => {
  await c.define({ name: 'nul-output', steps: [{ id: 'nul', action: { type: 'shell', command: "printf 'a\\000b\\n'; printf 'err\\000\\n' >&2" } }] })
  const id = await c.launch({ orchestration_id: 'nul-output', targets: ['local'] })
  const d = await c.finished(id)
  t.equal(d.status, 'succeeded')
  const [step] = c.stepsOf(d, 'nul')
  t.equal(step.stdout, 'a\uFFFDb\n')
  t.equal(step.stderr, 'err\uFFFD\n')
  const res = await c.api('GET', `/api/v1.0/executions/${id}/steps/nul/output`)
  t.equal(res.statusCode, 200)
  t.match(res.body, 'a\uFFFDb')
  // the audit trail is not stuck at that event: a later run shows up in it
  await c.define({ name: 'after-nul', steps: [{ id: 'x', action: { type: 'shell', command: 'true' } }] })
  const later = await c.launch({ orchestration_id: 'after-nul', targets: ['local'] })
  await c.finished(later)
  const audit = await c.api('GET', '/api/v1.0/audit?type=execution.completed&limit=500')
  t.equal(audit.statusCode, 200)
  t.ok(audit.json().items.some((e: any) => e.aggregate_id === later), 'the later run is in the audit trail')
})

t.test("if the agent's process runner dies, its commands fail with a clear error and the next ones run", async t => {
  const { execFileSync } = await import('node:child_process')
  const runnerPids = (): number[] => {
    const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
    return out.split('\n').filter(l => l.includes('spawner-process.mjs')).map(l => Number(l.trim().split(/\s+/)[0]))
  }
  const alive = (): boolean => { try { execFileSync('pgrep', ['-fx', 'sleep 31.7']); return true } catch { return false } }
  await c.define({ name: 'long-for-runner', steps: [{ id: 'wait', action: { type: 'shell', command: 'sleep 31.7' } }] })
  const id = await c.launch({ orchestration_id: 'long-for-runner', targets: ['local'] })
  const running = async (): Promise<boolean> => (await c.get(id)).steps[0].status === 'running'
  for (let i = 0; i < 100 && !(await running()); i++) await new Promise(resolve => setTimeout(resolve, 100))
  for (let i = 0; i < 50 && !alive(); i++) await new Promise(resolve => setTimeout(resolve, 100))
  t.ok(alive(), 'the command runs')
  const pids = runnerPids()
  t.equal(pids.length, 1, 'one process runner for this process')
  process.kill(pids[0], 'SIGKILL')
  const d = await c.finished(id, 10_000)
  t.equal(d.status, 'failed')
  t.match(d.steps[0].error, /process runner exited/, d.steps[0].error)
  for (let i = 0; i < 50 && alive(); i++) await new Promise(resolve => setTimeout(resolve, 100))
  t.notOk(alive(), 'the command it was running is gone too')
  // a new runner starts for the next command
  const next = await c.launch({ orchestration_id: 'print-env', targets: ['local'] })
  t.equal((await c.finished(next)).status, 'succeeded')
  t.not(runnerPids()[0], pids[0], 'a new runner')
})
