// One text per value regardless of key order, so two definitions can be compared for equality
// (idempotent re-posts) without caring how the client ordered its JSON.

/** JSON text with object keys sorted at every depth; `undefined` members are dropped as JSON.stringify does. */
export function canonicalJson (value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

function sortKeys (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key]
      if (v !== undefined) out[key] = sortKeys(v)
    }
    return out
  }
  return value
}
