import { orchestrationSchema } from '../../domain/orchestration/schemas.ts'
import { apiKeySchema, tokenRequestSchema } from '../../domain/api-key/schemas.ts'
import { EVENT_CATALOGUE } from '../../domain/index.ts'
import { auditEventSchema, auditQuerySchema } from './routes/audit.ts'
import { vaultSecretSchema } from '../../domain/vault/schemas.ts'
import { launchSchema } from '../../domain/execution/schemas.ts'
import { serverSchema, stepRunSchema } from './routes/resource-schemas.ts'

/** JSON Schema words the dictionary passes on as they are. */
const WORDS = ['type', 'const', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength',
  'pattern', 'enum', 'format', 'default', 'readOnly', 'description', 'minItems', 'maxItems', 'uniqueItems', 'relationship']

export type Rules = Record<string, unknown>

/** One field's rules, nested objects and arrays included, from the schema that validates it. */
export function rulesOf (schema: any, required = false): Rules {
  const out: Rules = {}
  for (const w of WORDS) if (schema[w] !== undefined) out[w] = schema[w]
  if (required) out.required = true
  if (schema.properties != null) {
    out.properties = fieldsOf(schema)
    if (schema.additionalProperties === false) out.additionalProperties = false
  } else if (schema.additionalProperties != null && typeof schema.additionalProperties === 'object') {
    out.additionalProperties = rulesOf(schema.additionalProperties)
  }
  if (schema.propertyNames?.pattern != null) out.propertyNames = { pattern: schema.propertyNames.pattern }
  if (schema.items != null) out.items = rulesOf(schema.items)
  if (schema.oneOf != null) out.oneOf = schema.oneOf.map((s: any) => rulesOf(s))
  if (schema.anyOf != null) out.anyOf = schema.anyOf.map((s: any) => rulesOf(s))
  if (schema.discriminator != null) out.discriminator = schema.discriminator
  return out
}

/** field → rules for every property of an object schema. */
export function fieldsOf (schema: any): Record<string, Rules> {
  const required: string[] = schema.required ?? []
  return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, rulesOf(v, required.includes(k))]))
}

export interface Resource {
  name: string
  description: string
  endpoints: string[]
  /** the schema requests are validated with (or, for read-only resources, answers follow) */
  schema: any
  filters?: any
}

export const RESOURCES: Resource[] = [
  {
    name: 'orchestrations',
    description: orchestrationSchema.description,
    endpoints: ['POST /api/v1.0/orchestrations', 'GET /api/v1.0/orchestrations', 'GET /api/v1.0/orchestrations/:name',
      'GET /api/v1.0/orchestrations/:name/versions', 'DELETE /api/v1.0/orchestrations/:name'],
    schema: orchestrationSchema
  },
  {
    name: 'api-keys',
    description: apiKeySchema.description,
    endpoints: ['POST /api/v1.0/api-keys', 'GET /api/v1.0/api-keys', 'GET /api/v1.0/api-keys/:id', 'PATCH /api/v1.0/api-keys/:id', 'DELETE /api/v1.0/api-keys/:id'],
    schema: apiKeySchema
  },
  {
    name: 'tokens',
    description: tokenRequestSchema.description,
    endpoints: ['POST /api/v1.0/auth/token'],
    schema: tokenRequestSchema
  },
  {
    name: 'executions',
    description: launchSchema.description,
    endpoints: ['POST /api/v1.0/launch', 'GET /api/v1.0/executions', 'GET /api/v1.0/executions/:id',
      'GET /api/v1.0/executions/:id/steps/:step_id/output', 'POST /api/v1.0/executions/:id/cancel'],
    schema: launchSchema
  },
  {
    name: 'step-runs',
    description: stepRunSchema.description,
    endpoints: ['GET /api/v1.0/executions/:id'],
    schema: stepRunSchema
  },
  {
    name: 'servers',
    description: serverSchema.description,
    endpoints: ['GET /api/v1.0/servers'],
    schema: serverSchema
  },
  {
    name: 'vault',
    description: vaultSecretSchema.description,
    endpoints: ['POST /api/v1.0/vault', 'GET /api/v1.0/vault', 'GET /api/v1.0/vault/:name', 'DELETE /api/v1.0/vault/:name'],
    schema: vaultSecretSchema
  },
  {
    name: 'audit',
    description: auditEventSchema.description,
    endpoints: ['GET /api/v1.0/audit'],
    schema: auditEventSchema,
    filters: auditQuerySchema
  }
]

/** Every relationship stated anywhere in a resource's rules, with where it is. */
export function relationshipsOf (rules: unknown, path = ''): Array<{ field: string, resource: string, references: string }> {
  if (rules == null || typeof rules !== 'object') return []
  const found: Array<{ field: string, resource: string, references: string }> = []
  const r = rules as Record<string, any>
  if (r.relationship != null) found.push({ field: path, resource: r.relationship.resource, references: r.relationship.field })
  for (const [k, v] of Object.entries(r)) {
    if (k === 'properties') for (const [name, sub] of Object.entries(v as object)) found.push(...relationshipsOf(sub, `${path}/${name}`))
    else if (k === 'items') found.push(...relationshipsOf(v, `${path}/*`))
    else if (k === 'oneOf' || k === 'anyOf') for (const sub of v as unknown[]) found.push(...relationshipsOf(sub, path))
  }
  return found
}

export function dictionaryIndex (base: string): unknown {
  return {
    resources: RESOURCES.map(r => ({
      name: r.name,
      description: r.description,
      href: `${base}/${r.name}`,
      endpoints: r.endpoints,
      relationships: relationshipsOf({ properties: fieldsOf(r.schema) })
    })),
    events: { href: `${base}/events`, description: 'Catalogue of the event types in the log and on the stream' }
  }
}

export function resourceDictionary (name: string): Record<string, Rules> | undefined {
  if (name === 'events') {
    return Object.fromEntries(EVENT_CATALOGUE.map(e => [e.type, { type: 'object', description: e.description, readOnly: true, properties: Object.fromEntries(e.fields.map(f => [f, { readOnly: true }])) }]))
  }
  const r = RESOURCES.find(x => x.name === name)
  return r == null ? undefined : fieldsOf(r.schema)
}
