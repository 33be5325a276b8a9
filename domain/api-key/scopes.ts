// The permission model of CONTRACT §2: `resource:action`, optionally narrowed by a name glob
// (`executions:launch:deploy-*`), or `admin` for everything.

export const SCOPES = [
  'orchestrations:read',
  'orchestrations:write',
  'executions:read',
  'executions:launch',
  'executions:cancel',
  'vault:read',
  'vault:write',
  'webhooks:manage',
  'api-keys:manage',
  'audit:read',
  'servers:read',
  'admin'
] as const

export type Scope = typeof SCOPES[number]

/** Characters a name glob may use: those of resource names plus `*` and `?`. */
export const GLOB_PATTERN = '[A-Za-z0-9._*?-]+'

/**
 * A granted scope string, as a JSON Schema `pattern` (ajv compiles it with the `u` flag).
 * Only known `resource:action` pairs are accepted, since an enum cannot express the glob suffix.
 */
export const SCOPE_PATTERN =
  `^(?:admin|(?:${SCOPES.filter(s => s !== 'admin').join('|')})(?::${GLOB_PATTERN})?)$`

/** `*` matches any run of characters (also none), `?` exactly one; everything else is literal. */
export function globToRegExp (glob: string): RegExp {
  const body = [...glob].map(c =>
    c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  ).join('')
  return new RegExp(`^${body}$`, 's')
}

/** Splits `x:y:glob` into the `x:y` it is about and its glob (undefined when unrestricted). */
function parse (scope: string): { base: string, glob?: string } {
  const [resource, action, ...rest] = scope.split(':')
  return { base: `${resource}:${action}`, glob: rest.length > 0 ? rest.join(':') : undefined }
}

/**
 * Whether `granted` allows `needed` (e.g. `executions:launch`) on `resourceName`. A glob-narrowed
 * scope only grants when the name is known and matches; for lists without a name use nameFilter.
 */
export function grants (granted: readonly string[], needed: string, resourceName?: string): boolean {
  return granted.some(scope => {
    if (scope === 'admin') return true
    const { base, glob } = parse(scope)
    if (base !== needed) return false
    if (glob === undefined) return true
    return resourceName !== undefined && globToRegExp(glob).test(resourceName)
  })
}

/**
 * For list operations: null when `needed` is not granted at all (403), otherwise a predicate
 * telling which resource names the caller may see.
 */
export function nameFilter (granted: readonly string[], needed: string): ((name: string) => boolean) | null {
  const globs: RegExp[] = []
  for (const scope of granted) {
    if (scope === 'admin') return () => true
    const { base, glob } = parse(scope)
    if (base !== needed) continue
    if (glob === undefined) return () => true
    globs.push(globToRegExp(glob))
  }
  if (globs.length === 0) return null
  return name => globs.some(re => re.test(name))
}
