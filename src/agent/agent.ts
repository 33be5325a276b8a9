import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { NatsConnection } from '@nats-io/transport-node'
import type { JsMsg } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { ConcurrencyError, type EventStore } from '../event-store.ts'
import type { Heartbeats } from '../heartbeats.ts'
import type { StopRequest, Task, TaskBus } from '../tasks.ts'
import { redact, render, vaultRefs } from '../../domain/execution/template.ts'
import { stepRunId, type StepRunFinished, type StepRunRef } from '../../domain/execution/events.ts'
import { runShell, type ProcessResult } from './run-shell.ts'
import { runHttp } from './run-http.ts'

export type SecretResolver = (req: { execution_id: string, names: string[], orchestration: string }) => Promise<Record<string, string>>

export interface AgentOptions {
  store: EventStore
  bus: TaskBus
  heartbeats: Heartbeats
  nc: NatsConnection
  name: string
  groups: string[]
  resolveSecrets: SecretResolver
  log: Logger
  concurrency?: number
}

const TAIL = 4096
const OUTPUT_LIMIT = 4 * 1024 * 1024
const FLUSH_BYTES = 32 * 1024
const FLUSH_MS = 100

/**
 * Runs the tasks addressed to its server. Each attempt is started at most once: the agent first
 * appends `step_run.started` to the attempt's own aggregate expecting it to be new, and only the
 * writer that wins runs it; a redelivered task finds it started and is dropped.
 */
export class Agent {
  readonly instance = randomUUID()
  private readonly running = new Map<string, () => void>()
  private readonly stopping = new AbortController()
  private beat?: NodeJS.Timeout
  private loop?: Promise<void>

  constructor (private readonly o: AgentOptions) {}

  async start (): Promise<void> {
    const { store, name, groups, heartbeats, bus, nc, log } = this.o
    await store.append({ type: 'server', id: name }, await store.load({ type: 'server', id: name }), [{
      type: 'server.started',
      data: { name, groups, instance: this.instance, hostname: hostname(), started_at: new Date().toISOString() }
    }], { commandId: `server-started:${this.instance}`, actor: `agent:${name}`, now: new Date().toISOString() })
    await heartbeats.beat(name, this.instance)
    this.beat = setInterval(() => { heartbeats.beat(name, this.instance).catch(err => log.warn({ err }, 'heartbeat failed')) }, heartbeats.intervalMs)
    nc.subscribe(bus.controlSubject(name), {
      callback: (_err, msg) => {
        const req = msg.json<StopRequest>()
        this.running.get(`${req.execution_id}/${req.kind}/${req.step_id}/${req.attempt}`)?.()
      }
    })
    const reclaimed = await bus.reclaim(name).catch(err => { log.warn({ err }, 'could not check for tasks left by a previous instance'); return 0 })
    if (reclaimed > 0) log.info(`agent ${name}: ${reclaimed} task(s) received by a previous instance but never started are taken up now`)
    this.loop = this.consume()
    log.info({ server: name, groups, instance: this.instance }, `agent ${name} ready (groups: ${groups.join(', ')})`)
  }

  async stop (): Promise<void> {
    this.stopping.abort()
    clearInterval(this.beat)
    for (const stop of this.running.values()) stop()
    await this.loop?.catch(() => {})
  }

  private async consume (): Promise<void> {
    const limit = this.o.concurrency ?? 64
    let active = 0
    let wake: (() => void) | null = null
    while (!this.stopping.signal.aborted) {
      try {
        const consumer = await this.o.bus.consumerFor(this.o.name)
        const messages = await consumer.consume({ max_messages: limit })
        this.stopping.signal.addEventListener('abort', () => { void messages.close() }, { once: true })
        // stopped while the consumer was being set up: the listener above never fires
        if (this.stopping.signal.aborted) void messages.close()
        for await (const m of messages) {
          while (active >= limit) await new Promise<void>(resolve => { wake = resolve })
          active++
          void this.handle(m).catch(err => this.o.log.error({ err }, 'task failed unexpectedly')).finally(() => {
            active--
            const w = wake
            wake = null
            w?.()
          })
        }
      } catch (err) {
        if (this.stopping.signal.aborted) break
        this.o.log.warn({ err }, 'task consumer interrupted; resuming')
        await new Promise(resolve => setTimeout(resolve, 500))
      }
    }
  }

