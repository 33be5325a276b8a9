import { spawn } from 'node:child_process'

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
  const captured = { stdout: '', stderr: '' }
  const child = spawn(opts.shell ?? '/bin/sh', ['-c', opts.command], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const terminate = (): void => {
    if (child.exitCode != null || child.signalCode != null || child.pid == null) return
    try { process.kill(-child.pid, 'SIGTERM') } catch {}
    killTimer ??= setTimeout(() => {
      try { if (child.pid != null) process.kill(-child.pid, 'SIGKILL') } catch {}
    }, KILL_GRACE_MS)
  }
  const timeout = opts.timeoutMs != null ? setTimeout(() => { timedOut = true; terminate() }, opts.timeoutMs) : undefined
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].setEncoding('utf8')
    child[stream].on('data', (text: string) => {
      if (captured[stream].length < limit) captured[stream] += text.slice(0, limit - captured[stream].length)
      opts.onOutput(stream, text)
    })
  }
  const result = new Promise<ProcessResult>(resolve => {
    let spawnError: string | null = null
    child.on('error', err => { spawnError = err.message })
    child.on('close', (code, signal) => {
      clearTimeout(timeout)
      clearTimeout(killTimer)
      resolve({ rc: code, signal, timedOut, stopped, ...captured, spawnError })
    })
  })
  return { result, stop: () => { stopped = true; terminate() } }
}
