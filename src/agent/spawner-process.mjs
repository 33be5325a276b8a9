// The agent's process runner: a small plain-Node child that starts the step commands for it.
// Starting a process forks the process that asks, and Node does it on the main thread: from a
// large agent (or an all-in-one node) each fork copies hundreds of MB of page tables while the
// event loop waits. From here it is cheap and off the agent's loop. Plain JavaScript, started
// without loaders, so it stays small. Messages (IPC, in order):
//   in:  { op: 'run', id, shell, command, cwd, env }
//   out: { op: 'spawned', id, pid } · { op: 'out', id, stream, text } · { op: 'exit', id, code, signal, error }
import { spawn } from 'node:child_process'

/** @type {Map<number, import('node:child_process').ChildProcess>} */
const children = new Map()

const send = msg => { if (process.connected) process.send(msg) }

process.on('message', msg => {
  if (msg?.op !== 'run') return
  const { id } = msg
  let error = null
  let child
  try {
    child = spawn(msg.shell, ['-c', msg.command], {
      cwd: msg.cwd,
      env: { ...process.env, ...msg.env },
      // its own process group, so stopping it stops what it started too
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe']
    })
  } catch (err) {
    send({ op: 'exit', id, code: null, signal: null, error: err.message })
    return
  }
  children.set(id, child)
  child.on('spawn', () => send({ op: 'spawned', id, pid: child.pid }))
  child.on('error', err => { error = err.message })
  for (const stream of ['stdout', 'stderr']) {
    child[stream].setEncoding('utf8')
    child[stream].on('data', text => send({ op: 'out', id, stream, text }))
  }
  child.on('close', (code, signal) => {
    children.delete(id)
    send({ op: 'exit', id, code, signal, error })
  })
})

// the agent is gone (stopped, or killed): its work is reported lost and may be retried elsewhere,
// so nothing it started keeps running
process.on('disconnect', () => {
  for (const child of children.values()) {
    try { if (child.pid != null) process.kill(-child.pid, 'SIGTERM') } catch {}
  }
  process.exit(0)
})
