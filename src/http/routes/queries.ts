/** Query string of every list route: page size and the cursor from the previous page. */
export const listQuerySchema = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50, description: 'Items per page' },
    cursor: { type: 'string', maxLength: 2000, description: 'next_cursor of the previous page' }
  }
}

/** Query strings arrive as text; these schemas say which words are numbers or booleans. */
export function withListQuery (properties: Record<string, unknown>): Record<string, unknown> {
  return { type: 'object', properties: { ...listQuerySchema.properties, ...properties } }
}