  private async handle (m: JsMsg): Promise<void> {
    const task = m.json<Task>()
    const ref: StepRunRef = { execution_id: task.execution_id, step_id: task.step_id, server: task.server, attempt: task.attempt, kind: task.kind }
    const wait = task.not_before != null ? Date.parse(task.not_before) - Date.now() : 0
    if (wait > 0) {
      const keepAlive = setInterval(() => m.working(), 20_000)
      await new Promise(resolve => setTimeout(resolve, wait))
      clearInterval(keepAlive)
    }
    const aggregate = { type: 'step_run', id: stepRunId(ref) }
    const startedAt = new Date().toISOString()
    let expected
    try {
      const r = await this.o.store.append(aggregate, { version: 0, lastSeq: 0 }, [{
        type: 'step_run.started', data: { ...ref, instance: this.instance, started_at: startedAt }
      }], { commandId: `started:${stepRunId(ref)}:${this.instance}`, actor: `agent:${this.o.name}`, now: startedAt })
      expected = { version: 1, lastSeq: r.seq }
    } catch (err) {
      if (err instanceof ConcurrencyError) { m.ack(); return } // started before: never run twice
      m.nak(1_000)
      throw err
    }
    m.ack()
    const writer = new StepRunWriter(this.o.store, aggregate, ref, expected, `agent:${this.o.name}`)
    const finished = await this.execute(task, ref, startedAt, writer)
    await writer.finish(finished)
  }

  private async execute (task: Task, ref: StepRunRef, startedAt: string, writer: StepRunWriter): Promise<Omit<StepRunFinished, keyof StepRunRef>> {
    const began = performance.now()
    const done = (status: StepRunFinished['status'], rc: number | null, error: string | null): Omit<StepRunFinished, keyof StepRunRef> => ({
      status, rc, error, stdout_tail: writer.tail('stdout'), stderr_tail: writer.tail('stderr'),
      started_at: startedAt, finished_at: new Date().toISOString(), duration_ms: Math.round(performance.now() - began)
    })
    let secrets: Record<string, string> = {}
    let action
    try {
      const names = vaultRefs(task.action)
      if (names.length > 0) secrets = await this.o.resolveSecrets({ execution_id: task.execution_id, names, orchestration: task.orchestration_id })
      action = render(task.action, { params: task.params, vault: secrets }) as any
    } catch (err: any) {
      return done('failed', null, `could not prepare the action: ${err.message}`)
    }
    writer.secrets = Object.values(secrets)
    const key = `${ref.execution_id}/${ref.kind}/${ref.step_id}/${ref.attempt}`
    const timeoutMs = task.timeout_s != null ? task.timeout_s * 1000 : null
    if (action.type === 'shell') {
      const proc = runShell({ command: action.command, shell: action.shell, cwd: action.cwd, env: action.env, timeoutMs, onOutput: (s, t) => writer.output(s, t) })
      this.running.set(key, proc.stop)
      const r = await proc.result.finally(() => this.running.delete(key))
      return done(...judgeShell(r, task, writer.secrets))
    }
    if (action.type === 'http') {
      const stop = new AbortController()
      this.running.set(key, () => stop.abort())
      const r = await runHttp(action, { timeoutMs: timeoutMs ?? 30_000, signal: stop.signal, onOutput: (s, t) => writer.output(s, t) }).finally(() => this.running.delete(key))
      return done(stop.signal.aborted ? 'cancelled' : r.ok ? 'succeeded' : 'failed', r.status, r.error)
    }
    return done('failed', null, `action type ${String(action.type)} cannot run on an agent`)
  }
}

