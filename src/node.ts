import { pino, type Logger } from 'pino'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config.ts'
import { connectNats } from './nats.ts'
import { EventStore } from './event-store.ts'
import { openDatabase } from './db.ts'
import { Leases } from './lease.ts'
import { Health } from './health.ts'
import { ProjectionWatcher } from './read-your-writes.ts'
import { Tokens } from './auth/tokens.ts'
import { Revocations } from './auth/revocations.ts'
import { ensureBootstrapKey } from './auth/bootstrap.ts'
import { keyFromEnvOrFile } from './secrets.ts'
import { buildApp } from './http/app.ts'
import { PROJECTIONS } from '../projections/index.ts'
import { migrate, runProjector } from '../projections/runtime.ts'
import { TaskBus } from './tasks.ts'
import { Heartbeats } from './heartbeats.ts'
import { EnginePosition } from './engine/position.ts'
import { Engine } from './engine/engine.ts'
import { Agent } from './agent/agent.ts'
import { resolveSecrets, serveVaultResolution } from './vault/resolver.ts'
import { Vault } from './vault/crypto.ts'
import { shredDeletedSecrets } from './vault/service.ts'
import { authorizeForExecution } from './vault/authorize.ts'

export interface RunningNode {
  config: Config
  store: EventStore
  app?: FastifyInstance
  /** base URL of the API when this node serves it */
  url?: string
  /** the generated admin key when this start created one (printed once) */
  generatedApiKey?: string
  log: Logger
  stop: () => Promise<void>
}

/** Starts the roles the config asks for against NATS and Postgres; `stop` undoes it all. */
export async function startNode (config: Config, opts: { log?: Logger, listen?: boolean } = {}): Promise<RunningNode> {
  const log = opts.log ?? pino({ level: config.logLevel, base: { ns: config.namespace } })
  const stop = new AbortController()
  log.info({ nats: config.natsServers, roles: config.roles }, 'connecting to NATS')
  const nc = await connectNats(config.natsServers, `dimensigon-${config.namespace}`)
  const store = await EventStore.open(nc, config.namespace, { replicas: config.replicas })
  // agents and engines live on NATS alone: a target host needs no Postgres access
  const database = config.roles.includes('api') || config.roles.includes('projector')
    ? await openDatabase(config.databaseUrl, config.namespace)
    : undefined
  const leases = await Leases.open(nc, config.namespace, config.leaseTtlMs, config.replicas)
  const running: Array<Promise<void>> = []
  let watcher: ProjectionWatcher | undefined
  let health: Health | undefined

  if (database != null) {
    const { db, schema } = database
    for (const p of PROJECTIONS) await migrate(db, schema, p)
    watcher = new ProjectionWatcher(db, schema, PROJECTIONS.map(p => p.name))
    health = new Health(nc, db, msg => log.warn(msg))
    health.start()
  }

  if (database != null && watcher != null && config.roles.includes('projector')) {
    const { db, schema } = database
    const w = watcher
    for (const projection of PROJECTIONS) {
      running.push(leases.hold(`projector.${projection.name}`, stop.signal, async lost => {
        log.info(`projector ${projection.name}: lease taken`)
        await runProjector({
          db,
          schema,
          projection,
          source: store,
          onCheckpoint: (name, seq) => w.advance(name, seq),
          log: (level, msg) => log[level](msg)
        }, lost)
      }, err => log.warn({ err }, `projector ${projection.name}: lease trouble`)))
    }
  }

  const heartbeats = await Heartbeats.open(nc, config.namespace, { intervalMs: config.heartbeatMs, timeoutMs: config.agentTimeoutMs, replicas: config.replicas })
  const bus = await TaskBus.open(nc, config.namespace, config.replicas)
  if (config.roles.includes('engine')) {
    const position = await EnginePosition.open(nc, config.namespace, config.replicas)
    const engine = new Engine({ store, bus, heartbeats, log, position })
    running.push(leases.hold('engine', stop.signal, async lost => {
      log.info('engine: lease taken')
      await engine.run(lost)
    }, err => log.warn({ err }, 'engine: stopped with an error; restarting from the log')))
  }
  let agent: Agent | undefined
  if (config.roles.includes('agent')) {
    agent = new Agent({
      store,
      bus,
      heartbeats,
      nc,
      name: config.agentName,
      groups: config.agentGroups,
      resolveSecrets: async req => await resolveSecrets(nc, config.namespace, req),
      log,
      concurrency: config.agentConcurrency
    })
    await agent.start()
  }

  let app: FastifyInstance | undefined
  let url: string | undefined
  let generatedApiKey: string | undefined
  const revocations = new Revocations(store, msg => log.warn(msg))
  let resolver: ReturnType<typeof serveVaultResolution> | undefined
  if (config.roles.includes('api') && database != null && watcher != null && health != null) {
    const { db, schema } = database
    revocations.start()
    generatedApiKey = await ensureBootstrapKey(store, config.bootstrapApiKey)
    if (generatedApiKey != null) {
      log.warn('no API key existed: created an admin key, shown this once. Exchange it for a token at POST /api/v1.0/auth/token')
      process.stdout.write(`\n  Admin API key (store it now, it is not shown again):\n  ${generatedApiKey}\n\n`)
    }
    const tokens = new Tokens(keyFromEnvOrFile(config.jwtSecret, config.dataDir, 'jwt.key'), config.tokenTtlSeconds)
    await heartbeats.watch()
    // only API nodes hold the vault master key; agents ask them for values at run time
    const vault = await Vault.open(nc, config.namespace, keyFromEnvOrFile(config.vaultKey, config.dataDir, 'vault.key'), config.replicas)
    resolver = serveVaultResolution(nc, config.namespace, store, vault, { authorize: authorizeForExecution(store), log: msg => log.warn(msg) })
    await resolver.ready
    void shredDeletedSecrets(store, vault).catch(err => log.warn({ err }, 'vault: sweeping deleted secrets failed'))
    app = await buildApp({ config, store, db, schema, tokens, revocations, watcher, health, heartbeats, vault, logger: log })
    if (opts.listen !== false) {
      url = await app.listen({ port: config.port, host: config.host })
      log.info(`API listening on ${url}`)
    }
  }

  return {
    config,
    store,
    app,
    url,
    generatedApiKey,
    log,
    stop: async () => {
      stop.abort()
      await agent?.stop()
      await app?.close()
      revocations.close()
      await resolver?.close()
      health?.stop()
      await Promise.allSettled(running)
      await nc.drain().catch(() => {})
      await database?.close()
    }
  }
}
