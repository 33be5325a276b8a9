// Custom JSON Schema keywords used by the domain schemas. Plain data, so domain/ stays free of ajv:
// the application passes this to `ajv.addKeyword(...)`.

/**
 * `relationship: {resource, field}` marks a reference to another resource for the data dictionary.
 * It validates nothing at request time (existence is checked by the command handler).
 */
export const relationshipKeyword = {
  keyword: 'relationship',
  metaSchema: {
    type: 'object',
    properties: {
      resource: { type: 'string' },
      field: { type: 'string' }
    },
    required: ['resource', 'field'],
    additionalProperties: false
  }
}
