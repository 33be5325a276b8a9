import type { EventStore } from '../event-store.ts'

/**
 * Which API keys are revoked, known on every node from the live log (not from Postgres, which may
 * lag): a revocation reaches every node within milliseconds, well inside the promised second.
 * Until it has read the log up to now it is not ready, and requests get 503 rather than a stale
 * answer.
 */
export class Revocations {
  private readonly revoked = new Set<string>()
  private caughtUp = false
  private live = false
  private readonly stop = new AbortController()

  constructor (private readonly store: EventStore, private readonly log: (msg: string) => void = () => {}) {}

  isRevoked (keyId: string): boolean { return this.revoked.has(keyId) }
  /** the revoking node knows at once, before its event comes back round */
  markRevoked (keyId: string): void { this.revoked.add(keyId) }
  get ready (): boolean { return this.caughtUp && this.live }

  start (): void { void this.loop() }
  close (): void { this.stop.abort() }

  private async loop (): Promise<void> {
    const filter = this.store.typeFilter('api_key')
    let from = 1
    while (!this.stop.signal.aborted) {
      try {
        const target = await this.store.lastSeqOf(filter)
        this.live = true
        if (target < from) this.caughtUp = true
        for await (const batch of this.store.readBatches({ fromSeq: from, subject: filter, maxBatch: 256, signal: this.stop.signal })) {
          for (const e of batch) {
            if (e.type === 'api_key.revoked') this.revoked.add((e.data as { id: string }).id)
            from = e.seq + 1
            if (e.seq >= target) this.caughtUp = true
          }
        }
      } catch (err: any) {
        this.live = false
        if (this.stop.signal.aborted) break
        this.log(`revocation feed interrupted (${err?.message ?? err}); resuming`)
        await new Promise(resolve => setTimeout(resolve, 250))
      }
    }
  }
}
