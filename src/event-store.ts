import { randomUUID } from 'node:crypto'
import type { NatsConnection } from '@nats-io/transport-node'
import {
  jetstream, jetstreamManager, DeliverPolicy, JetStreamApiError, StorageType,
  type JetStreamClient, type JetStreamManager, type JsMsg
} from '@nats-io/jetstream'
import type { DomainEvent } from '../domain/decider.ts'
import type { EventEnvelope, RecordedEvent } from '../domain/envelope.ts'
import { upcast, currentSchemaVersion } from './upcast.ts'

export interface AggregateRef { type: string, id: string }

export interface AppendMeta {
  /** same command id ⇒ appended once, however often it is retried (within the duplicate window) */
  commandId: string
  actor: string
  now: string
  correlationId?: string
  causationId?: string | null
}

export interface LoadedAggregate {
  events: RecordedEvent[]
  version: number
  /** stream sequence of the aggregate's last event, 0 when it has none: the append expectation */
  lastSeq: number
}

export interface AppendResult {
  events: RecordedEvent[]
  /** true when the command had been appended before and nothing new was written */
  duplicate: boolean
  /** the stream sequence of the last event of this command */
  seq: number
}

/** How long a read holds back a partial batch when nothing more arrives. */
const IDLE_FLUSH_MS = 25
const IDLE = Symbol('idle')

/** `p`, or IDLE when it has not settled within `ms` (p keeps running and can be awaited later). */
async function firstOrIdle<T> (p: Promise<T>, ms: number): Promise<T | typeof IDLE> {
  let timer: NodeJS.Timeout | undefined
  const idle = new Promise<typeof IDLE>(resolve => { timer = setTimeout(() => resolve(IDLE), ms) })
  try { return await Promise.race([p, idle]) } finally { clearTimeout(timer) }
}

/** Another writer appended to the aggregate since it was read. */
export class ConcurrencyError extends Error {
  constructor (readonly aggregate: AggregateRef, readonly expectedVersion: number) {
    super(`${aggregate.type} ${aggregate.id} was changed concurrently (expected version ${expectedVersion}); read it again and retry`)
    this.name = 'ConcurrencyError'
  }
}

const WRONG_LAST_SEQUENCE = 10071
const STREAM_NOT_FOUND = 10059
const NO_MESSAGE_FOUND = 10037

/** Subject tokens may not hold '.', '*', '>' or spaces; ids may (orchestration names have dots). */
const PLAIN_TOKEN = /^[A-Za-z0-9_-]+$/

export function encodeToken (id: string): string {
  if (PLAIN_TOKEN.test(id)) return id
  // '~xx' for code units up to 0xff, '~uxxxx' above: fixed widths keep the encoding injective
  return id.replace(/[^A-Za-z0-9_-]/g, c => {
    const code = c.charCodeAt(0)
    return code <= 0xff ? '~' + code.toString(16).padStart(2, '0') : '~u' + code.toString(16).padStart(4, '0')
  })
}

/**
 * A name as a KV key or consumer name, which allow fewer characters than subjects ('~' is not
 * one of them): plain names as they are, any other as '=' + base64url (injective: a plain name
 * never starts with '=').
 */
export function safeName (name: string): string {
  return PLAIN_TOKEN.test(name) ? name : '=' + Buffer.from(name, 'utf8').toString('base64url')
}

/**
 * The event log: one JetStream stream per namespace, one subject per aggregate
 * (`<ns>.events.<aggregate-type>.<id>`). Optimistic concurrency comes from JetStream's
 * expected-last-subject-sequence, deduplication from the message id.
 */
export class EventStore {
  readonly stream: string
  readonly subjectPrefix: string
  private constructor (
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly namespace: string
  ) {
    this.stream = `${namespace}_events`
    this.subjectPrefix = `${namespace}.events`
  }

