import type { NatsConnection } from '@nats-io/transport-node'
import { sql, type Kysely } from 'kysely'

/**
 * What this node knows about its dependencies. NATS tells us itself (status events); Postgres is
 * probed every second. While either is down the API answers 503 with Retry-After, and it recovers
 * on its own when they are back.
 */
export class Health {
  nats = true
  postgres = true
  private timer?: NodeJS.Timeout
  private stopped = false

  constructor (private readonly nc: NatsConnection, private readonly db: Kysely<any>, private readonly log: (msg: string) => void = () => {}) {}

  start (): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect' || s.type === 'close') this.setNats(false)
        else if (s.type === 'reconnect') this.setNats(true)
      }
    })()
    const probe = async (): Promise<void> => {
      await this.probePostgres()
      if (!this.stopped) this.timer = setTimeout(() => { void probe() }, 1_000)
    }
    void probe()
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
  }

  get ok (): boolean { return this.nats && this.postgres }

  async probePostgres (): Promise<boolean> {
    try {
      await sql`SELECT 1`.execute(this.db)
      this.setPostgres(true)
    } catch {
      this.setPostgres(false)
    }
    return this.postgres
  }

  private setNats (up: boolean): void {
    if (up !== this.nats) this.log(up ? 'NATS is reachable again' : 'NATS connection lost; answering 503 until it is back')
    this.nats = up
  }

  private setPostgres (up: boolean): void {
    if (up !== this.postgres) this.log(up ? 'Postgres is reachable again' : 'Postgres is unreachable; answering 503 until it is back')
    this.postgres = up
  }
}
