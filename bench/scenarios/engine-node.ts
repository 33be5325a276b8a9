// Helpers of the engine scenarios (engine.ts): a full node started in-process in a bench
// sub-namespace, driven through app.inject, and a tap on its event log that records when each
// event was stored (JetStream timestamp, ns) and when this process received it.
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { DeliverPolicy, jetstream } from '@nats-io/jetstream'
import { loadConfig } from '../../src/config.ts'
import { startNode, type RunningNode } from '../../src/node.ts'
import { DATABASE_URL, NATS_URL, type BenchContext } from '../context.ts'

export interface ApiAnswer { statusCode: number, json: () => any, body: string }

export interface BenchNode {
  namespace: string
  node: RunningNode
  agentName: string
  api: (method: string, url: string, body?: unknown) => Promise<ApiAnswer>
  /** POST /orchestrations; throws unless 200/201 */
  define: (body: Record<string, unknown>) => Promise<void>
  /** POST /launch; throws unless 202. `sentAt`/`answeredAt` are performance.now() values */
  launch: (body: Record<string, unknown>) => Promise<{ id: string, sentAt: number, answeredAt: number }>
  stop: () => Promise<void>
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/**
 * One node with every role (api, projector, engine, agent) in `namespace`, API not listening
 * (app.inject), keys given in the environment so nothing is written to disk. Resolves once the
 * API serves, a token of the bootstrap key is at hand and the node's agent is online.
 */
export async function startBenchNode (ctx: BenchContext, namespace: string, agentConcurrency: number): Promise<BenchNode> {
  const secret = randomBytes(24).toString('base64url')
  const agentName = 'bench-agent'
  const config = loadConfig({
    DM_NAMESPACE: namespace,
    NATS_URL,
    DATABASE_URL,
    DM_ROLES: 'api,projector,engine,agent',
    DM_BOOTSTRAP_API_KEY: secret,
    DM_JWT_SECRET: randomBytes(32).toString('base64url'),
    DM_VAULT_KEY: randomBytes(32).toString('hex'),
    DM_DATA_DIR: join(tmpdir(), `dimensigon-${namespace}`),
    DM_PORT: '0',
    DM_HOST: '127.0.0.1',
    DM_AGENT_NAME: agentName,
    DM_AGENT_GROUPS: 'local',
    DM_AGENT_CONCURRENCY: String(agentConcurrency),
    DM_LOG_LEVEL: 'silent'
  })
  const node = await startNode(config, { log: pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' }), listen: false })
  let stopped: Promise<void> | undefined
  const stop = async (): Promise<void> => { stopped ??= node.stop(); await stopped }
  try {
    const app = node.app!
    let token: string | null = null
    const api = async (method: string, url: string, body?: unknown, auth = true): Promise<ApiAnswer> => {
      const res = await app.inject({
        method: method as any,
        url,
        headers: {
          ...(auth && token != null ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {})
        },
        payload: body === undefined ? undefined : JSON.stringify(body)
      })
      return { statusCode: res.statusCode, json: () => res.json(), body: res.body }
    }
    // the revocation feed must be live before authenticated requests are served
    for (let i = 0; i < 400; i++) {
      if (String((await api('GET', '/healthcheck', undefined, false)).json().status).startsWith('ok')) break
      await sleep(25)
    }
    const exchanged = await api('POST', '/api/v1.0/auth/token', { api_key: secret }, false)
    if (exchanged.statusCode !== 200) throw new Error(`token exchange failed: ${exchanged.statusCode} ${exchanged.body}`)
    token = exchanged.json().access_token
    // launch resolves targets from the servers read model: the agent must be projected and online
    const deadline = performance.now() + 20_000
    for (;;) {
      const res = await api('GET', '/api/v1.0/servers')
      if (res.statusCode === 200 && (res.json().items ?? []).some((s: any) => s.name === agentName && s.status === 'online')) break
      if (performance.now() > deadline) throw new Error(`agent ${agentName} not online after 20 s: ${res.statusCode} ${res.body}`)
      if (ctx.signal.aborted) throw new Error('interrupted')
      await sleep(50)
    }
    return {
      namespace,
      node,
      agentName,
      api,
      define: async body => {
        const res = await api('POST', '/api/v1.0/orchestrations', body)
        if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`define ${String(body.name)}: ${res.statusCode} ${res.body.slice(0, 500)}`)
      },
      launch: async body => {
        const sentAt = performance.now()
        const res = await api('POST', '/api/v1.0/launch', body)
        const answeredAt = performance.now()
        if (res.statusCode !== 202) throw new Error(`launch ${String(body.orchestration_id)}: ${res.statusCode} ${res.body.slice(0, 500)}`)
        return { id: res.json().execution_id, sentAt, answeredAt }
      },
      stop
    }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
}

/** One event of the log as the tap saw it. */
export interface TapEvent {
  seq: number
  type: string
  aggregateId: string
  executionId: string | null
  stepId: string | null
  kind: string | null
  /** when JetStream stored it, ns since the epoch */
  storedNs: bigint
  /** performance.now() when this process received it */
  receivedAt: number
  data: any
}

/**
 * An ordered consumer on the node's event log from `fromSeq`, restricted to `filter` (one subject
 * filter: NATS 2.9), keeping every event it reads. `waitFor` resolves with the first event (seen
 * or to come) that matches.
 */
export class EventTap {
  readonly events: TapEvent[] = []
  private readonly waiters = new Set<{ match: (e: TapEvent) => boolean, resolve: (e: TapEvent) => void }>()
  private closeMessages: (() => Promise<void>) | null = null
  private loop: Promise<void> = Promise.resolve()
  private failure: unknown = null

  static async open (ctx: BenchContext, namespace: string, filter: string, fromSeq: number): Promise<EventTap> {
    const tap = new EventTap()
    const js = jetstream(ctx.nc, { timeout: 10_000 })
    const consumer = await js.consumers.get(`${namespace}_events`, {
      filter_subjects: filter,
      deliver_policy: fromSeq <= 1 ? DeliverPolicy.All : DeliverPolicy.StartSequence,
      ...(fromSeq > 1 ? { opt_start_seq: fromSeq } : {})
    })
    const messages = await consumer.consume({ max_messages: 1024 })
    tap.closeMessages = async () => { await messages.close() }
    tap.loop = (async () => {
      try {
        for await (const m of messages) {
          const receivedAt = performance.now()
          const env = m.json<any>()
          const e: TapEvent = {
            seq: m.seq,
            type: env.type,
            aggregateId: env.aggregate_id,
            executionId: env.data?.execution_id ?? null,
            stepId: env.data?.step_id ?? null,
            kind: env.data?.kind ?? null,
            storedNs: m.timestampNanos,
            receivedAt,
            data: env.data
          }
          tap.events.push(e)
          for (const w of tap.waiters) {
            if (w.match(e)) { tap.waiters.delete(w); w.resolve(e) }
          }
        }
      } catch (err) {
        tap.failure = err
      }
    })()
    return tap
  }

  async waitFor (what: string, match: (e: TapEvent) => boolean, opts: { timeoutMs: number, signal: AbortSignal }): Promise<TapEvent> {
    const seen = this.events.find(match)
    if (seen != null) return seen
    return await new Promise<TapEvent>((resolve, reject) => {
      const waiter = { match, resolve: (e: TapEvent) => { done(); resolve(e) } }
      const fail = (msg: string): void => { done(); this.waiters.delete(waiter); reject(new Error(msg)) }
      const timer = setTimeout(() => fail(`${what}: not seen within ${Math.round(opts.timeoutMs / 1000)} s (${this.events.length} events read${this.failure != null ? `; reader failed: ${String(this.failure)}` : ''})`), opts.timeoutMs)
      const onAbort = (): void => fail('interrupted')
      const done = (): void => { clearTimeout(timer); opts.signal.removeEventListener('abort', onAbort) }
      opts.signal.addEventListener('abort', onAbort, { once: true })
      this.waiters.add(waiter)
      if (opts.signal.aborted) onAbort()
    })
  }

  async close (): Promise<void> {
    await this.closeMessages?.().catch(() => {})
    await this.loop
  }
}

/** Nearest-rank percentile of `xs` (any order); NaN when empty. */
export function percentile (xs: number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p / 100 * s.length) - 1))]
}

export function summarize (xs: number[]): { n: number, min: number, p50: number, p90: number, p99: number, max: number, mean: number } {
  const r = (x: number): number => Math.round(x * 1000) / 1000
  return {
    n: xs.length,
    min: r(percentile(xs, 0)),
    p50: r(percentile(xs, 50)),
    p90: r(percentile(xs, 90)),
    p99: r(percentile(xs, 99)),
    max: r(percentile(xs, 100)),
    mean: r(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length))
  }
}

/** ms between two JetStream store timestamps */
export const nsToMs = (later: bigint, earlier: bigint): number => Number(later - earlier) / 1e6
