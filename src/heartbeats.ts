import type { NatsConnection } from '@nats-io/transport-node'
import { Kvm, type KV } from '@nats-io/kv'
import { encodeToken } from './event-store.ts'

export interface Beat { server: string, instance: string, at: number }

/**
 * Agent liveness in a KV bucket (not the log: heartbeats would flood it). Readers keep a live copy
 * through a watch, so asking "is web-1 alive?" costs nothing.
 */
export class Heartbeats {
  private readonly beats = new Map<string, Beat>()
  private watching = false
  private constructor (private readonly kv: KV, readonly intervalMs: number, readonly timeoutMs: number) {}

  static async open (nc: NatsConnection, namespace: string, opts: { intervalMs: number, timeoutMs: number, replicas?: number }): Promise<Heartbeats> {
    const kv = await new Kvm(nc).create(`${namespace}_heartbeats`, { history: 1, replicas: opts.replicas ?? 1 })
    return new Heartbeats(kv, opts.intervalMs, opts.timeoutMs)
  }

  async beat (server: string, instance: string): Promise<void> {
    await this.kv.put(encodeToken(server), JSON.stringify({ server, instance, at: Date.now() }))
  }

  async watch (): Promise<void> {
    if (this.watching) return
    this.watching = true
    const iter = await this.kv.watch({ key: '>' })
    let ready: () => void = () => {}
    const initial = new Promise<void>(resolve => { ready = resolve })
    void (async () => {
      for await (const e of iter) {
        if (e.operation === 'PUT') {
          const beat = e.json<Beat>()
          this.beats.set(beat.server, beat)
        }
        if (e.delta === 0) ready()
      }
    })()
    // an empty bucket has no initial entries to signal the end of the initial values
    const keys = await this.kv.keys()
    let any = false
    for await (const _k of keys) { any = true; break }
    if (!any) ready()
    await initial
  }

  last (server: string): Beat | undefined { return this.beats.get(server) }

  isAlive (server: string, instance?: string, now = Date.now()): boolean {
    const b = this.beats.get(server)
    return b != null && now - b.at <= this.timeoutMs && (instance == null || b.instance === instance)
  }
}
