import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect as tcpConnect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server'

/** A free TCP port on the loopback interface (the OS picks it; free at the moment of asking). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** Whether something accepts TCP connections on 127.0.0.1:port right now. */
export async function portAccepts (port: number, timeoutMs = 500): Promise<boolean> {
  return await new Promise(resolve => {
    const socket = tcpConnect({ host: '127.0.0.1', port })
    const done = (ok: boolean): void => { clearTimeout(timer); socket.destroy(); resolve(ok) }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

export async function waitForPort (port: number, open: boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (await portAccepts(port) !== open) {
    if (Date.now() > deadline) throw new Error(`port ${port} did not ${open ? 'open' : 'close'} within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

export interface NatsServer {
  port: number
  url: string
  storeDir: string
  /** true while the process runs */
  readonly running: boolean
  /** (re)starts it on the same port and store dir; resolves once the port accepts connections */
  start: () => Promise<void>
  /** graceful stop (SIGTERM); resolves once the process has exited and the port is closed */
  stop: () => Promise<void>
  /** hard stop (SIGKILL), as a crash or a pulled plug */
  kill: () => Promise<void>
  /** stops it if running and removes its store dir */
  dispose: () => Promise<void>
}

/**
 * A dedicated `nats-server -js` on a loopback port with its own store dir, for tests that take
 * NATS away from a node. `port` and `storeDir` stay the same across stop/start, so JetStream
 * comes back with its streams.
 */
export async function startNatsServer (opts: { port?: number, storeDir?: string } = {}): Promise<NatsServer> {
  const port = opts.port ?? await freePort()
  const storeDir = opts.storeDir ?? await mkdtemp(join(tmpdir(), 'dm-nats-'))
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  let output = ''

  const start = async (): Promise<void> => {
    if (child != null) return
    const proc = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-4000) }
    proc.stdout?.on('data', keep)
    proc.stderr?.on('data', keep)
    exited = new Promise(resolve => proc.once('exit', () => {
      if (child === proc) child = undefined
      resolve()
    }))
    const deadline = Date.now() + 10_000
    while (!await portAccepts(port)) {
      if (child !== proc) throw new Error(`nats-server on port ${port} exited at start:\n${output}`)
      if (Date.now() > deadline) throw new Error(`nats-server on port ${port} did not accept connections within 10 s:\n${output}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child
    if (proc == null) return
    proc.kill(signal)
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
    await waitForPort(port, false)
  }

  await start()
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    get running () { return child != null },
    start,
    stop: async () => await halt('SIGTERM'),
    kill: async () => await halt('SIGKILL'),
    dispose: async () => {
      await halt('SIGKILL')
      if (opts.storeDir == null) await rm(storeDir, { recursive: true, force: true })
    }
  }
}
