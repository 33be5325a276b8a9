// Real node processes for crash tests: each is `node --import tsx src/main.ts` in its own process
// group, its output appended to a log file (quoted in failure messages), killed with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { connectNats } from '../../src/nats.ts'
import { EventStore } from '../../src/event-store.ts'
import { openDatabase } from '../../src/db.ts'
import type { RecordedEvent } from '../../domain/envelope.ts'
import { DATABASE_URL, NATS_URL, dropNamespace, freshNamespace } from './services.ts'
import { freePort } from './nats-server.ts'

export { freePort }

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
export const ADMIN_SECRET = 'durability-bootstrap-secret'

export const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** Short timings so crash tests finish fast: agents are lost 2 s after their last beat. */
export const FAST_TIMINGS = {
  DM_HEARTBEAT_MS: '200',
  DM_AGENT_TIMEOUT_MS: '2000',
  DM_LEASE_TTL_MS: '2000'
}

/**
 * Loaded into every node process: if the test process dies without its teardown (a tap timeout,
 * a crash), the node kills its own process group instead of living on as an orphan.
 */
const WATCHDOG = 'data:text/javascript,' + encodeURIComponent(
  "const parent = process.ppid; setInterval(() => { if (process.ppid !== parent) process.kill(-process.pid, 'SIGKILL') }, 250).unref()"
)

export interface NodeProcessOptions {
  /** a label for logs and messages */
  label: string
  roles: Array<'api' | 'projector' | 'engine' | 'agent'>
  agentName?: string
  agentGroups?: string[]
  env?: Record<string, string>
}

export class NodeProcess {
  child: ChildProcess | null = null
  /** the port of its API (fixed across restarts) */
  readonly port: number
  readonly url: string
  /** how many times it was started */
  starts = 0
  private exited: Promise<void> = Promise.resolve()
  private logOffset = 0

  constructor (readonly cluster: Cluster, readonly o: NodeProcessOptions, port: number) {
    this.port = port
    this.url = `http://127.0.0.1:${port}`
  }

  get running (): boolean { return this.child != null && this.child.exitCode == null && this.child.signalCode == null }
  get hasApi (): boolean { return this.o.roles.includes('api') }
  get logFile (): string { return join(this.cluster.dir, `${this.o.label}.log`) }

  env (): NodeJS.ProcessEnv {
    const base: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DM_') && !k.startsWith('TAP') && k !== 'NODE_OPTIONS') base[k] = v
    return {
      ...base,
      NATS_URL,
      DATABASE_URL,
      DM_NAMESPACE: this.cluster.namespace,
      DM_ROLES: this.o.roles.join(','),
      DM_PORT: String(this.port),
      DM_HOST: '127.0.0.1',
      DM_BOOTSTRAP_API_KEY: ADMIN_SECRET,
      DM_JWT_SECRET: `durability-jwt-${this.cluster.namespace}`,
      DM_DATA_DIR: join(this.cluster.dir, 'data'),
      DM_AGENT_NAME: this.o.agentName ?? `${this.cluster.namespace}-agent`,
      DM_AGENT_GROUPS: (this.o.agentGroups ?? ['durability']).join(','),
      DM_LOG_LEVEL: 'info',
      ...FAST_TIMINGS,
      ...this.o.env
    }
  }

