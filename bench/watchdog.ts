// Started by run.ts in its own process group. If the benchmark process dies without saying it
// has cleaned up (Ctrl-C while tsx's signal relay gives up and SIGKILLs it, a crash, kill -9),
// this removes the run's namespace. Usage (internal): watchdog.ts <namespace> <app-name>
import { connectNats } from '../src/nats.ts'
import { cleanupNamespace } from './cleanup.ts'
import { DATABASE_URL, NATS_URL } from './context.ts'

const [namespace, appName] = process.argv.slice(2)
let released = false

process.on('SIGINT', () => {}) // belongs to no terminal, but ignore stray interrupts anyway
process.on('message', m => { if (m === 'done') released = true })
process.on('disconnect', () => {
  if (released) process.exit(0)
  void (async () => {
    process.stderr.write(`[bench watchdog] benchmark process gone: removing namespace ${namespace}\n`)
    const nc = await connectNats([NATS_URL], `bench-watchdog-${namespace}`).catch(() => null)
    const removed = await cleanupNamespace(namespace, nc, DATABASE_URL, appName).catch(err => {
      process.stderr.write(`[bench watchdog] cleanup failed: ${err?.message ?? err}\n`)
      return [] as string[]
    })
    process.stderr.write(`[bench watchdog] removed ${removed.length === 0 ? 'nothing' : removed.join(', ')}\n`)
    await nc?.close().catch(() => {})
    process.exit(0)
  })()
})
if (typeof process.send !== 'function') {
  process.stderr.write('watchdog.ts is started by bench/run.ts\n')
  process.exit(2)
}
