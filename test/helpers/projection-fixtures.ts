// Shared by the projector and rebuild specifications: a writer that keeps each aggregate's
// expectation, a deterministic mix of every event the read models know, and polling helpers.
import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { AggregateRef, EventStore } from '../../src/event-store.ts'
import type { DomainEvent } from '../../domain/decider.ts'
import type { RecordedEvent } from '../../domain/envelope.ts'
import type { Projection } from '../../projections/index.ts'
import { readCheckpoint } from '../../projections/runtime.ts'

// ---------------------------------------------------------------------------------------------
// helpers

export const T0 = Date.parse('2025-03-12T14:00:00.000Z')
export const at = (n: number): string => new Date(T0 + n * 1000).toISOString()

/**
 * Appends events and remembers each aggregate's expectation, so no load is needed. Appends are
 * queued in call order, so several scenarios may write at once without racing each other.
 */
export class Writer {
  private readonly expect = new Map<string, { version: number, lastSeq: number }>()
  private tail: Promise<unknown> = Promise.resolve()
  n = 0
  constructor (readonly store: EventStore) {}
  async append (ref: AggregateRef, event: DomainEvent, actor = 'tester'): Promise<RecordedEvent> {
    const run = async (): Promise<RecordedEvent> => {
      const key = `${ref.type}/${ref.id}`
      const expected = this.expect.get(key) ?? { version: 0, lastSeq: 0 }
      const res = await this.store.append(ref, expected, [event], { commandId: randomUUID(), actor, now: at(this.n++) })
      this.expect.set(key, { version: expected.version + 1, lastSeq: res.seq })
      return res.events[0]
    }
    const result = this.tail.then(run, run)
    this.tail = result.catch(() => {})
    return await result
  }
}

export const definition = (name: string, version: number): unknown => ({
  description: `${name} v${version}`,
  stop_on_error: true,
  steps: [
    { id: 'build', action: { type: 'shell', command: `make v${version}` } },
    { id: 'ship', after: ['build'], target: ['web-1', 'web-2'], action: { type: 'http', method: 'POST', url: 'http://x/ship' } },
    ...(version % 2 === 0 ? [{ id: 'smoke', after: ['ship'], action: { type: 'shell', command: 'curl' } }] : [])
  ]
})

export interface Expected { orchestrations: Map<string, { latest: number, archived: boolean }>, keys: Map<string, { revoked: boolean }> }

/** A deterministic mix of every event the three read models know, plus some only audit keeps. */
export async function appendMixed (w: Writer, count: number, exp: Expected, tag = 'm'): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = []
  for (let k = 0; k < count; k++) {
    const names = [...exp.orchestrations.keys()]
    const live = names.filter(n => !exp.orchestrations.get(n)!.archived)
    const keys = [...exp.keys.keys()].filter(id => !exp.keys.get(id)!.revoked)
    const when = at(w.n)
    switch (k % 6) {
      case 0: {
        const name = `${tag}.deploy-${names.length}`
        exp.orchestrations.set(name, { latest: 1, archived: false })
        out.push(await w.append({ type: 'orchestration', id: name }, {
          type: 'orchestration.version_created',
          data: { name, version: 1, definition: definition(name, 1), created_at: when, created_by: 'alice' }
        }, 'alice'))
        break
      }
      case 1:
      case 4: {
        if (live.length === 0) continue
        const name = live[k % live.length]
        const o = exp.orchestrations.get(name)!
        o.latest++
        out.push(await w.append({ type: 'orchestration', id: name }, {
          type: 'orchestration.version_created',
          data: { name, version: o.latest, definition: definition(name, o.latest), created_at: when, created_by: 'bob' }
        }, 'bob'))
        break
      }
      case 2: {
        const id = `${tag}-key-${exp.keys.size}`
        exp.keys.set(id, { revoked: false })
        out.push(await w.append({ type: 'api_key', id }, {
          type: 'api_key.created',
          data: { id, name: `key ${id}`, scopes: ['orchestrations:read', 'executions:write'], rate_limits: k % 4 === 0 ? null : { quota: '10k/day' }, secret_hash: `hash-${id}`, created_at: when, created_by: 'alice' }
        }, 'alice'))
        break
      }
      case 3: {
        if (keys.length > 2 && k % 4 === 3) {
          const id = keys[0]
          exp.keys.get(id)!.revoked = true
          out.push(await w.append({ type: 'api_key', id }, { type: 'api_key.revoked', data: { id, revoked_at: when, revoked_by: 'root' } }, 'root'))
        } else {
          out.push(await w.append({ type: 'probe', id: `probe ${k % 3}` }, { type: 'probe.pinged', data: { k, token: 'secret-token' } }, 'agent'))
        }
        break
      }
      case 5: {
        if (live.length > 3 && k % 12 === 5) {
          const name = live[1]
          exp.orchestrations.get(name)!.archived = true
          out.push(await w.append({ type: 'orchestration', id: name }, { type: 'orchestration.archived', data: { name, archived_at: when, archived_by: 'root' } }, 'root'))
        } else {
          out.push(await w.append({ type: 'probe', id: `probe ${k % 3}` }, { type: 'probe.pinged', data: { k } }, 'agent'))
        }
        break
      }
    }
  }
  return out
}

export const newExpected = (): Expected => ({ orchestrations: new Map(), keys: new Map() })

export async function until (what: string, cond: () => Promise<boolean>, ms = 10_000, progress = (): string => ''): Promise<void> {
  const deadline = Date.now() + ms
  // a table that does not exist yet (the projector is still migrating) counts as "not yet"
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${progress()}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

export async function caughtUp (store: EventStore, db: Kysely<any>, s: string, projections: Projection[]): Promise<void> {
  const last = await store.lastSeq()
  const at: Record<string, number> = {}
  await until(`${s} to reach seq ${last}`, async () => {
    for (const p of projections) at[p.name] = await readCheckpoint(db, s, p.name)
    return projections.every(p => at[p.name] >= last)
  }, 20_000, () => JSON.stringify(at))
}