  /** Starts the process and resolves once it serves (API: /healthcheck ok; agent: registered and online). */
  async start (timeoutMs = 30_000): Promise<void> {
    if (this.running) throw new Error(`${this.o.label} is already running`)
    const fd = openSync(this.logFile, 'a')
    const header = `\n===== ${this.o.label} start #${this.starts + 1} at ${new Date().toISOString()} =====\n`
    writeSync(fd, header)
    this.logOffset = readFileSync(this.logFile).length
    const startedAt = Date.now()
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', WATCHDOG, 'src/main.ts'], {
      cwd: ROOT,
      env: this.env(),
      detached: true, // its own process group: kill -9 takes everything it started
      stdio: ['ignore', fd, fd]
    })
    closeSync(fd)
    this.child = child
    this.starts++
    this.exited = new Promise(resolve => child.once('exit', () => resolve()))
    try {
      await this.waitReady(startedAt, timeoutMs)
    } catch (err: any) {
      throw new Error(`${err.message}\n${this.tail()}`)
    }
  }

  private async waitReady (startedAt: number, timeoutMs: number): Promise<void> {
    const deadline = startedAt + timeoutMs
    const agentName = this.env().DM_AGENT_NAME!
    for (;;) {
      if (!this.running) throw new Error(`${this.o.label} exited during start (code ${String(this.child?.exitCode)}, signal ${String(this.child?.signalCode)})`)
      if (Date.now() > deadline) throw new Error(`${this.o.label} was not ready within ${timeoutMs} ms`)
      let ready = true
      if (this.hasApi) {
        const res = await fetch(`${this.url}/healthcheck`, { signal: AbortSignal.timeout(2_000) }).catch(() => null)
        const body = res?.ok === true ? await res.json().catch(() => null) : null
        ready = typeof body?.status === 'string' && body.status.startsWith('ok')
      }
      if (ready && this.o.roles.includes('agent')) {
        ready = this.logSinceStart().includes(`"agent ${agentName} ready`)
        // and the API (this node's, or any running one) lists it online with this very instance
        const api = this.hasApi ? this.cluster.api(this) : this.cluster.runningApi()
        if (ready && api != null) {
          const servers = await api.get('/api/v1.0/servers').catch(() => null)
          const me = servers?.status === 200 ? servers.body.items.find((s: any) => s.name === agentName) : null
          ready = me?.status === 'online' && Date.parse(me.started_at) >= startedAt - 1_000
        }
      }
      if (ready) return
      await sleep(50)
    }
  }

  /** kill -9 of the whole process group; resolves once the process is gone. */
  async kill (): Promise<void> {
    const child = this.child
    if (child?.pid == null || !this.running) return
    try { process.kill(-child.pid, 'SIGKILL') } catch { try { child.kill('SIGKILL') } catch {} }
    await this.exited
    this.append(`\n===== ${this.o.label} killed with SIGKILL at ${new Date().toISOString()} =====\n`)
  }

  private append (text: string): void {
    try { const fd = openSync(this.logFile, 'a'); writeSync(fd, text); closeSync(fd) } catch {}
  }

  logSinceStart (): string {
    try { return readFileSync(this.logFile).subarray(this.logOffset).toString('utf8') } catch { return '' }
  }

  /** The last lines of its log, for failure messages. */
  tail (lines = 60): string {
    let text = ''
    try { text = readFileSync(this.logFile, 'utf8') } catch {}
    // request lines drown everything else
    const kept = text.split('\n').filter(l => !/"msg":"(incoming request|request completed)"/.test(l))
    return `--- ${this.o.label} log (${this.logFile}), last ${lines} lines but HTTP requests ---\n${kept.slice(-lines).join('\n')}`
  }
}

export interface ApiAnswer { status: number, body: any }

/** A small HTTP client for one API node, with the bootstrap admin's token. */
export class ApiClient {
  private token: string | null = null
  constructor (readonly baseUrl: string) {}

