// JSON Schemas of API key requests (CONTRACT §2, §12); also the data dictionary's source.
import { SCOPE_PATTERN } from './scopes.ts'

export const QUOTA_PATTERN = '^\\d+(\\.\\d+)?[kKmM]?/(second|minute|hour|day|month)$'

export const rateLimitsSchema = {
  type: 'object',
  description: 'Per-key limits; server defaults apply to what is left out',
  properties: {
    'requests/sec': { type: 'number', exclusiveMinimum: 0, description: 'Sustained requests per second' },
    burst: { type: 'integer', minimum: 1, description: 'Requests allowed at once above the sustained rate' },
    quota: { type: 'string', pattern: QUOTA_PATTERN, description: 'Requests per period, e.g. 10k/day' }
  },
  additionalProperties: false
}

export const apiKeySchema = {
  type: 'object',
  description: 'A credential exchanged for access tokens, with the scopes it grants',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100, description: 'Label for people; need not be unique' },
    scopes: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', pattern: SCOPE_PATTERN },
      description: 'Granted scopes: resource:action, resource:action:glob, or admin'
    },
    rate_limits: rateLimitsSchema,
    id: { type: 'string', readOnly: true, description: 'Key id' },
    created_at: { type: 'string', format: 'date-time', readOnly: true, description: 'When the key was created' },
    revoked_at: { type: 'string', format: 'date-time', readOnly: true, description: 'When the key was revoked; absent while active' },
    api_key: { type: 'string', readOnly: true, description: 'The secret; shown once, in the creation answer' }
  },
  required: ['name', 'scopes'],
  additionalProperties: false
}

/** Properties of `apiKeySchema` the server sets; ignored in request bodies. */
export const API_KEY_READ_ONLY = ['id', 'created_at', 'revoked_at', 'api_key'] as const

export const tokenRequestSchema = {
  type: 'object',
  description: 'Exchange of an API key for an access token',
  properties: {
    api_key: { type: 'string', minLength: 1, maxLength: 500, description: 'The API key secret' }
  },
  required: ['api_key'],
  additionalProperties: false
}
