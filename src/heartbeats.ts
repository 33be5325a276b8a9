import type { NatsConnection } from '@nats-io/transport-node'
import { Kvm, type KV } from '@nats-io/kv'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { safeName } from './event-store.ts'

export interface Beat { server: string, instance: string, at: number }

/**
 * Agent liveness in a KV bucket (not the log: heartbeats would flood it). Readers keep a live copy
 * through a watch, so asking "is web-1 alive?" costs nothing.
 */
export class Heartbeats {
  private readonly beats = new Map<string, Beat>()
  private watching = false
  private constructor (private readonly kv: KV, private readonly jsm: JetStreamManager, readonly intervalMs: number, readonly timeoutMs: number) {}

  static async open (nc: NatsConnection, namespace: string, opts: { intervalMs: number, timeoutMs: number, replicas?: number }): Promise<Heartbeats> {
    const kv = await new Kvm(nc).create(`${namespace}_heartbeats`, { history: 1, replicas: opts.replicas ?? 1 })
    return new Heartbeats(kv, await jetstreamManager(nc), opts.intervalMs, opts.timeoutMs)
  }

  async beat (server: string, instance: string): Promise<void> {
    await this.kv.put(safeName(server), JSON.stringify({ server, instance, at: Date.now() }))
  }

  async watch (): Promise<void> {
    if (this.watching) return
    this.watching = true
    // The watch's own "initial values done" signals (`delta`, `isUpdate`) come from a pending count
    // that NATS 2.9 can get wrong by one for a watch created while agents are beating: waiting for
    // them hung node starts. So: ask the server which keys exist now, and be ready once the watch
    // has delivered each of them (as its value then, or anything written to it since).
    const status = await this.kv.status()
    const info = await this.jsm.streams.info(status.streamInfo.config.name, { subjects_filter: '>' })
    const prefix = `$KV.${status.bucket}.`
    const unseen = new Set(Object.keys(info.state.subjects ?? {}).map(subject => subject.slice(prefix.length)))
    const iter = await this.kv.watch({ key: '>' })
    let ready: () => void = () => {}
    const initial = new Promise<void>(resolve => { ready = resolve })
    if (unseen.size === 0) ready()
    void (async () => {
      for await (const e of iter) {
        if (e.operation === 'PUT') {
          const beat = e.json<Beat>()
          this.beats.set(beat.server, beat)
        }
        if (unseen.delete(e.key) && unseen.size === 0) ready()
      }
    })()
    await initial
  }

  last (server: string): Beat | undefined { return this.beats.get(server) }

  isAlive (server: string, instance?: string, now = Date.now()): boolean {
    const b = this.beats.get(server)
    return b != null && now - b.at <= this.timeoutMs && (instance == null || b.instance === instance)
  }
}
