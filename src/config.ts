import { hostname, userInfo } from 'node:os'
import { resolve } from 'node:path'

export type Role = 'api' | 'projector' | 'engine' | 'agent'
const ALL_ROLES: Role[] = ['api', 'projector', 'engine', 'agent']

export interface Config {
  port: number
  host: string
  tlsCert?: string
  tlsKey?: string
  natsServers: string[]
  databaseUrl: string
  namespace: string
  roles: Role[]
  bootstrapApiKey?: string
  jwtSecret?: string
  vaultKey?: string
  dataDir: string
  agentName: string
  agentGroups: string[]
  /** JetStream stream replicas: 3 on a 3-node cluster */
  replicas: number
  tokenTtlSeconds: number
  logLevel: string
  /** how long a projector lease lives without renewal */
  leaseTtlMs: number
  heartbeatMs: number
  /** an agent silent this long is offline, and what it was running has failed */
  agentTimeoutMs: number
  agentConcurrency: number
}

/** Namespaces name NATS streams, KV buckets and a Postgres schema, so they must be safe in all three. */
export const NAMESPACE_PATTERN = /^[a-z][a-z0-9_]{0,39}$/

export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const namespace = env.DM_NAMESPACE ?? 'dm'
  if (!NAMESPACE_PATTERN.test(namespace)) {
    throw new Error(`DM_NAMESPACE=${namespace} is not valid: use lower-case letters, digits and _ (starting with a letter, at most 40)`)
  }
  const roles = (env.DM_ROLES ?? ALL_ROLES.join(',')).split(',').map(r => r.trim()).filter(Boolean)
  for (const r of roles) {
    if (!ALL_ROLES.includes(r as Role)) throw new Error(`DM_ROLES contains unknown role "${r}": use a comma list of ${ALL_ROLES.join(',')}`)
  }
  const port = Number(env.DM_PORT ?? 20194)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`DM_PORT=${env.DM_PORT} is not a port number`)
  if ((env.DM_TLS_CERT == null) !== (env.DM_TLS_KEY == null)) throw new Error('set both DM_TLS_CERT and DM_TLS_KEY, or neither')
  return {
    port,
    host: env.DM_HOST ?? '0.0.0.0',
    tlsCert: env.DM_TLS_CERT,
    tlsKey: env.DM_TLS_KEY,
    natsServers: (env.NATS_URL ?? 'nats://127.0.0.1:4222').split(',').map(s => s.trim()).filter(Boolean),
    databaseUrl: env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/dimensigon',
    namespace,
    roles: roles as Role[],
    bootstrapApiKey: env.DM_BOOTSTRAP_API_KEY || undefined,
    jwtSecret: env.DM_JWT_SECRET || undefined,
    vaultKey: env.DM_VAULT_KEY || undefined,
    dataDir: resolve(env.DM_DATA_DIR ?? './.dimensigon'),
    agentName: env.DM_AGENT_NAME ?? hostname(),
    agentGroups: (env.DM_AGENT_GROUPS ?? 'local').split(',').map(s => s.trim()).filter(Boolean),
    replicas: Number(env.DM_STREAM_REPLICAS ?? 1),
    tokenTtlSeconds: Number(env.DM_TOKEN_TTL_S ?? 900),
    logLevel: env.DM_LOG_LEVEL ?? 'info',
    leaseTtlMs: Number(env.DM_LEASE_TTL_MS ?? 10_000),
    heartbeatMs: Number(env.DM_HEARTBEAT_MS ?? 2_000),
    agentTimeoutMs: Number(env.DM_AGENT_TIMEOUT_MS ?? 10_000),
    agentConcurrency: Number(env.DM_AGENT_CONCURRENCY ?? 64)
  }
}

/** `USER` may be unset (CI): pg would then send no user name, so fall back to the OS user. */
export function defaultPgUser (env: NodeJS.ProcessEnv = process.env): string {
  return env.PGUSER ?? env.USER ?? userInfo().username
}
