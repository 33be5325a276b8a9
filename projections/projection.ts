import type { Kysely, Migration } from 'kysely'
import type { RecordedEvent } from '../domain/envelope.ts'

/**
 * A read model: the tables it owns (created by its kysely migrations) and how a batch of events
 * changes them. `apply` gets a transaction already scoped to the schema it writes (the live one,
 * or a fresh one during a rebuild), so the same code builds both.
 */
export interface Projection {
  name: string
  tables: string[]
  migrations: Record<string, Migration>
  apply: (trx: Kysely<any>, events: RecordedEvent[]) => Promise<void>
}

/** Where a projector reads the log from: the event store, seen through what projections need. */
export interface EventSource {
  lastSeq: () => Promise<number>
  readBatches: (opts: { fromSeq: number, toSeq?: number, maxBatch: number, signal?: AbortSignal }) => AsyncIterable<RecordedEvent[]>
}
