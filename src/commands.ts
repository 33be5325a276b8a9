import type { Decider, DomainEvent } from '../domain/decider.ts'
import type { RecordedEvent } from '../domain/envelope.ts'
import { fold } from '../domain/decider.ts'
import type { CommandMeta } from '../domain/command.ts'
import type { AggregateRef, EventStore } from './event-store.ts'

/** A command as callers write it: its meta (time, actor) is filled in from the context. */
export type WithoutMeta<C> = C extends unknown ? Omit<C, 'meta'> : never

export interface CommandContext {
  commandId: string
  actor: string
  now: string
  correlationId?: string
}

export interface CommandOutcome<S> {
  state: S
  /** what this command appended (empty when it was a no-op or a retried duplicate) */
  events: RecordedEvent[]
  /** the log position a reader must have seen to observe this command's effect */
  seq: number
  appended: boolean
}

/**
 * The one way a command changes anything: read the aggregate, let the pure decider judge, append
 * what it decided with the version it read as the expectation. A concurrent writer makes the
 * append fail with ConcurrencyError (409) instead of silently overwriting.
 */
export async function handleCommand<S, C extends { meta: CommandMeta }, E extends DomainEvent> (
  store: EventStore, decider: Decider<S, C, E>, ref: AggregateRef, command: WithoutMeta<C>, ctx: CommandContext
): Promise<CommandOutcome<S>> {
  const loaded = await store.load(ref)
  const state = fold(decider, loaded.events as unknown as E[])
  const decided = decider.decide(state, { ...command, meta: { now: ctx.now, actor: ctx.actor } } as unknown as C)
  if (decided.length === 0) return { state, events: [], seq: loaded.lastSeq, appended: false }
  const result = await store.append(ref, loaded, decided, ctx)
  const after = fold(decider, decided, state)
  return { state: after, events: result.events, seq: result.seq, appended: !result.duplicate }
}
