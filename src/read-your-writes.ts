import type { Kysely } from 'kysely'
import { CHECKPOINTS } from '../projections/runtime.ts'

/**
 * Lets a request wait until every read model has applied a given log position, so a client reading
 * after its own write sees it, on any node: positions come from the checkpoints in Postgres (one
 * shared poll for all waiters), or at once from projectors running in this process.
 */
export class ProjectionWatcher {
  private readonly positions = new Map<string, number>()
  private waiters: Array<{ seq: number, resolve: (ok: boolean) => void, timer: NodeJS.Timeout }> = []
  private polling = false

  constructor (private readonly db: Kysely<any>, private readonly schema: string, private readonly names: string[]) {}

  /** the lowest position over all read models */
  get position (): number {
    return Math.min(...this.names.map(n => this.positions.get(n) ?? 0))
  }

  /** called by local projectors after each committed batch */
  advance (name: string, seq: number): void {
    if (seq > (this.positions.get(name) ?? 0)) this.positions.set(name, seq)
    this.settle()
  }

  async refresh (): Promise<number> {
    const rows = await this.db.withSchema(this.schema).selectFrom(CHECKPOINTS).select(['projection', 'seq']).execute()
    for (const r of rows) this.advance(r.projection, r.seq)
    return this.position
  }

  /** Resolves true once every read model is at `seq`, false after `timeoutMs`. */
  async waitFor (seq: number, timeoutMs = 5_000): Promise<boolean> {
    if (this.position >= seq) return true
    const done = new Promise<boolean>(resolve => {
      const waiter = {
        seq,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter(w => w !== waiter)
          resolve(false)
        }, timeoutMs)
      }
      this.waiters.push(waiter)
    })
    void this.poll()
    return await done
  }

  private settle (): void {
    const at = this.position
    if (this.waiters.length === 0) return
    this.waiters = this.waiters.filter(w => {
      if (w.seq > at) return true
      clearTimeout(w.timer)
      w.resolve(true)
      return false
    })
  }

  private async poll (): Promise<void> {
    if (this.polling) return
    this.polling = true
    try {
      while (this.waiters.length > 0) {
        await this.refresh().catch(() => {})
        if (this.waiters.length > 0) await new Promise(resolve => setTimeout(resolve, 5))
      }
    } finally {
      this.polling = false
    }
  }
}
