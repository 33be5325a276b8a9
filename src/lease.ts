import { randomUUID } from 'node:crypto'
import type { NatsConnection } from '@nats-io/transport-node'
import { Kvm, type KV } from '@nats-io/kv'
import { jetstream } from '@nats-io/jetstream'

/**
 * Leases in a NATS KV bucket: whoever creates the key holds it and renews it by revision; the
 * bucket's max age expires a lease whose holder died. One active projector (or engine) per name
 * across every node.
 */
export class Leases {
  readonly holder = randomUUID()
  private constructor (private readonly kv: KV, readonly ttlMs: number) {}

  static async open (nc: NatsConnection, namespace: string, ttlMs: number, replicas = 1): Promise<Leases> {
    // A lease request is useless once a good part of the TTL has passed, and one lost across a
    // NATS reconnect must not keep the lease (and the projector behind it) away for the client's
    // default 5 s after NATS is back: time out well inside the TTL and retry.
    const kvm = new Kvm(jetstream(nc, { timeout: Math.max(500, Math.min(5_000, Math.floor(ttlMs / 2))) }))
    const kv = await kvm.create(`${namespace}_leases`, { ttl: ttlMs, history: 1, replicas })
    return new Leases(kv, ttlMs)
  }

  /**
   * Creates the lease key; or takes it back when it is still ours (a renewal lost in a NATS outage
   * left it behind), instead of waiting for it to expire while nobody runs the work.
   */
  private async acquire (key: string): Promise<number> {
    try {
      return await this.kv.create(key, this.holder)
    } catch (err: any) {
      if (!/wrong last sequence|key exists/i.test(String(err?.message))) throw err
      const entry = await this.kv.get(key)
      if (entry == null || entry.operation !== 'PUT' || entry.string() !== this.holder) throw err
      return await this.kv.update(key, this.holder, entry.revision)
    }
  }

  /**
   * Holds `name` while `run` is active. `run` gets a signal that aborts when the lease is lost;
   * when `run` returns or throws, the lease is released. Resolves when `stop` aborts.
   */
  async hold (name: string, stop: AbortSignal, run: (lost: AbortSignal) => Promise<void>, onError: (err: unknown) => void = () => {}): Promise<void> {
    const key = name.replace(/[^A-Za-z0-9_=-]/g, '_')
    // removes its abort listener when the timer fires: a waiting holder pauses forever, and must
    // not pile up a listener per retry on `stop`
    const pause = async (ms: number): Promise<void> => await new Promise(resolve => {
      const done = (): void => { clearTimeout(t); stop.removeEventListener('abort', done); resolve() }
      const t = setTimeout(done, ms)
      stop.addEventListener('abort', done, { once: true })
    })
    while (!stop.aborted) {
      let revision: number
      try {
        revision = await this.acquire(key)
      } catch (err: any) {
        if (!/wrong last sequence|key exists/i.test(String(err?.message))) onError(err)
        await pause(Math.max(100, this.ttlMs / 4))
        continue
      }
      const lost = new AbortController()
      const onStop = (): void => lost.abort()
      stop.addEventListener('abort', onStop, { once: true })
      const renew = setInterval(() => {
        this.kv.update(key, this.holder, revision).then(r => { revision = r }, () => lost.abort())
      }, Math.max(50, this.ttlMs / 3))
      try {
        await run(lost.signal)
      } catch (err) {
        onError(err)
      } finally {
        clearInterval(renew)
        stop.removeEventListener('abort', onStop)
        await this.kv.delete(key, { previousSeq: revision }).catch(() => {})
      }
      if (!stop.aborted) await pause(100)
    }
  }
}
