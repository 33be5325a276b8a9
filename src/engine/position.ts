import type { NatsConnection } from '@nats-io/transport-node'
import { Kvm, type KV } from '@nats-io/kv'

const KEY = 'replay_from'

/**
 * Where a starting engine begins to read the log: the launch of the oldest execution it still
 * follows, or past everything when it follows none. Kept in a KV bucket (not the log: it changes
 * all the time and is only a shortcut — losing it means reading from the start, which is correct,
 * only slower). Without it every start would read the whole history.
 */
export class EnginePosition {
  private constructor (private readonly kv: KV) {}

  static async open (nc: NatsConnection, namespace: string, replicas = 1): Promise<EnginePosition> {
    return new EnginePosition(await new Kvm(nc).create(`${namespace}_engine`, { history: 1, replicas }))
  }

  async load (): Promise<number> {
    const entry = await this.kv.get(KEY)
    const seq = entry?.operation === 'PUT' ? Number(entry.string()) : NaN
    return Number.isSafeInteger(seq) && seq >= 1 ? seq : 1
  }

  async save (seq: number): Promise<void> {
    await this.kv.put(KEY, String(seq))
  }
}
