// Nodes that run executions: a full node (api, projector, engine, agent) plus agent-only nodes in
// the same namespace, with small API helpers to launch and watch runs.
import { pino } from 'pino'
import { jetstreamManager } from '@nats-io/jetstream'
import { loadConfig } from '../../src/config.ts'
import { startNode, type RunningNode } from '../../src/node.ts'
import { connectNats } from '../../src/nats.ts'
import { DATABASE_URL, NATS_URL } from './services.ts'
import { startTestNode, type TestNode } from './node.ts'
import { TERMINAL_EXECUTION, waitFor } from './wait.ts'

/** Fast heartbeats so an agent that stops is offline (and its runs lost) within ~1.5 s. */
export const FAST_AGENT_ENV = { DM_HEARTBEAT_MS: '200', DM_AGENT_TIMEOUT_MS: '1500' }

export interface AgentNode { name: string, node: RunningNode, stop: () => Promise<void> }

/** An agent-only node (`DM_ROLES=agent`) in `namespace`. `stop` is idempotent. */
export async function startAgent (namespace: string, name: string, groups: string[], env: Record<string, string> = {}): Promise<AgentNode> {
  const config = loadConfig({
    DM_NAMESPACE: namespace,
    NATS_URL,
    DATABASE_URL,
    DM_ROLES: 'agent',
    DM_AGENT_NAME: name,
    DM_AGENT_GROUPS: groups.join(','),
    DM_LEASE_TTL_MS: '2000',
    ...FAST_AGENT_ENV,
    ...env
  })
  const node = await startNode(config, { log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) })
  let stopped: Promise<void> | undefined
  return { name, node, stop: async () => { stopped ??= node.stop(); await stopped } }
}

export interface EngineCluster {
  node: TestNode
  agents: AgentNode[]
  /** name of the full node's own agent */
  localAgent: string
  api: (method: string, url: string, body?: unknown, headers?: Record<string, string>) => Promise<{ statusCode: number, headers: Record<string, any>, json: () => any, body: string }>
  /** creates (or re-posts) an orchestration; throws unless 200/201 */
  define: (body: Record<string, unknown>) => Promise<any>
  /** POST /launch; throws unless 202; returns the execution id */
  launch: (body: Record<string, unknown>, headers?: Record<string, string>) => Promise<string>
  /** GET /executions/:id */
  get: (id: string) => Promise<any>
  /** polls GET /executions/:id until the run is terminal */
  finished: (id: string, timeoutMs?: number) => Promise<any>
  /** the step entries of a detail for one step id */
  stepsOf: (detail: any, stepId: string) => any[]
  teardown: () => Promise<void>
}

/**
 * A full node with every role (its own agent is `localAgent`, group `local`) and agent-only nodes
 * for `extra`. Resolves once every agent is registered and online in GET /servers.
 */
export async function startEngineCluster (opts: { localAgent?: string, extra?: Array<{ name: string, groups: string[] }>, env?: Record<string, string> } = {}): Promise<EngineCluster> {
  const localAgent = opts.localAgent ?? 'local-1'
  const node = await startTestNode({
    DM_ROLES: 'api,projector,engine,agent',
    DM_AGENT_NAME: localAgent,
    DM_AGENT_GROUPS: 'local',
    ...FAST_AGENT_ENV,
    ...opts.env
  })
  const agents: AgentNode[] = []
  const teardown = async (): Promise<void> => {
    await Promise.allSettled(agents.map(async a => await a.stop()))
    await node.teardown()
    // the task work queue is not part of the shared namespace teardown
    const nc = await connectNats([NATS_URL], 'teardown-tasks')
    try {
      const jsm = await jetstreamManager(nc)
      await jsm.streams.delete(`${node.namespace}_tasks`).catch(() => {})
    } finally {
      await nc.drain().catch(() => {})
    }
  }
  try {
    for (const a of opts.extra ?? []) agents.push(await startAgent(node.namespace, a.name, a.groups, opts.env))
  } catch (err) {
    await teardown()
    throw err
  }
  const api: EngineCluster['api'] = async (method, url, body, headers) => await node.request({ method, url, body, headers })
  const get = async (id: string): Promise<any> => {
    const res = await api('GET', `/api/v1.0/executions/${id}`)
    if (res.statusCode !== 200) throw new Error(`GET execution ${id}: ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const names = [localAgent, ...agents.map(a => a.name)]
  await waitFor(async () => {
    const res = await api('GET', '/api/v1.0/servers')
    const items: any[] = res.json().items ?? []
    return names.every(n => items.some(s => s.name === n && s.status === 'online'))
  }, { timeoutMs: 10_000, what: `agents ${names.join(', ')} online` })
  return {
    node,
    agents,
    localAgent,
    api,
    define: async body => {
      const res = await api('POST', '/api/v1.0/orchestrations', body)
      if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`define ${String(body.name)}: ${res.statusCode} ${res.body}`)
      return res.json()
    },
    launch: async (body, headers) => {
      const res = await api('POST', '/api/v1.0/launch', body, headers)
      if (res.statusCode !== 202) throw new Error(`launch ${String(body.orchestration_id)}: ${res.statusCode} ${res.body}`)
      return res.json().execution_id
    },
    get,
    finished: async (id, timeoutMs = 15_000) => await waitFor(async () => {
      const d = await get(id)
      return TERMINAL_EXECUTION.includes(d.status) ? d : undefined
    }, { timeoutMs, intervalMs: 100, what: `execution ${id} to finish` }),
    stepsOf: (detail, stepId) => detail.steps.filter((s: any) => s.step_id === stepId),
    teardown
  }
}
