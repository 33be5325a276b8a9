// npm run bench -- --help
import { cpus, loadavg } from 'node:os'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../src/nats.ts'
import { openDatabase, type Database } from '../src/db.ts'
import { parseArgs, USAGE, UsageError, type BenchOptions } from './args.ts'
import { benchNamespace, DATABASE_URL, NATS_URL, type BenchContext } from './context.ts'
import { cleanupNamespace } from './cleanup.ts'
import { RssSampler, processMaxRss } from './rss.ts'
import { formatTable, type Report } from './report.ts'
import { appendScenario } from './scenarios/event-store.ts'
import { projectorScenario } from './scenarios/projector.ts'
import { rebuildScenario } from './scenarios/rebuild.ts'
import { engineScenarios } from './scenarios/engine.ts'

function progress (msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
}

/**
 * A detached helper that removes the namespace if this process dies before it has (see
 * watchdog.ts). Ctrl-C normally runs our own cleanup; but tsx, relaying the signal, SIGKILLs its
 * child when the child's event loop does not acknowledge within 30 ms, as under load it may not.
 */
function startWatchdog (namespace: string, appName: string): ChildProcess | null {
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./watchdog.ts', import.meta.url)), namespace, appName], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc']
    })
    child.on('error', () => {})
    child.unref()
    ;(child.channel as { unref?: () => void } | undefined)?.unref?.()
    return child
  } catch {
    return null
  }
}

/** Tells the watchdog the namespace is gone, so it exits without doing anything. */
async function releaseWatchdog (child: ChildProcess | null): Promise<void> {
  if (child?.connected !== true) return
  await new Promise<void>(resolve => {
    const timer = setTimeout(resolve, 1_000)
    try {
      child.send('done', () => { clearTimeout(timer); child.disconnect(); resolve() })
    } catch {
      clearTimeout(timer)
      resolve()
    }
  })
}

function emit (report: Report, opts: BenchOptions): void {
  report.processMaxRssBytes = processMaxRss()
  process.stdout.write((opts.json ? JSON.stringify(report, null, 2) : formatTable(report)) + '\n')
}

async function main (): Promise<number> {
  let opts: BenchOptions
  try {
    opts = parseArgs(process.argv.slice(2))
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`${err.message}\n\n${USAGE}`)
    return 2
  }
  if (opts.help) { process.stdout.write(USAGE); return 0 }

  const namespace = benchNamespace()
  // every Postgres connection of this run carries this name, so cleanup can end stuck ones
  const appName = `dimensigon-${namespace}`
  process.env.PGAPPNAME = appName
  const rss = new RssSampler()
  const controller = new AbortController()
  const report: Report = {
    namespace,
    startedAt: new Date().toISOString(),
    options: { ...opts },
    environment: {},
    rows: [],
    details: {},
    processMaxRssBytes: 0,
    interrupted: false
  }

  const watchdog = startWatchdog(namespace, appName)
  let nc: NatsConnection | null = null
  let database: Database | null = null
  let cleaning: Promise<void> | null = null
  const cleanup = async (): Promise<void> => {
    cleaning ??= (async () => {
      progress(`removing namespace ${namespace}`)
      const removed = await cleanupNamespace(namespace, nc, DATABASE_URL, appName)
        .catch(err => { progress(`cleanup failed: ${err?.message ?? err}`); return [] as string[] })
      progress(`removed ${removed.length === 0 ? 'nothing' : removed.join(', ')}`)
      await releaseWatchdog(watchdog)
    })()
    await cleaning
  }

  let firstSignalAt = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    if (firstSignalAt !== 0) {
      // Ctrl-C reaches npm, tsx and this process at once and tsx relays it again: repeats within
      // 2 s are that echo; a later one means "exit now"
      if (performance.now() - firstSignalAt < 2_000) return
      progress('interrupted again: exiting without finishing the cleanup')
      process.exit(130)
    }
    firstSignalAt = performance.now()
    progress(`${signal}: stopping and cleaning up (interrupt again after 2 s to exit at once)`)
    report.interrupted = true
    controller.abort()
    void cleanup().finally(() => {
      emit(report, opts)
      process.exit(130)
    })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    progress(`namespace ${namespace}; NATS ${NATS_URL}; Postgres ${DATABASE_URL}`)
    nc = await connectNats([NATS_URL], `bench-${namespace}`)
    database = await openDatabase(DATABASE_URL, namespace, { max: 10 })
    const { rows: [pgv] } = await sql<{ server_version: string }>`SHOW server_version`.execute(database.db)
    report.environment = {
      node: process.version,
      cpus: cpus().length,
      'nats-server': nc.info?.version ?? '?',
      postgres: (pgv?.server_version ?? '?').split(' ')[0],
      'load avg at start': loadavg()[0].toFixed(1)
    }
    const ctx: BenchContext = { namespace, nc, database, signal: controller.signal, rss, progress }

    const a = await appendScenario(ctx, opts.events, opts.concurrency, opts.rounds)
    report.rows.push(a.row)
    report.details.a = { ...a, row: undefined }

    const b = await projectorScenario(ctx, opts.events, opts.concurrency, opts.rounds)
    report.rows.push(b.row)
    report.details.b = { ...b, row: undefined }

    if (opts.steps > 0) {
      const e = await engineScenarios(ctx, { steps: opts.steps, chain: opts.chain })
      report.rows.push(...e.rows)
      report.details.engine = e.details
    } else {
      progress('(d), (e) skipped (--steps 0)')
    }

    if (opts.rebuild > 0) {
      const c = await rebuildScenario(ctx, opts.rebuild, b.row.limit)
      report.rows.push(...c.rows)
      report.details.c = { ...c, rows: undefined }
      progress(`(c) rebuild ${c.rebuild.eventsPerSecond.toFixed(0)} events/s in ${c.rebuild.seconds.toFixed(1)} s; ordered read ${c.read.eventsPerSecond.toFixed(0)} events/s`)
    } else {
      progress('(c) skipped (--rebuild 0)')
    }
  } catch (err: any) {
    if (controller.signal.aborted) return await new Promise<number>(() => {}) // the signal handler exits
    report.error = err?.stack ?? String(err)
    progress(`failed: ${report.error}`)
  }

  report.environment['load avg at end'] = loadavg()[0].toFixed(1)
  await cleanup()
  rss.stop()
  emit(report, opts)
  await database?.close().catch(() => {})
  await nc?.drain().catch(() => {})
  return report.error == null ? 0 : 1
}

process.exitCode = await main()
