import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export interface ProcessResult {
  rc: number | null
  signal: string | null
  timedOut: boolean
  stopped: boolean
  /** up to `captureLimit` bytes of each stream, for `expect` */
  stdout: string
  stderr: string
  /** anything that kept the command from running at all */
  spawnError: string | null
}

export interface RunningProcess {
  result: Promise<ProcessResult>
  /** SIGTERM to the whole process group, SIGKILL after the grace period */
  stop: () => void
}

export const KILL_GRACE_MS = 5_000

/** Settings of the node that step commands must not see: `env` in a step would print them. */
const WITHHELD_ENV = ['DM_VAULT_KEY', 'DM_JWT_SECRET', 'DM_BOOTSTRAP_API_KEY', 'DATABASE_URL', 'PGPASSWORD']

interface Run {
  pid: number | null
  /** a signal asked for before the process existed, sent once it does */
  pendingSignal: NodeJS.Signals | null
  exited: boolean
  onOutput: (stream: 'stdout' | 'stderr', text: string) => void
  onExit: (code: number | null, signal: string | null, error: string | null) => void
}

type RunnerMessage =
  | { op: 'spawned', id: number, pid: number }
  | { op: 'out', id: number, stream: 'stdout' | 'stderr', text: string }
  | { op: 'exit', id: number, code: number | null, signal: string | null, error: string | null }

/**
 * The process runner (spawner-process.mjs), one per agent process, started on first use and again
 * if it dies. Forking from this process would block its event loop for as long as the kernel
 * copies its memory map, once per step.
 */
class ProcessRunner {
  private child: ChildProcess | null = null
  private readonly runs = new Map<number, Run>()
  private nextId = 1

  start (command: { shell: string, command: string, cwd?: string, env?: Record<string, string> }, run: Run): number {
    const id = this.nextId++
    this.runs.set(id, run)
    const child = this.process()
    child.send({ op: 'run', id, ...command })
    child.channel?.ref()
    return id
  }

  signal (run: Run, signal: NodeJS.Signals): void {
    if (run.exited) return
    if (run.pid == null) { run.pendingSignal = signal; return }
    try { process.kill(-run.pid, signal) } catch {}
  }

  private process (): ChildProcess {
    if (this.child != null) return this.child
    const env = { ...process.env }
    for (const name of WITHHELD_ENV) delete env[name]
    const child = fork(fileURLToPath(new URL('./spawner-process.mjs', import.meta.url)), [], {
      env,
      // no loaders or instrumentation: a plain, small process is the point
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    // it keeps this process alive only while a command runs
    child.unref()
    child.on('message', (msg: RunnerMessage) => this.receive(msg))
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null
      const why = `the agent's process runner exited (${signal ?? `code ${String(code)}`})`
      for (const [id, run] of this.runs) {
        // reported failed: it must not go on running (it may be retried)
        if (run.pid != null) { try { process.kill(-run.pid, 'SIGKILL') } catch {} }
        this.runs.delete(id)
        run.exited = true
        run.onExit(null, null, why)
      }
    })
    child.on('error', () => {}) // 'exit' follows and fails the runs
    this.child = child
    return child
  }

  private receive (msg: RunnerMessage): void {
    const run = this.runs.get(msg.id)
    if (run == null) return
    if (msg.op === 'spawned') {
      run.pid = msg.pid
      if (run.pendingSignal != null) this.signal(run, run.pendingSignal)
    } else if (msg.op === 'out') {
      run.onOutput(msg.stream, msg.text)
    } else {
      this.runs.delete(msg.id)
      if (this.runs.size === 0) this.child?.channel?.unref()
      run.exited = true
      run.onExit(msg.code, msg.signal, msg.error)
    }
  }
}

const runner = new ProcessRunner()

/**
 * Runs a command in its own process group (so stopping it stops what it started too), streams
 * its output to `onOutput`, and ends it on timeout or stop: SIGTERM, then SIGKILL.
 */
export function runShell (opts: {
  command: string
  shell?: string
  cwd?: string
  env?: Record<string, string>
  timeoutMs?: number | null
  captureLimit?: number
  onOutput: (stream: 'stdout' | 'stderr', text: string) => void
}): RunningProcess {
  const limit = opts.captureLimit ?? 1024 * 1024
  let timedOut = false
  let stopped = false
  let killTimer: NodeJS.Timeout | undefined
  let timeout: NodeJS.Timeout | undefined
  const captured = { stdout: '', stderr: '' }
  let resolve: (r: ProcessResult) => void = () => {}
  const result = new Promise<ProcessResult>(r => { resolve = r })
  const run: Run = {
    pid: null,
    pendingSignal: null,
    exited: false,
    onOutput: (stream, text) => {
      if (captured[stream].length < limit) captured[stream] += text.slice(0, limit - captured[stream].length)
      opts.onOutput(stream, text)
    },
    onExit: (code, signal, error) => {
      clearTimeout(timeout)
      clearTimeout(killTimer)
      resolve({ rc: code, signal, timedOut, stopped, ...captured, spawnError: error })
    }
  }
  runner.start({ shell: opts.shell ?? '/bin/sh', command: opts.command, cwd: opts.cwd, env: opts.env }, run)
  const terminate = (): void => {
    if (run.exited) return
    runner.signal(run, 'SIGTERM')
    killTimer ??= setTimeout(() => runner.signal(run, 'SIGKILL'), KILL_GRACE_MS)
  }
  if (opts.timeoutMs != null) timeout = setTimeout(() => { timedOut = true; terminate() }, opts.timeoutMs)
  return { result, stop: () => { stopped = true; terminate() } }
}
