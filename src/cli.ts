import { parseArgs } from 'node:util'
import { loadConfig } from './config.ts'
import { connectNats } from './nats.ts'
import { EventStore } from './event-store.ts'
import { openDatabase } from './db.ts'
import { PROJECTIONS } from '../projections/index.ts'
import { rebuild } from '../projections/rebuild.ts'
import { startNode } from './node.ts'

const HELP = `dimensigon — event-sourced orchestration engine

Usage:
  npm start                          run a node (roles from DM_ROLES: api,projector,engine,agent)
  npx tsx src/main.ts agent [--name web-1] [--groups prod-servers,eu]
                                     run only an agent (same as DM_ROLES=agent npm start)
  npm run projections:rebuild [-- <read model>...] [--help]
                                     replay the whole event log into fresh tables and swap them in
  npx tsx src/main.ts help           this text

Environment: DM_NAMESPACE, NATS_URL, DATABASE_URL, DM_PORT, DM_ROLES, DM_BOOTSTRAP_API_KEY, ...
(see README.md and CONTRACT.md §1)
`

const REBUILD_HELP = `Usage: npm run projections:rebuild [-- <read model>...]

Replays the event log from sequence 1 into fresh tables and swaps them in, while the live
projectors keep running (the swap waits for them and loses nothing). Without names, every read
model is rebuilt. Read models: ${PROJECTIONS.map(p => p.name).join(', ')}.
Uses DM_NAMESPACE, NATS_URL and DATABASE_URL like the node does.
`

export async function runCli (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command == null || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(HELP)
    return 0
  }
  if (command === 'projections:rebuild') return await rebuildCommand(rest)
  if (command === 'agent') return await agentCommand(rest)
  process.stderr.write(`unknown command "${command}"\n\n${HELP}`)
  return 2
}

const AGENT_HELP = `Usage: npx tsx src/main.ts agent [--name <server>] [--groups <g1,g2>]

Runs an agent only: registers the server, heartbeats, and runs the step runs addressed to it
(tasks sent while it is down wait for it). Defaults: DM_AGENT_NAME or the host name, and
DM_AGENT_GROUPS or "local". Needs NATS_URL and DM_NAMESPACE like the other nodes.
`

async function agentCommand (args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' }, name: { type: 'string' }, groups: { type: 'string' } } })
  if (values.help === true) { process.stdout.write(AGENT_HELP); return 0 }
  const config = loadConfig({
    ...process.env,
    DM_ROLES: 'agent',
    ...(values.name != null ? { DM_AGENT_NAME: values.name } : {}),
    ...(values.groups != null ? { DM_AGENT_GROUPS: values.groups } : {})
  })
  const node = await startNode(config)
  await new Promise<void>(resolve => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await node.stop()
  return 0
}

async function rebuildCommand (args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } })
  if (values.help === true) { process.stdout.write(REBUILD_HELP); return 0 }
  const unknown = positionals.filter(n => !PROJECTIONS.some(p => p.name === n))
  if (unknown.length > 0) {
    process.stderr.write(`unknown read model ${unknown.join(', ')}; known: ${PROJECTIONS.map(p => p.name).join(', ')}\n`)
    return 2
  }
  const config = loadConfig()
  const nc = await connectNats(config.natsServers, 'dimensigon-rebuild')
  const database = await openDatabase(config.databaseUrl, config.namespace)
  try {
    const store = await EventStore.open(nc, config.namespace, { replicas: config.replicas })
    const chosen = PROJECTIONS.filter(p => positionals.length === 0 || positionals.includes(p.name))
    for (const projection of chosen) {
      let shown = 0
      const result = await rebuild({
        db: database.db,
        schema: config.namespace,
        projection,
        source: store,
        onProgress: (done, total) => {
          const pct = total === 0 ? 100 : Math.floor(done * 100 / total)
          if (pct >= shown + 5 || done === total) {
            shown = pct
            process.stderr.write(`\r${projection.name}: ${done}/${total} events (${pct}%)`)
          }
        }
      })
      process.stderr.write('\n')
      process.stdout.write(`${projection.name}: rebuilt from ${result.events} events in ${result.seconds.toFixed(1)} s (${Math.round(result.eventsPerSecond)} events/s) and swapped in\n`)
    }
    return 0
  } finally {
    await nc.drain().catch(() => {})
    await database.close()
  }
}
