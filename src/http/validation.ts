import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { relationshipKeyword } from '../../domain/keywords.ts'
import { stubPlaceholders } from '../../domain/execution/template.ts'
import type { Problem } from '../../domain/decider.ts'

/**
 * The one ajv instance: it validates every request, and the data dictionary is generated from the
 * same schemas, so what the dictionary states is what is enforced.
 */
export function createAjv (opts: { forQueryString?: boolean } = {}): Ajv {
  // bodies are JSON and validated as sent; query strings and path params are text, so they are
  // coerced to the schema's types and get its defaults
  const text = opts.forQueryString === true
  const ajv = new Ajv({ allErrors: true, discriminator: true, useDefaults: text, strict: true, coerceTypes: text, removeAdditional: false })
  ;(addFormats as any).default != null ? (addFormats as any).default(ajv) : (addFormats as any)(ajv)
  // RFC 3339 admits leap seconds (23:59:60) that Date cannot represent: a time the server cannot
  // compare with is invalid input (400), not a failing query
  const rfc3339 = ajv.formats['date-time'] as { validate: (s: string) => boolean, compare?: (a: string, b: string) => number | undefined }
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => rfc3339.validate(s) && !Number.isNaN(Date.parse(s)), compare: rfc3339.compare })
  // an http action's url may hold `{{params.x}}` / `{{vault.x}}` (filled in at run time): it must
  // be a URI once they are, so they stand for a plain word (a leading one for scheme and host)
  const uri = ajv.formats.uri as (s: string) => boolean
  ajv.addFormat('uri', {
    type: 'string',
    validate: (s: string) => {
      if (uri(s)) return true
      const stubbed = stubPlaceholders(s, 'x')
      return stubbed !== s && (uri(stubbed) || (/^\{\{/.test(s.trim()) && uri(`http://${stubbed}`)))
    }
  })
  ajv.addKeyword(relationshipKeyword)
  return ajv
}

/** Deeper JSON than this is refused: no definition needs it, and deep values overflow the stack. */
export const MAX_INPUT_DEPTH = 64

/**
 * What no schema can say about any input: nesting deeper than MAX_INPUT_DEPTH, and U+0000 in a
 * string or key, which Postgres cannot store (it would stop the read models forever). Returns the
 * first problem found, or undefined. Iterative, so hostile input cannot overflow the stack.
 */
export function inputProblem (value: unknown, prefix = ''): Problem | undefined {
  const stack: Array<{ v: unknown, path: string, depth: number }> = [{ v: value, path: prefix, depth: 0 }]
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return { path, message: 'must not contain the NUL character (U+0000)' }
      continue
    }
    if (v == null || typeof v !== 'object') continue
    if (depth >= MAX_INPUT_DEPTH) return { path, message: `is nested deeper than ${MAX_INPUT_DEPTH} levels` }
    for (const [k, child] of Object.entries(v)) {
      const childPath = `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`
      if (k.includes('\u0000')) return { path: childPath, message: 'the key must not contain the NUL character (U+0000)' }
      stack.push({ v: child, path: childPath, depth: depth + 1 })
    }
  }
  return undefined
}
