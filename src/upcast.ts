import type { RecordedEvent } from '../domain/envelope.ts'

/**
 * Upcasters turn an event stored with an older data shape into the current one, so deciders and
 * projections only ever see the newest shape. Register one per (type, from-version) when an event's
 * data changes incompatibly; the stored log is never rewritten.
 */
export type Upcaster = (data: any) => unknown

const upcasters = new Map<string, Map<number, Upcaster>>()

export function registerUpcaster (type: string, fromVersion: number, fn: Upcaster): void {
  let byVersion = upcasters.get(type)
  if (byVersion == null) upcasters.set(type, byVersion = new Map())
  byVersion.set(fromVersion, fn)
}

/** The version new events of this type are written with: one past the last upcaster. */
export function currentSchemaVersion (type: string): number {
  const byVersion = upcasters.get(type)
  return byVersion == null ? 1 : Math.max(...byVersion.keys()) + 1
}

export function upcast (event: RecordedEvent): RecordedEvent {
  const byVersion = upcasters.get(event.type)
  if (byVersion == null) return event
  let { data, schema_version: version } = event
  for (let fn = byVersion.get(version); fn != null; fn = byVersion.get(version)) {
    data = fn(data)
    version++
  }
  return { ...event, data, schema_version: version }
}
