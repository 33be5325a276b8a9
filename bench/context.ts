import { randomBytes } from 'node:crypto'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Database } from '../src/db.ts'
import type { RssSampler } from './rss.ts'

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/dimensigon_bench'

/** Everything one run owns: streams and schemas named `<namespace>` or `<namespace>_...`. */
export interface BenchContext {
  namespace: string
  nc: NatsConnection
  database: Database
  signal: AbortSignal
  rss: RssSampler
  /** a progress line on stderr */
  progress: (msg: string) => void
}

/** `bench_<hex>`: valid as a Dimensigon namespace, so `<ns>_a` etc. are too. */
export function benchNamespace (): string {
  return 'bench_' + randomBytes(4).toString('hex')
}

/** Sub-namespace of a scenario (its own event stream and schema). */
export function sub (ctx: BenchContext, name: string): string {
  return `${ctx.namespace}_${name}`
}

export function fmtInt (n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

export function aborted (signal: AbortSignal): void {
  if (signal.aborted) throw new Error('interrupted')
}
