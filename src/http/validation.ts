import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { relationshipKeyword } from '../../domain/keywords.ts'

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
  ajv.addKeyword(relationshipKeyword)
  return ajv
}