/** Success by `expect`: rc (default 0) and stdout/stderr regexes. */
export function judgeShell (r: ProcessResult, task: Task, secrets: string[]): [StepRunFinished['status'], number | null, string | null] {
  if (r.stopped) return ['cancelled', r.rc, 'stopped by cancellation']
  if (r.spawnError != null) return ['failed', null, `could not start: ${r.spawnError}`]
  if (r.timedOut) return ['failed', r.rc, `timed out after ${task.timeout_s} s`]
  const expect = task.expect ?? {}
  const rc = expect.rc ?? 0
  if (r.rc !== rc) return ['failed', r.rc, r.signal != null ? `killed by ${r.signal}` : `exit code ${String(r.rc)}, expected ${rc}`]
  for (const stream of ['stdout', 'stderr'] as const) {
    const pattern = expect[stream]
    if (pattern == null) continue
    let re: RegExp
    try { re = new RegExp(pattern, 'm') } catch { return ['failed', r.rc, `expect.${stream} is not a valid regex`] }
    if (!re.test(r[stream])) return ['failed', r.rc, redact(`${stream} does not match /${pattern}/`, secrets)]
  }
  return ['succeeded', r.rc, null]
}

/**
 * Appends an attempt's output and end to its aggregate, in order (the agent is its only writer),
 * redacting secret values first and batching output so a chatty command does not flood the log.
 * A secret may arrive split over two chunks, so the last few characters of each stream are held
 * back until more output (or the end) shows whether they begin a secret.
 */
class StepRunWriter {
  secrets: string[] = []
  private buffer: Array<{ stream: 'stdout' | 'stderr', text: string }> = []
  private size = 0
  private written = 0
  private timer?: NodeJS.Timeout
  private chain: Promise<void> = Promise.resolve()
  private readonly tails = { stdout: '', stderr: '' }
  private readonly held = { stdout: '', stderr: '' }

  constructor (
    private readonly store: EventStore,
    private readonly aggregate: { type: string, id: string },
    private readonly ref: StepRunRef,
    private expected: { version: number, lastSeq: number },
    private readonly actor: string
  ) {}

  tail (stream: 'stdout' | 'stderr'): string { return this.tails[stream].slice(-TAIL) }

  output (stream: 'stdout' | 'stderr', text: string, final = false): void {
    // Postgres text and jsonb cannot hold U+0000: recorded as is, one NUL in a command's output
    // would stop every read model at that event
    const redacted = redact(this.held[stream] + text.replaceAll('\u0000', '\uFFFD'), this.secrets)
    const hold = final ? 0 : Math.min(redacted.length, Math.max(0, ...this.secrets.map(s => s.length - 1)))
    const ready = redacted.slice(0, redacted.length - hold)
    this.held[stream] = redacted.slice(redacted.length - hold)
    if (ready === '') return
    this.tails[stream] = (this.tails[stream] + ready).slice(-TAIL)
    if (this.written + this.size >= OUTPUT_LIMIT) return
    this.buffer.push({ stream, text: ready })
    this.size += ready.length
    if (this.size >= FLUSH_BYTES) this.flush()
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS)
  }

  private flush (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.buffer.length === 0) return
    // merge consecutive chunks of the same stream into one event
    const events: Array<{ type: string, data: unknown }> = []
    for (const { stream, text } of this.buffer) {
      const last = events[events.length - 1] as any
      if (last != null && last.data.stream === stream && last.data.data.length < 64 * 1024) last.data.data += text
      else events.push({ type: 'step_run.output', data: { ...this.ref, stream, data: text } })
    }
    this.written += this.size
    this.buffer = []
    this.size = 0
    this.append(events)
  }

  private append (events: Array<{ type: string, data: unknown }>): void {
    this.chain = this.chain.then(async () => {
      const now = new Date().toISOString()
      const r = await this.store.append(this.aggregate, this.expected, events, { commandId: `${this.aggregate.id}:${this.expected.version}`, actor: this.actor, now })
      this.expected = { version: this.expected.version + events.length, lastSeq: r.seq }
    })
  }

  async finish (finished: Omit<StepRunFinished, keyof StepRunRef>): Promise<void> {
    this.output('stdout', '', true)
    this.output('stderr', '', true)
    this.flush()
    this.append([{ type: 'step_run.finished', data: { ...this.ref, ...finished, stdout_tail: this.tail('stdout'), stderr_tail: this.tail('stderr') } }])
    await this.chain
  }
}