  static async open (nc: NatsConnection, namespace: string, opts: { replicas?: number, duplicateWindowMs?: number } = {}): Promise<EventStore> {
    const jsm = await jetstreamManager(nc, { timeout: 5_000 })
    const store = new EventStore(nc, jetstream(nc, { timeout: 5_000 }), jsm, namespace)
    const config = {
      name: store.stream,
      subjects: [`${store.subjectPrefix}.>`],
      storage: StorageType.File,
      num_replicas: opts.replicas ?? 1,
      // dedup window in nanoseconds: a retried command within it appends nothing
      duplicate_window: (opts.duplicateWindowMs ?? 10 * 60_000) * 1_000_000
    }
    try {
      await jsm.streams.info(store.stream)
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NOT_FOUND) throw err
      try {
        await jsm.streams.add(config)
      } catch (addErr) {
        // another node created it first
        await jsm.streams.info(store.stream).catch(() => { throw addErr })
      }
    }
    return store
  }

  subject (ref: AggregateRef): string {
    return `${this.subjectPrefix}.${encodeToken(ref.type)}.${encodeToken(ref.id)}`
  }

  /** Sequence of the newest event in the whole log (0 when empty). */
  async lastSeq (): Promise<number> {
    const info = await this.jsm.streams.info(this.stream)
    return info.state.last_seq
  }

  /** Sequence of the newest event on subjects matching `filter` (wildcards allowed), 0 when none. */
  async lastSeqOf (filter: string): Promise<number> {
    const last = await this.jsm.streams.getMessage(this.stream, { last_by_subj: filter }).catch(err => {
      if (err instanceof JetStreamApiError && err.code === NO_MESSAGE_FOUND) return null
      throw err
    })
    return last?.seq ?? 0
  }

  /** Subject filter for every aggregate of one type. */
  typeFilter (aggregateType: string): string {
    return `${this.subjectPrefix}.${encodeToken(aggregateType)}.>`
  }

  async load (ref: AggregateRef): Promise<LoadedAggregate> {
    const subject = this.subject(ref)
    const last = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject }).catch(err => {
      if (err instanceof JetStreamApiError && err.code === NO_MESSAGE_FOUND) return null
      throw err
    })
    if (last == null) return { events: [], version: 0, lastSeq: 0 }
    const events: RecordedEvent[] = []
    for await (const e of this.read({ fromSeq: 1, toSeq: last.seq, subject })) events.push(e)
    return { events, version: events.length === 0 ? 0 : events[events.length - 1].version, lastSeq: last.seq }
  }

  /**
   * Appends a command's events after `expected` (what `load` returned). On NATS 2.9 there is no
   * atomic batch, so each event is published expecting the previous one's sequence: a concurrent
   * writer can only ever make the first one fail. Commands here produce one event in practice.
   */
  async append (ref: AggregateRef, expected: Pick<LoadedAggregate, 'version' | 'lastSeq'>, events: DomainEvent[], meta: AppendMeta): Promise<AppendResult> {
    const subject = this.subject(ref)
    const correlationId = meta.correlationId ?? meta.commandId
    let lastSeq = expected.lastSeq
    let duplicate = false
    const recorded: RecordedEvent[] = []
    for (const [i, event] of events.entries()) {
      const envelope: EventEnvelope = {
        id: randomUUID(),
        type: event.type,
        schema_version: currentSchemaVersion(event.type),
        aggregate_type: ref.type,
        aggregate_id: ref.id,
        version: expected.version + i + 1,
        timestamp: meta.now,
        actor: meta.actor,
        correlation_id: correlationId,
        causation_id: meta.causationId ?? null,
        command_id: meta.commandId,
        data: event.data
      }
      let ack
      try {
        ack = await this.js.publish(subject, JSON.stringify(envelope), {
          msgID: `${meta.commandId}:${i}`,
          expect: { lastSubjectSequence: lastSeq }
        })
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) throw new ConcurrencyError(ref, expected.version)
        throw err
      }
      duplicate ||= ack.duplicate
      lastSeq = ack.seq
      recorded.push({ ...envelope, seq: ack.seq })
    }
    return { events: recorded, duplicate, seq: lastSeq }
  }

  /**
   * Reads the log in order from `fromSeq` (inclusive), optionally limited to one subject filter,
   * up to `toSeq` when given, else forever (live). An ordered consumer: fast and gap-free.
   */
  async * read (opts: { fromSeq: number, toSeq?: number, subject?: string, signal?: AbortSignal }): AsyncGenerator<RecordedEvent> {
    for await (const batch of this.readBatches({ ...opts, maxBatch: 1 })) yield * batch
  }

  /**
   * Like `read`, but hands out what has arrived in batches (up to `maxBatch`), so a projector can
   * write many events in one transaction. Ends at `toSeq`, or never when it is absent.
   */
  async * readBatches (opts: { fromSeq: number, toSeq?: number, subject?: string, maxBatch: number, signal?: AbortSignal }): AsyncGenerator<RecordedEvent[]> {
    const { fromSeq, toSeq, maxBatch, signal } = opts
    const aborted = (): boolean => signal?.aborted === true
    if ((toSeq != null && toSeq < fromSeq) || aborted()) return
    const consumer = await this.js.consumers.get(this.stream, {
      filter_subjects: opts.subject ?? `${this.subjectPrefix}.>`,
      deliver_policy: fromSeq <= 1 ? DeliverPolicy.All : DeliverPolicy.StartSequence,
      ...(fromSeq > 1 ? { opt_start_seq: fromSeq } : {})
    })
    const messages = await consumer.consume({ max_messages: Math.max(256, Math.min(maxBatch * 2, 4096)) })
    const onAbort = (): void => { void messages.close() }
    signal?.addEventListener('abort', onAbort)
    // Aborted while the consumer was being set up: close it and let the loop below end. Never
    // return before iterating: the iterator only finishes closing while it is iterated, so
    // `await messages.close()` on a never-iterated one hangs forever.
    if (aborted()) onAbort()
    let batch: RecordedEvent[] = []
    const it = messages[Symbol.asyncIterator]()
    let next: Promise<IteratorResult<JsMsg>> | null = null
    try {
      for (;;) {
        next ??= it.next()
        // a batch held back waiting for more is handed out anyway once nothing has come for a
        // moment: the pending counts below are hints (NATS 2.9 miscounts), never a reason to stall
        // (no timer while messages wait here: the next one is at hand)
        const waiting = batch.length > 0 && messages.getReceived() === messages.getProcessed()
        const r = waiting ? await firstOrIdle(next, IDLE_FLUSH_MS) : await next
        if (r === IDLE) { yield batch; batch = []; continue }
        next = null
        if (r.done === true || aborted()) break
        const m = r.value
        const event = this.decode(m)
        batch.push(event)
        const done = toSeq != null && event.seq >= toSeq
        // hand the batch out when the server has nothing more and nothing else is buffered here
        // (`info.pending` was the server's count when this message left it: a reader that is
        // behind holds many messages that each say 0, and must not write them one by one)
        let caughtUp = m.info.pending === 0
        // NATS 2.9 may count one message too many for the whole life of a consumer created while
        // events were being appended (seen after a restart): with nothing buffered, ask the server
        // rather than wait for the idle flush (nothing buffered: every message received has been
        // handed to us. Not `getPending()`, which over-counts for as long as the consumer's own
        // refill request sits in its queue). Only when it says 1: a reader far behind must not pay
        // a round trip per refill.
        const buffered = messages.getReceived() - messages.getProcessed()
        if (!caughtUp && !done && buffered === 0 && m.info.pending === 1) caughtUp = await consumer.info().then(i => i.num_pending === 0, () => true)
        if (done || batch.length >= maxBatch || (caughtUp && buffered === 0)) {
          yield batch
          batch = []
        }
        if (done) break
      }
    } finally {
      signal?.removeEventListener('abort', onAbort)
      const closing = messages.close()
      // the iterator only finishes closing while it is iterated: let a pending read end, then end it
      if (next != null) await next.catch(() => {})
      await it.return?.(undefined)
      await closing
    }
  }

  private decode (m: JsMsg): RecordedEvent {
    const envelope = m.json<EventEnvelope>()
    return upcast({ ...envelope, seq: m.seq })
  }
}
