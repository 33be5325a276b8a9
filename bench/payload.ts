import { randomUUID } from 'node:crypto'
import type { DomainEvent } from '../domain/decider.ts'
import type { EventEnvelope } from '../domain/envelope.ts'
import type { AggregateRef, AppendMeta } from '../src/event-store.ts'

export const ACTOR = 'api-key:bench'
const NOW = '2025-01-01T00:00:00.000Z'

/** Aggregate i of a run: a new orchestration per append. */
export function orchestrationRef (i: number): AggregateRef {
  return { type: 'orchestration', id: `bench.deploy-${i.toString(36)}` }
}

/**
 * A realistic `orchestration.version_created`: one shell step, about 300 bytes of
 * JSON in `data` (the envelope around it adds ~330 more).
 */
export function versionCreated (ref: AggregateRef): DomainEvent {
  return {
    type: 'orchestration.version_created',
    data: {
      name: ref.id,
      version: 1,
      definition: {
        description: 'Roll out the web tier',
        params: { tag: 'string' },
        steps: [
          { id: 'pull', kind: 'shell', command: 'docker pull web:{{params.tag}}', target: ['web'] }
        ],
        stop_on_error: true,
        undo_on_error: false
      },
      created_at: NOW,
      created_by: ACTOR
    }
  }
}

export function appendMeta (_i: number): AppendMeta {
  return { commandId: randomUUID(), actor: ACTOR, now: NOW }
}

/** The envelope EventStore.append would publish for event i (its JSON is the log's payload). */
export function envelopeOf (ref: AggregateRef, version: number, event: DomainEvent, commandId: string): EventEnvelope {
  return {
    id: randomUUID(),
    type: event.type,
    schema_version: 1,
    aggregate_type: ref.type,
    aggregate_id: ref.id,
    version,
    timestamp: NOW,
    actor: ACTOR,
    correlation_id: commandId,
    causation_id: null,
    command_id: commandId,
    data: event.data
  }
}

/** Bytes of a typical appended envelope with the ~300-byte data above. */
export function typicalEnvelopeBytes (): { envelope: number, data: number } {
  const ref = orchestrationRef(123_456)
  const event = versionCreated(ref)
  const meta = appendMeta(123_456)
  return {
    envelope: Buffer.byteLength(JSON.stringify(envelopeOf(ref, 1, event, meta.commandId))),
    data: Buffer.byteLength(JSON.stringify(event.data))
  }
}

/** A small event for the rebuild log: a server heartbeat-like fact. */
export function smallEvent (i: number): DomainEvent {
  return { type: 'server.seen', data: { n: i, ok: true } }
}
