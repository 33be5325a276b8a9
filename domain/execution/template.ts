// `{{params.x}}` and `{{vault.x}}` in actions, filled in at run time on the agent.

const PLACEHOLDER = /\{\{\s*(params|vault)\.([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g

/** The text with every placeholder replaced by `by`: to check the shape of a value filled in later. */
export function stubPlaceholders (text: string, by: string): string {
  return text.replace(PLACEHOLDER, by)
}

/** Names of the vault secrets an action refers to. */
export function vaultRefs (value: unknown): string[] {
  const found = new Set<string>()
  walkStrings(value, s => { for (const m of s.matchAll(PLACEHOLDER)) if (m[1] === 'vault') found.add(m[2]) })
  return [...found].sort()
}

/** Fills placeholders in every string of `value`; an unknown name is an error naming it. */
export function render<T> (value: T, ctx: { params: Record<string, unknown>, vault: Record<string, string> }): T {
  return mapStrings(value, s => s.replace(PLACEHOLDER, (_m, kind: string, name: string) => {
    const source: Record<string, unknown> = kind === 'params' ? ctx.params : ctx.vault
    if (!Object.hasOwn(source, name)) throw new Error(`{{${kind}.${name}}} is not defined`)
    const v = source[name]
    return typeof v === 'string' ? v : JSON.stringify(v)
  })) as T
}

function walkStrings (value: unknown, fn: (s: string) => void): void {
  if (typeof value === 'string') fn(value)
  else if (Array.isArray(value)) value.forEach(v => walkStrings(v, fn))
  else if (value != null && typeof value === 'object') Object.values(value).forEach(v => walkStrings(v, fn))
}

function mapStrings (value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === 'string') return fn(value)
  if (Array.isArray(value)) return value.map(v => mapStrings(v, fn))
  if (value != null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]))
  return value
}

/** Replaces every secret value in text by `***` (longest first, so overlapping values are covered). */
export function redact (text: string, secrets: string[]): string {
  let out = text
  for (const s of [...secrets].filter(s => s.length > 0).sort((a, b) => b.length - a.length)) out = out.split(s).join('***')
  return out
}