  private async authorize (): Promise<string> {
    if (this.token != null) return this.token
    const res = await fetch(`${this.baseUrl}/api/v1.0/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: ADMIN_SECRET }),
      signal: AbortSignal.timeout(5_000)
    })
    if (res.status !== 200) throw new Error(`token exchange failed: ${res.status} ${await res.text()}`)
    this.token = (await res.json()).access_token as string
    return this.token
  }

  async request (method: string, path: string, body?: unknown): Promise<ApiAnswer> {
    const token = await this.authorize()
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000)
    })
    const text = await res.text()
    let parsed: any = text
    try { parsed = JSON.parse(text) } catch {}
    return { status: res.status, body: parsed }
  }

  async get (path: string): Promise<ApiAnswer> { return await this.request('GET', path) }
  async post (path: string, body: unknown): Promise<ApiAnswer> { return await this.request('POST', path, body) }
}

/**
 * Processes sharing one fresh namespace (NATS stream, buckets, Postgres schema) and a temporary
 * directory; `teardown` kills every process and drops the namespace.
 */
export class Cluster {
  readonly nodes: NodeProcess[] = []
  private readonly clients = new Map<NodeProcess, ApiClient>()
  private storePromise?: Promise<EventStore>
  private nc?: Awaited<ReturnType<typeof connectNats>>

  private constructor (readonly namespace: string, readonly dir: string) {}

  static create (): Cluster {
    const namespace = freshNamespace()
    return new Cluster(namespace, mkdtempSync(join(tmpdir(), `dm-durability-${namespace}-`)))
  }

  async node (o: NodeProcessOptions): Promise<NodeProcess> {
    const n = new NodeProcess(this, o, await freePort())
    this.nodes.push(n)
    return n
  }

  api (n: NodeProcess): ApiClient {
    let c = this.clients.get(n)
    if (c == null) { c = new ApiClient(n.url); this.clients.set(n, c) }
    return c
  }

  runningApi (): ApiClient | null {
    const n = this.nodes.find(x => x.hasApi && x.running)
    return n != null ? this.api(n) : null
  }

  /** The event log, read directly from NATS (independent of every process under test). */
  async store (): Promise<EventStore> {
    this.storePromise ??= (async () => {
      this.nc = await connectNats([NATS_URL], `durability-test-${this.namespace}`)
      return await EventStore.open(this.nc, this.namespace)
    })()
    return await this.storePromise
  }

  async events (): Promise<RecordedEvent[]> {
    const store = await this.store()
    const last = await store.lastSeq()
    const out: RecordedEvent[] = []
    for await (const batch of store.readBatches({ fromSeq: 1, toSeq: last, maxBatch: 1000 })) out.push(...batch)
    return out
  }

  /** Events of one execution and its step runs, in log order. */
  async executionEvents (executionId: string): Promise<RecordedEvent[]> {
    return (await this.events()).filter(e => (e.data as any)?.execution_id === executionId)
  }

  /** Waits until the log holds an event that `pred` accepts, and returns it. */
  async waitForEvent (pred: (e: RecordedEvent) => boolean, what: string, timeoutMs = 20_000): Promise<RecordedEvent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = (await this.events()).find(pred)
      if (found != null) return found
      if (Date.now() > deadline) throw new Error(`no ${what} in the log within ${timeoutMs} ms\n${this.logs()}`)
      await sleep(100)
    }
  }

  /** Every process's log tail, for failure messages. */
  logs (lines = 40): string {
    return this.nodes.map(n => n.tail(lines)).join('\n')
  }

  async teardown (): Promise<void> {
    for (const n of this.nodes) await n.kill().catch(() => {})
    await this.storePromise?.catch(() => null)
    const nc = this.nc ?? await connectNats([NATS_URL], `durability-teardown-${this.namespace}`)
    // dropNamespace leaves the task queue: remove it too
    try {
      const store = await EventStore.open(nc, this.namespace)
      await store.jsm.streams.delete(`${this.namespace}_tasks`).catch(() => {})
    } catch {}
    await dropNamespace(this.namespace, nc, await openDatabase(DATABASE_URL, this.namespace))
    if (process.env.DM_KEEP_DURABILITY_LOGS == null) rmSync(this.dir, { recursive: true, force: true })
  }
}

/** A cluster whose processes and namespace go away when the test ends, failed or not. */
export function clusterFor (t: Test): Cluster {
  const cluster = Cluster.create()
  t.teardown(async () => { await cluster.teardown() })
  return cluster
}

/** Polls the execution through the API until it is finished; fails (with every log) if it hangs. */
export async function waitForExecution (cluster: Cluster, api: () => ApiClient | null, executionId: string, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs
  let last: any = null
  for (;;) {
    const client = api()
    if (client != null) {
      const res = await client.get(`/api/v1.0/executions/${executionId}`).catch(() => null)
      if (res?.status === 200) {
        last = res.body
        if (['succeeded', 'failed', 'cancelled'].includes(last.status)) return last
      }
    }
    if (Date.now() > deadline) {
      const log = await cluster.executionEvents(executionId).then(describeEvents, err => `(log unreadable: ${String(err)})`)
      throw new Error(`execution ${executionId} did not finish within ${timeoutMs} ms; last seen: ${JSON.stringify(last)}\n--- its events ---\n${log}\n${cluster.logs()}`)
    }
    await sleep(100)
  }
}

/** `a: sleep 1` → `b: sleep 2` → `c: echo done`, b with `retries` when given. */
export function chain (name: string, opts: { retries?: number } = {}): Record<string, unknown> {
  return {
    name,
    stop_on_error: true,
    steps: [
      { id: 'a', action: { type: 'shell', command: 'sleep 1' } },
      { id: 'b', after: ['a'], action: { type: 'shell', command: 'sleep 2' }, ...(opts.retries != null ? { retries: opts.retries } : {}) },
      { id: 'c', after: ['b'], action: { type: 'shell', command: 'echo done' } }
    ]
  }
}

/** Counts `step_run.started` per `step_id` (all attempts) and per `step_id#attempt`. */
export function startsOf (events: RecordedEvent[]): { perStep: Record<string, number>, perAttempt: Record<string, number> } {
  const perStep: Record<string, number> = {}
  const perAttempt: Record<string, number> = {}
  for (const e of events) {
    if (e.type !== 'step_run.started') continue
    const d = e.data as { step_id: string, attempt: number, kind: string }
    if (d.kind !== 'action') continue
    perStep[d.step_id] = (perStep[d.step_id] ?? 0) + 1
    perAttempt[`${d.step_id}#${d.attempt}`] = (perAttempt[`${d.step_id}#${d.attempt}`] ?? 0) + 1
  }
  return { perStep, perAttempt }
}

/** One line per event: seq, type, step, attempt, status or reason. */
export function describeEvents (events: RecordedEvent[]): string {
  return events.map(e => {
    const d = e.data as any
    return [e.seq, e.type, d.step_id, d.attempt != null ? `#${String(d.attempt)}` : null, d.kind, d.status, d.reason ?? d.error, d.instance].filter(x => x != null).join(' ')
  }).join('\n')
}
